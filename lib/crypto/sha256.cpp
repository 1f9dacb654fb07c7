#include "crypto/sha256.h"

#include "util/check.h"

#include <openssl/evp.h>

namespace vw::crypto {
namespace {
// OpenSSL 3 looks the algorithm up on every EVP_sha256()/EVP_Digest() call unless it is fetched
// once; and a context per call costs an allocation. Both dominate for the many small hashes of
// txids, merkle nodes and tagged hashes, so fetch once and keep one context per thread.
const EVP_MD* Md()
{
    static EVP_MD* md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        VW_ASSERT(m != nullptr);
        return m;
    }();
    return md;
}

EVP_MD_CTX* ThreadCtx()
{
    struct Holder {
        EVP_MD_CTX* ctx{EVP_MD_CTX_new()};
        ~Holder() { EVP_MD_CTX_free(ctx); }
    };
    thread_local Holder h;
    VW_ASSERT(h.ctx != nullptr);
    return h.ctx;
}
} // namespace

void Sha256::Deleter::operator()(evp_md_ctx_st* p) const { EVP_MD_CTX_free(p); }

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new())
{
    VW_ASSERT(m_ctx && EVP_DigestInit_ex2(m_ctx.get(), Md(), nullptr) == 1);
}

Sha256::Sha256(const Sha256& other) : m_ctx(EVP_MD_CTX_new())
{
    VW_ASSERT(m_ctx && EVP_MD_CTX_copy_ex(m_ctx.get(), other.m_ctx.get()) == 1);
}

Sha256& Sha256::operator=(const Sha256& other)
{
    if (this != &other) VW_ASSERT(EVP_MD_CTX_copy_ex(m_ctx.get(), other.m_ctx.get()) == 1);
    return *this;
}

Sha256::~Sha256() = default;

Sha256& Sha256::Write(ByteSpan data)
{
    VW_ASSERT(EVP_DigestUpdate(m_ctx.get(), data.data(), data.size()) == 1);
    return *this;
}

Uint256 Sha256::Finalize()
{
    Uint256 out;
    unsigned int len = 0;
    VW_ASSERT(EVP_DigestFinal_ex(m_ctx.get(), out.data(), &len) == 1 && len == 32);
    return out;
}

Sha256& Sha256::Reset()
{
    VW_ASSERT(EVP_DigestInit_ex2(m_ctx.get(), Md(), nullptr) == 1);
    return *this;
}

Uint256 Sha256Once(ByteSpan data)
{
    Uint256 out;
    unsigned int len = 0;
    EVP_MD_CTX* ctx = ThreadCtx();
    VW_ASSERT(EVP_DigestInit_ex2(ctx, Md(), nullptr) == 1 && EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == 32);
    return out;
}

Uint256 Sha256d(ByteSpan data)
{
    const Uint256 first = Sha256Once(data);
    return Sha256Once(first.span());
}

Uint256 Sha256d64(const Uint256& a, const Uint256& b)
{
    uint8_t buf[64];
    std::memcpy(buf, a.data(), 32);
    std::memcpy(buf + 32, b.data(), 32);
    return Sha256d(ByteSpan{buf, 64});
}

TaggedHash::TaggedHash(std::string_view tag)
{
    const Uint256 t = Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(tag.data()), tag.size()});
    m_mid.Write(t.span()).Write(t.span());
}

const TaggedHash& TapLeafTag() { static const TaggedHash h{"TapLeaf"}; return h; }
const TaggedHash& TapBranchTag() { static const TaggedHash h{"TapBranch"}; return h; }
const TaggedHash& TapTweakTag() { static const TaggedHash h{"TapTweak"}; return h; }
const TaggedHash& TapSighashTag() { static const TaggedHash h{"TapSighash"}; return h; }
const TaggedHash& VaultRecoverySpkTag() { static const TaggedHash h{"VaultRecoverySPK"}; return h; }

} // namespace vw::crypto
