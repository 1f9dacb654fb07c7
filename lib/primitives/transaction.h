#pragma once
// Transactions: an immutable, parsed Transaction with cached txid/wtxid, and a
// MutableTransaction for building recovery transactions (model: Core CTransaction /
// CMutableTransaction). Decoding never throws and returns a typed error for every bad input.

#include "primitives/amount.h"
#include "primitives/hash_types.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/serialize.h"

#include <compare>
#include <string_view>
#include <vector>

namespace vw {

struct OutPoint {
    Txid txid;
    uint32_t n{0};
    friend auto operator<=>(const OutPoint&, const OutPoint&) = default;
    friend bool operator==(const OutPoint&, const OutPoint&) = default;
    bool IsNull() const { return txid.IsNull() && n == 0xffffffff; }
};

struct OutPointHasher {
    size_t operator()(const OutPoint& o) const
    {
        return static_cast<size_t>(o.txid.ToUint256().Cheap64() ^ (uint64_t{o.n} * 0x9e3779b97f4a7c15ULL));
    }
};

struct TxIn {
    OutPoint prevout;
    Bytes script_sig;
    uint32_t sequence{0xffffffff};
    std::vector<Bytes> witness;
    friend bool operator==(const TxIn&, const TxIn&) = default;
};

struct TxOut {
    Amount value;
    Bytes script_pubkey;
    friend bool operator==(const TxOut&, const TxOut&) = default;
};

struct MutableTransaction {
    int32_t version{2};
    std::vector<TxIn> vin;
    std::vector<TxOut> vout;
    uint32_t locktime{0};
    bool HasWitness() const;
    friend bool operator==(const MutableTransaction&, const MutableTransaction&) = default;
};

enum class TxParseError {
    Truncated,            //!< ran out of bytes
    TrailingBytes,        //!< bytes left after a complete transaction
    BadCompactSize,       //!< non-canonical or oversized CompactSize
    UnknownOptionalData,  //!< segwit flag byte other than 1
    SuperfluousWitness,   //!< segwit flag set but every witness empty
    TooManyItems,         //!< an item count larger than the bytes could possibly hold
};
std::string_view ToString(TxParseError e);

class Transaction
{
public:
    explicit Transaction(MutableTransaction mtx);

    int32_t version() const { return m_tx.version; }
    uint32_t locktime() const { return m_tx.locktime; }
    const std::vector<TxIn>& vin() const { return m_tx.vin; }
    const std::vector<TxOut>& vout() const { return m_tx.vout; }
    const MutableTransaction& mutable_copy() const { return m_tx; }
    bool HasWitness() const { return m_tx.HasWitness(); }
    bool IsCoinBase() const { return m_tx.vin.size() == 1 && m_tx.vin[0].prevout.IsNull(); }

    const Txid& GetTxid() const { return m_txid; }
    //! Computed on each call (hashes the whole serialization): the scanning and following paths
    //! never need it, so the constructor does not pay for it.
    Wtxid GetWtxid() const;
    //! Returns: serialized size without witness (stripped) and with.
    size_t BaseSize() const { return m_base_size; }
    size_t TotalSize() const { return m_total_size; }
    //! Returns: BIP-141 weight and virtual size (rounded up).
    size_t Weight() const { return m_base_size * 3 + m_total_size; }
    size_t VSize() const { return (Weight() + 3) / 4; }

private:
    MutableTransaction m_tx;
    Txid m_txid;
    size_t m_base_size{0};
    size_t m_total_size{0};
};

//! Serializes a transaction; with_witness=false gives the txid preimage.
void SerializeTransaction(const MutableTransaction& tx, Writer& w, bool with_witness = true);
Bytes SerializeTransaction(const MutableTransaction& tx, bool with_witness = true);
inline Bytes SerializeTransaction(const Transaction& tx, bool with_witness = true)
{
    return SerializeTransaction(tx.mutable_copy(), with_witness);
}
//! Returns: the txid a MutableTransaction would have.
Txid ComputeTxid(const MutableTransaction& tx);

//! Reads one transaction from the reader (as inside a block); leaves the reader after it.
Expected<MutableTransaction, TxParseError> ReadTransaction(SpanReader& r);
//! Reads one transaction in the legacy format only (no BIP-144 marker: a zero input count is
//! zero inputs), as a PSBT's unsigned transaction is written (BIP-174).
Expected<MutableTransaction, TxParseError> ReadTransactionNoWitness(SpanReader& r);
//! Decodes exactly one transaction occupying all of bytes.
Expected<Transaction, TxParseError> DecodeTransaction(ByteSpan bytes);
//! Decodes a hex transaction; invalid hex reports Truncated.
Expected<Transaction, TxParseError> DecodeTransactionHex(std::string_view hex);

} // namespace vw
