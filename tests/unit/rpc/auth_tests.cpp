#include "rpc/auth.h"

#include <gtest/gtest.h>

namespace vw::rpc {
namespace {

std::string Basic(std::string_view userpass)
{
    // Minimal base64 for the test, independent of the code under test.
    static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < userpass.size(); i += 3) {
        const unsigned n = (uint8_t(userpass[i]) << 16) | (uint8_t(userpass[i + 1]) << 8) | uint8_t(userpass[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += tbl[(n >> s) & 63];
    }
    if (userpass.size() - i == 1) {
        const unsigned n = uint8_t(userpass[i]) << 16;
        out += tbl[(n >> 18) & 63];
        out += tbl[(n >> 12) & 63];
        out += "==";
    } else if (userpass.size() - i == 2) {
        const unsigned n = (uint8_t(userpass[i]) << 16) | (uint8_t(userpass[i + 1]) << 8);
        out += tbl[(n >> 18) & 63];
        out += tbl[(n >> 12) & 63];
        out += tbl[(n >> 6) & 63];
        out += "=";
    }
    return "Basic " + out;
}

TEST(auth_tests, BasicHeaderParsing)
{
    auto up = ParseBasicAuth(Basic("wireuser:wirepass"));
    ASSERT_TRUE(up);
    EXPECT_EQ(up->first, "wireuser");
    EXPECT_EQ(up->second, "wirepass");
    // The header bitcoind received in the capture ("d2lyZXVzZXI6d2lyZXBhc3M=").
    EXPECT_EQ(Basic("wireuser:wirepass"), "Basic d2lyZXVzZXI6d2lyZXBhc3M=");
    for (const std::string s : {"a:", ":b", "ab:c", "abc:de", "x:y:z"}) {
        auto p = ParseBasicAuth(Basic(s));
        ASSERT_TRUE(p) << s;
        EXPECT_EQ(p->first + ":" + p->second, s);
    }
    EXPECT_FALSE(ParseBasicAuth("Bearer abc"));
    EXPECT_FALSE(ParseBasicAuth("Basic !!!!"));
    EXPECT_FALSE(ParseBasicAuth("Basic abc"));
    EXPECT_FALSE(ParseBasicAuth(Basic("nocolon")));
    EXPECT_FALSE(ParseBasicAuth("Basic "));
    // Padding is at most "==" at the end (found by fuzz_rpc_request: more '=' than decoded bytes
    // used to underflow the length and throw out of the server's session).
    EXPECT_FALSE(ParseBasicAuth("Basic 999====================="));
    EXPECT_FALSE(ParseBasicAuth("Basic ===="));
    EXPECT_FALSE(ParseBasicAuth("Basic YT=6YWJj"));
    EXPECT_FALSE(ParseBasicAuth("Basic YTo="+std::string("====")));
    ASSERT_TRUE(ParseBasicAuth("Basic YTpi")); // "a:b", no padding
    ASSERT_TRUE(ParseBasicAuth("Basic YTo=")); // "a:", one '='
}

TEST(auth_tests, BasicHeaderEncodingRoundTrips)
{
    // RFC 4648 test vectors (section 10), as the user:pass part of a header.
    EXPECT_EQ(BasicAuthHeader(""), "Basic ");
    EXPECT_EQ(BasicAuthHeader("f"), "Basic Zg==");
    EXPECT_EQ(BasicAuthHeader("fo"), "Basic Zm8=");
    EXPECT_EQ(BasicAuthHeader("foo"), "Basic Zm9v");
    EXPECT_EQ(BasicAuthHeader("foob"), "Basic Zm9vYg==");
    EXPECT_EQ(BasicAuthHeader("fooba"), "Basic Zm9vYmE=");
    EXPECT_EQ(BasicAuthHeader("foobar"), "Basic Zm9vYmFy");
    for (const std::string up : {std::string("a:b"), "__cookie__:" + std::string(64, 'f'), std::string("u:p\0w:\xff", 8)}) {
        const auto parsed = ParseBasicAuth(BasicAuthHeader(up));
        ASSERT_TRUE(parsed) << up;
        EXPECT_EQ(parsed->first + ":" + parsed->second, up);
    }
}

TEST(auth_tests, CookieAndRpcAuth)
{
    const std::string cookie = RandomHex32();
    ASSERT_EQ(cookie.size(), 64u);
    EXPECT_NE(cookie, RandomHex32());
    auto entry = ParseRpcAuth(MakeRpcAuth("alice", "0123456789abcdef0123456789abcdef", "s3cret"));
    ASSERT_TRUE(entry) << entry.error();
    const Authenticator auth{cookie, {*entry}};
    EXPECT_EQ(auth.Check(Basic("__cookie__:" + cookie)), "__cookie__");
    EXPECT_EQ(auth.Check(Basic("alice:s3cret")), "alice");
    EXPECT_FALSE(auth.Check(Basic("alice:s3creT")));
    EXPECT_FALSE(auth.Check(Basic("bob:s3cret")));
    EXPECT_FALSE(auth.Check(Basic("__cookie__:" + RandomHex32()))); // a stale cookie
    EXPECT_FALSE(auth.Check(Basic("__cookie__:")));
    EXPECT_FALSE(auth.Check(""));
    const Authenticator no_cookie{"", {*entry}};
    EXPECT_FALSE(no_cookie.Check(Basic("__cookie__:")));
}

TEST(auth_tests, RpcAuthLineErrors)
{
    EXPECT_FALSE(ParseRpcAuth("alice"));
    EXPECT_FALSE(ParseRpcAuth("alice:salt"));
    EXPECT_FALSE(ParseRpcAuth(":salt$00"));
    EXPECT_FALSE(ParseRpcAuth("alice:$" + std::string(64, '0')));
    EXPECT_FALSE(ParseRpcAuth("alice:salt$zz"));
    EXPECT_FALSE(ParseRpcAuth("alice:salt$" + std::string(62, '0')));
    EXPECT_TRUE(ParseRpcAuth("alice:salt$" + std::string(64, '0')));
}

TEST(auth_tests, TimingSafeEqual)
{
    EXPECT_TRUE(TimingSafeEqual("abc", "abc"));
    EXPECT_FALSE(TimingSafeEqual("abc", "abd"));
    EXPECT_FALSE(TimingSafeEqual("abc", "abcd"));
    EXPECT_TRUE(TimingSafeEqual("", ""));
}

} // namespace
} // namespace vw::rpc
