#pragma once
// Distinct 32-byte identifier types (model: Bitcoin Core transaction_identifier.h). A Txid can
// not be compared with or assigned from a Wtxid or BlockHash; the compiler refuses.
// Bytes are kept in serialization order; ToString()/FromHex() use RPC display order (reversed).

#include "util/uint256.h"

#include <functional>
#include <optional>
#include <string>
#include <type_traits>

namespace vw {

template <typename Tag>
class HashId
{
public:
    HashId() = default;
    static HashId FromUint256(const Uint256& u) { HashId h; h.m_hash = u; return h; }
    //! Parses the 64-char display (byte-reversed) form used by bitcoind RPC and ZMQ hash topics.
    static std::optional<HashId> FromHex(std::string_view display_hex)
    {
        auto u = Uint256::FromHex(display_hex);
        if (!u) return std::nullopt;
        std::reverse(u->bytes.begin(), u->bytes.end());
        return FromUint256(*u);
    }
    //! Returns: display (byte-reversed) hex, as bitcoind prints it.
    std::string ToString() const
    {
        Uint256 r = m_hash;
        std::reverse(r.bytes.begin(), r.bytes.end());
        return r.Hex();
    }
    const Uint256& ToUint256() const { return m_hash; }
    ByteSpan span() const { return m_hash.span(); }
    bool IsNull() const { return m_hash.IsNull(); }

    friend auto operator<=>(const HashId&, const HashId&) = default;
    friend bool operator==(const HashId&, const HashId&) = default;
    template <typename Other>
    bool operator==(const Other&) const
    {
        static_assert(std::is_same_v<Other, HashId>, "comparing different id types is a bug");
        return false;
    }

private:
    Uint256 m_hash;
};

struct TxidTag {};
struct WtxidTag {};
struct BlockHashTag {};
using Txid = HashId<TxidTag>;
using Wtxid = HashId<WtxidTag>;
using BlockHash = HashId<BlockHashTag>;

struct HashIdHasher {
    template <typename Tag>
    size_t operator()(const HashId<Tag>& h) const { return static_cast<size_t>(h.ToUint256().Cheap64()); }
};

} // namespace vw
