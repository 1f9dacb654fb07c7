#pragma once
// SHA-256 through OpenSSL's EVP interface, plus BIP-340 tagged hashes.

#include "util/bytes.h"
#include "util/uint256.h"

#include <memory>
#include <string_view>

struct evp_md_ctx_st;

namespace vw::crypto {

//! Incremental SHA-256. Owns an EVP_MD_CTX; movable, copyable (copies the midstate).
class Sha256
{
public:
    Sha256();
    Sha256(const Sha256& other);
    Sha256& operator=(const Sha256& other);
    Sha256(Sha256&&) noexcept = default;
    Sha256& operator=(Sha256&&) noexcept = default;
    ~Sha256();

    Sha256& Write(ByteSpan data);
    //! Finishes the hash. The object must be Reset() before reuse.
    Uint256 Finalize();
    Sha256& Reset();

private:
    struct Deleter {
        void operator()(evp_md_ctx_st* p) const;
    };
    std::unique_ptr<evp_md_ctx_st, Deleter> m_ctx;
};

//! Returns: SHA256(data).
Uint256 Sha256Once(ByteSpan data);
//! Returns: SHA256(SHA256(data)), the hash behind txids, block hashes and merkle nodes.
Uint256 Sha256d(ByteSpan data);
//! Returns: SHA256d(a || b) for merkle tree nodes.
Uint256 Sha256d64(const Uint256& a, const Uint256& b);

//! A BIP-340 tagged hash SHA256(SHA256(tag) || SHA256(tag) || msg). The tag prefix is absorbed
//! once at construction; Hasher() hands out a copy of that midstate.
class TaggedHash
{
public:
    explicit TaggedHash(std::string_view tag);
    Sha256 Hasher() const { return m_mid; }
    Uint256 operator()(ByteSpan msg) const { return Hasher().Write(msg).Finalize(); }

private:
    Sha256 m_mid;
};

//! The tags this project uses, constructed once.
const TaggedHash& TapLeafTag();
const TaggedHash& TapBranchTag();
const TaggedHash& TapTweakTag();
const TaggedHash& TapSighashTag();
const TaggedHash& VaultRecoverySpkTag();

} // namespace vw::crypto
