#include "crypto/bip32.h"

#include "crypto/base58.h"
#include "crypto/hmac.h"
#include "crypto/sha256.h"
#include "util/check.h"

#include <openssl/evp.h>

#include <charconv>
#include <cstring>

namespace vw::crypto {
namespace {
constexpr std::array<uint8_t, 4> kXpub{0x04, 0x88, 0xB2, 0x1E};
constexpr std::array<uint8_t, 4> kTpub{0x04, 0x35, 0x87, 0xCF};

std::array<uint8_t, 20> Hash160(ByteSpan data)
{
    const Uint256 sha = Sha256Once(data);
    std::array<uint8_t, 20> out{};
    unsigned int len = 0;
    VW_ASSERT(EVP_Digest(sha.bytes.data(), sha.bytes.size(), out.data(), &len, EVP_ripemd160(), nullptr) == 1 && len == 20);
    return out;
}

uint32_t ReadBE32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
void WriteBE32(uint8_t* p, uint32_t v)
{
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
} // namespace

std::string_view ToString(ExtKeyError e)
{
    switch (e) {
    case ExtKeyError::Encoding: return "not a Base58Check extended key of 78 bytes";
    case ExtKeyError::Version: return "not an extended public key (xpub or tpub)";
    case ExtKeyError::Depth: return "a master key (depth 0) with a parent fingerprint or child number";
    case ExtKeyError::Key: return "the key is not a valid compressed public key";
    case ExtKeyError::Hardened: return "a hardened step cannot be derived from a public key";
    case ExtKeyError::InvalidChild: return "this index yields no valid key (BIP-32: use the next one)";
    }
    return "unknown";
}

Expected<ExtPubKey, ExtKeyError> ExtPubKey::Parse(std::string_view s)
{
    auto raw = DecodeBase58Check(s, 120);
    if (!raw || raw->size() != 78) return Unexpected{ExtKeyError::Encoding};
    const uint8_t* p = raw->data();
    std::array<uint8_t, 4> version{}, parent{};
    std::array<uint8_t, 32> chaincode{};
    std::memcpy(version.data(), p, 4);
    if (version != kXpub && version != kTpub) return Unexpected{ExtKeyError::Version};
    std::memcpy(parent.data(), p + 5, 4);
    const uint32_t child = ReadBE32(p + 9);
    if (p[4] == 0 && (child != 0 || parent != std::array<uint8_t, 4>{})) return Unexpected{ExtKeyError::Depth};
    std::memcpy(chaincode.data(), p + 13, 32);
    auto key = PubKey::Parse(ByteSpan{p + 45, 33});
    if (!key) return Unexpected{ExtKeyError::Key};
    return ExtPubKey{version, p[4], parent, child, chaincode, *key};
}

std::string ExtPubKey::Encode() const
{
    std::array<uint8_t, 78> b{};
    std::memcpy(b.data(), version.data(), 4);
    b[4] = depth;
    std::memcpy(b.data() + 5, parent_fingerprint.data(), 4);
    WriteBE32(b.data() + 9, child);
    std::memcpy(b.data() + 13, chaincode.data(), 32);
    std::memcpy(b.data() + 45, key.bytes().data(), 33);
    return EncodeBase58Check(b);
}

std::array<uint8_t, 4> ExtPubKey::Fingerprint() const
{
    const auto h = Hash160(key.span());
    return {h[0], h[1], h[2], h[3]};
}

Expected<ExtPubKey, ExtKeyError> ExtPubKey::Derive(uint32_t i) const
{
    if (i & kHardened) return Unexpected{ExtKeyError::Hardened};
    if (depth == 255) return Unexpected{ExtKeyError::Depth};
    std::array<uint8_t, 37> data{};
    std::memcpy(data.data(), key.bytes().data(), 33);
    WriteBE32(data.data() + 33, i);
    const auto I = HmacSha512(chaincode, data);
    // IL >= n or the point at infinity: no key at this index (secp256k1 checks both).
    auto child_key = key.TweakAdd(ByteSpan{I.data(), 32});
    if (!child_key) return Unexpected{ExtKeyError::InvalidChild};
    ExtPubKey c = *this;
    c.key = *child_key;
    c.depth = static_cast<uint8_t>(depth + 1);
    c.parent_fingerprint = Fingerprint();
    c.child = i;
    std::memcpy(c.chaincode.data(), I.data() + 32, 32);
    return c;
}

Expected<ExtPubKey, ExtKeyError> ExtPubKey::Derive(std::span<const uint32_t> path) const
{
    ExtPubKey k = *this;
    for (uint32_t step : path) {
        auto next = k.Derive(step);
        if (!next) return next;
        k = std::move(*next);
    }
    return k;
}

std::optional<std::vector<uint32_t>> ParseBip32Path(std::string_view s)
{
    std::vector<uint32_t> out;
    if (s == "m" || s.empty()) return out;
    if (s.starts_with("m/")) s.remove_prefix(2);
    while (true) {
        const size_t slash = s.find('/');
        std::string_view step = s.substr(0, slash);
        bool hardened = false;
        if (!step.empty() && (step.back() == '\'' || step.back() == 'h' || step.back() == 'H')) {
            hardened = true;
            step.remove_suffix(1);
        }
        uint32_t v = 0;
        if (step.empty() || step.size() > 10 || (step.size() > 1 && step[0] == '0')) return std::nullopt;
        auto [ptr, ec] = std::from_chars(step.data(), step.data() + step.size(), v);
        if (ec != std::errc{} || ptr != step.data() + step.size() || v >= kHardened) return std::nullopt;
        out.push_back(hardened ? v | kHardened : v);
        if (slash == std::string_view::npos) break;
        s.remove_prefix(slash + 1);
    }
    return out;
}

std::string FormatBip32Path(std::span<const uint32_t> path, bool with_m)
{
    std::string out = with_m ? "m" : "";
    for (uint32_t step : path) {
        if (!out.empty()) out += '/';
        out += std::to_string(step & ~kHardened);
        if (step & kHardened) out += '\'';
    }
    return out;
}

} // namespace vw::crypto
