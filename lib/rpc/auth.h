#pragma once
// Control-port authentication: a cookie and rpcauth lines in bitcoind's format
// (user:salt$hex(HMAC-SHA256(key=salt, msg=password)), share/rpcauth/rpcauth.py). Every secret
// comparison is constant-time.

#include "util/expected.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vw::rpc {

inline constexpr std::string_view COOKIE_USER = "__cookie__";

struct RpcAuthEntry {
    std::string user;
    std::string salt;
    std::array<uint8_t, 32> hmac{};
};

//! Parses "user:salt$hmachex". Returns an operator-facing error naming what is wrong.
Expected<RpcAuthEntry, std::string> ParseRpcAuth(std::string_view line);

//! Returns: the rpcauth line for user/password with the given salt (for tests and tooling).
std::string MakeRpcAuth(std::string_view user, std::string_view salt, std::string_view password);

//! Returns: 32 random bytes as 64 lowercase hex characters (OpenSSL RAND_bytes).
std::string RandomHex32();

//! Returns: the Authorization header value for user:pass, "Basic base64(userpass)" (OpenSSL's
//! EVP_EncodeBlock: one encoder for the daemon, the cli and the tests).
std::string BasicAuthHeader(std::string_view userpass);

//! Splits an HTTP Authorization header "Basic base64(user:pass)". nullopt if malformed.
std::optional<std::pair<std::string, std::string>> ParseBasicAuth(std::string_view header);

class Authenticator
{
public:
    //! cookie_password: the hex part of the cookie (empty = no cookie auth).
    Authenticator(std::string cookie_password, std::vector<RpcAuthEntry> entries)
        : m_cookie(std::move(cookie_password)), m_entries(std::move(entries))
    {
    }
    //! Returns: the authenticated user name, or nullopt. Takes the same time whichever check
    //! fails, up to the number of configured entries.
    std::optional<std::string> Check(std::string_view authorization_header) const;

private:
    std::string m_cookie;
    std::vector<RpcAuthEntry> m_entries;
};

//! Constant-time equality of two strings (length may leak, content does not).
bool TimingSafeEqual(std::string_view a, std::string_view b);

} // namespace vw::rpc
