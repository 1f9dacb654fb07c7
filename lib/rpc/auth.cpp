#include "rpc/auth.h"

#include "crypto/hmac.h"
#include "util/hex.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace vw::rpc {

bool TimingSafeEqual(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Expected<RpcAuthEntry, std::string> ParseRpcAuth(std::string_view line)
{
    const auto colon = line.find(':');
    const auto dollar = line.find('$', colon == std::string_view::npos ? 0 : colon);
    if (colon == std::string_view::npos || dollar == std::string_view::npos) {
        return Unexpected{std::string{"rpcauth must look like user:salt$hmac (see share/rpcauth/rpcauth.py)"}};
    }
    RpcAuthEntry e;
    e.user = std::string(line.substr(0, colon));
    e.salt = std::string(line.substr(colon + 1, dollar - colon - 1));
    if (e.user.empty() || e.salt.empty()) return Unexpected{std::string{"rpcauth: empty user or salt"}};
    auto h = ParseHex(line.substr(dollar + 1));
    if (!h || h->size() != 32) return Unexpected{std::string{"rpcauth: hmac must be 64 hex characters"}};
    std::copy(h->begin(), h->end(), e.hmac.begin());
    return e;
}

std::string MakeRpcAuth(std::string_view user, std::string_view salt, std::string_view password)
{
    const auto h = crypto::HmacSha256(salt, password);
    return std::string(user) + ":" + std::string(salt) + "$" + HexStr(h);
}

std::string RandomHex32()
{
    std::array<uint8_t, 32> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) std::abort(); // no entropy: cannot run safely
    std::string s = HexStr(b);
    OPENSSL_cleanse(b.data(), b.size());
    return s;
}

std::string BasicAuthHeader(std::string_view userpass)
{
    std::string out = "Basic ";
    const size_t at = out.size();
    out.resize(at + (userpass.size() + 2) / 3 * 4 + 1); // EVP_EncodeBlock writes a NUL after
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + at), reinterpret_cast<const unsigned char*>(userpass.data()),
                                  static_cast<int>(userpass.size()));
    out.resize(at + static_cast<size_t>(n));
    return out;
}

std::optional<std::pair<std::string, std::string>> ParseBasicAuth(std::string_view header)
{
    constexpr std::string_view prefix = "Basic ";
    if (header.substr(0, prefix.size()) != prefix) return std::nullopt;
    std::string_view b64 = header.substr(prefix.size());
    while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
    if (b64.empty() || b64.size() % 4 != 0 || b64.size() > 4096) return std::nullopt;
    std::string out(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as zero bytes: drop one per '='. Padding is at most "==" at
    // the very end (more would underflow the length: a crafted header must not crash the server).
    size_t pad = 0;
    while (pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
    if (pad > 2 || b64.substr(0, b64.size() - pad).find('=') != std::string_view::npos) return std::nullopt;
    out.resize(static_cast<size_t>(n) - pad);
    const auto colon = out.find(':');
    if (colon == std::string::npos) return std::nullopt;
    return std::pair{out.substr(0, colon), out.substr(colon + 1)};
}

std::optional<std::string> Authenticator::Check(std::string_view header) const
{
    auto up = ParseBasicAuth(header);
    if (!up) return std::nullopt;
    const auto& [user, pass] = *up;
    bool ok = false;
    std::string who;
    if (!m_cookie.empty()) {
        // & not &&: both comparisons always run, so timing does not tell which part was wrong.
        const bool match = (static_cast<int>(TimingSafeEqual(user, COOKIE_USER)) & static_cast<int>(TimingSafeEqual(pass, m_cookie))) != 0;
        if (match) {
            ok = true;
            who = std::string(COOKIE_USER);
        }
    }
    for (const auto& e : m_entries) {
        const auto h = crypto::HmacSha256(e.salt, pass);
        const bool match = (static_cast<int>(TimingSafeEqual(user, e.user)) &
                            static_cast<int>(CRYPTO_memcmp(h.data(), e.hmac.data(), h.size()) == 0)) != 0;
        if (match && !ok) {
            ok = true;
            who = e.user;
        }
    }
    if (!ok) return std::nullopt;
    return who;
}

} // namespace vw::rpc
