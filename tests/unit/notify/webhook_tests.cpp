#include "notify/webhook.h"

#include "crypto/sha256.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace vw::notify {
namespace {
using std::chrono::milliseconds;

ByteSpan Span(std::string_view s) { return ByteSpan{reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

//! HMAC-SHA256 by its definition (RFC 2104) over the project's SHA-256, independent of
//! OpenSSL's HMAC: H((K ^ opad) || H((K ^ ipad) || m)).
std::string ReferenceHmac(std::string_view key, std::string_view msg)
{
    std::array<uint8_t, 64> k{};
    if (key.size() > 64) {
        const Uint256 h = crypto::Sha256Once(Span(key));
        std::copy(h.bytes.begin(), h.bytes.end(), k.begin());
    } else {
        std::copy(key.begin(), key.end(), k.begin());
    }
    std::array<uint8_t, 64> ipad{}, opad{};
    for (size_t i = 0; i < 64; ++i) {
        ipad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
        opad[i] = static_cast<uint8_t>(k[i] ^ 0x5c);
    }
    const Uint256 inner = crypto::Sha256().Write(ByteSpan{ipad.data(), 64}).Write(Span(msg)).Finalize();
    const Uint256 outer = crypto::Sha256().Write(ByteSpan{opad.data(), 64}).Write(ByteSpan{inner.bytes.data(), 32}).Finalize();
    return HexStr(ByteSpan{outer.bytes.data(), 32});
}

TEST(webhook_tests, HmacMatchesRfc4231AndTheDefinition)
{
    // RFC 4231 test case 2.
    EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const std::string long_key(131, '\xaa');
    EXPECT_EQ(HmacSha256Hex(long_key, "Test Using Larger Than Block-Size Key - Hash Key First"),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    for (const std::string& key : std::vector<std::string>{"k", "0123456789abcdef0123456789abcdef", std::string(100, 'x')}) {
        EXPECT_EQ(HmacSha256Hex(key, "msg"), ReferenceHmac(key, "msg"));
    }
}

TEST(webhook_tests, SignatureHeaderFormat)
{
    const std::string secret = "whsec_test_0123456789";
    const std::string body = R"({"id":"wh-0011223344556677:42","type":"vault.trigger","created_at":1700000000,"chain":"regtest","data":{"approved":false}})";
    const std::string h = WebhookSignatureHeader(secret, 1700000000, body);
    // Computed independently (Python: hmac.new(secret, b"1700000000." + body, sha256)).
    EXPECT_EQ(h, "t=1700000000,v1=95897f9acd2c3b3b399d82fb7035faa938f9aac1f89aa0c430b6cea69426ab20");
    EXPECT_EQ(h, "t=1700000000,v1=" + ReferenceHmac(secret, "1700000000." + body));

    EXPECT_EQ(VerifyWebhookSignature(secret, h, body, 1700000010, 300), std::nullopt);
    EXPECT_TRUE(VerifyWebhookSignature(secret, h, body + " ", 1700000010, 300));            // body changed
    EXPECT_TRUE(VerifyWebhookSignature("another secret 0123", h, body, 1700000010, 300));    // wrong key
    EXPECT_TRUE(VerifyWebhookSignature(secret, h, body, 1700001000, 300));                  // too old
    EXPECT_TRUE(VerifyWebhookSignature(secret, "v1=" + h.substr(h.find("v1=") + 3), body, 1700000000, 300)); // no t
    // Replaying the signature with another timestamp fails: t is signed.
    const std::string forged = "t=1700000005," + h.substr(h.find("v1="));
    EXPECT_TRUE(VerifyWebhookSignature(secret, forged, body, 1700000005, 300));
    // Several v1 entries (key rotation): one match is enough.
    EXPECT_EQ(VerifyWebhookSignature(secret, "t=1700000000,v1=00," + h.substr(h.find("v1=")), body, 1700000000, 300), std::nullopt);
}

TEST(webhook_tests, PayloadShape)
{
    boost::json::object data{{"vault_id", "v-0123456789abcdef"}, {"approved", false}, {"txid", std::string(64, 'a')}};
    const std::string p = WebhookPayload("wh-1:7", "vault.trigger", 1700000000, "regtest", data);
    EXPECT_EQ(p.rfind(R"({"id":"wh-1:7","type":"vault.trigger","created_at":1700000000,"chain":"regtest","data":{)", 0), 0u) << p;
    const auto v = boost::json::parse(p);
    EXPECT_EQ(v.at("data").at("vault_id").as_string(), "v-0123456789abcdef");
    EXPECT_FALSE(v.at("data").at("approved").as_bool());
    EXPECT_EQ(v.as_object().size(), 5u);
}

TEST(webhook_tests, BackoffScheduleBounds)
{
    const milliseconds base{1000}, cap{600'000};
    milliseconds prev_nominal{0};
    for (int attempt = 1; attempt <= 200; ++attempt) {
        const milliseconds lo = WebhookBackoff(attempt, base, cap, 0.0);
        const milliseconds hi = WebhookBackoff(attempt, base, cap, 0.999999);
        const milliseconds mid = WebhookBackoff(attempt, base, cap, 0.5);
        // nominal = min(cap, base * 2^(attempt-1)); jitter keeps it within [nominal/2, nominal].
        const int64_t nominal = attempt <= 20 ? std::min<int64_t>(cap.count(), base.count() << (attempt - 1)) : cap.count();
        EXPECT_EQ(lo.count(), nominal / 2) << attempt;
        EXPECT_LE(hi.count(), nominal) << attempt;
        EXPECT_GE(hi.count(), nominal - 1) << attempt;
        EXPECT_GE(mid, lo);
        EXPECT_LE(mid, hi);
        EXPECT_GE(hi, prev_nominal / 2) << "never shrinks below half the previous wait";
        prev_nominal = milliseconds{nominal};
    }
    EXPECT_EQ(WebhookBackoff(1, base, cap, 0.0), milliseconds{500});
    EXPECT_EQ(WebhookBackoff(2, base, cap, 1.0 - 1e-12).count(), 1999);
    EXPECT_EQ(WebhookBackoff(10, base, cap, 0.0), milliseconds{256'000});
    EXPECT_EQ(WebhookBackoff(11, base, cap, 0.0), milliseconds{300'000}); // capped: 1024 s > 600 s
    // Out-of-range jitter is clamped; huge attempt counts do not overflow.
    EXPECT_EQ(WebhookBackoff(3, base, cap, -5.0), milliseconds{2000});
    EXPECT_LE(WebhookBackoff(3, base, cap, 7.0), milliseconds{4000});
    EXPECT_LE(WebhookBackoff(1'000'000, base, cap, 0.9), cap);
    EXPECT_GE(WebhookBackoff(1'000'000, base, cap, 0.0), cap / 2);
    // Over the default 24 h horizon, with a 10 min cap, a dead endpoint costs about 300 attempts at most.
    int attempts = 0;
    int64_t elapsed = 0;
    while (elapsed < 24LL * 3600 * 1000) elapsed += WebhookBackoff(++attempts, base, cap, 0.0).count();
    EXPECT_LT(attempts, 320);
    EXPECT_GT(attempts, 100);
}

TEST(webhook_tests, UrlParsing)
{
    auto u = ParseWebhookUrl("https://Alerts.Example.com/hooks/vw?token=abc");
    ASSERT_TRUE(u) << u.error();
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->host, "alerts.example.com");
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->target, "/hooks/vw?token=abc");
    EXPECT_EQ(u->HostHeader(), "alerts.example.com");
    EXPECT_EQ(u->Origin(), "https://alerts.example.com:443");

    u = ParseWebhookUrl("http://127.0.0.1:8080");
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->tls);
    EXPECT_EQ(u->port, 8080);
    EXPECT_EQ(u->target, "/");
    EXPECT_EQ(u->HostHeader(), "127.0.0.1:8080");

    u = ParseWebhookUrl("http://[::1]:9000/x");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->HostHeader(), "[::1]:9000");

    u = ParseWebhookUrl("http://h?x=1");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->target, "/?x=1");

    for (const char* bad : {"ftp://x/", "x.com/hook", "http://", "http://:80/", "http://u:p@host/", "http://h:0/", "http://h:65536/",
                            "http://h:8x/", "http://h/a b", "http://h/#frag", "http://[::1/", "http://h:/"}) {
        EXPECT_FALSE(ParseWebhookUrl(bad)) << bad;
    }
}

TEST(webhook_tests, EventFilter)
{
    auto all = ParseEventFilter(" * ");
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, std::vector<std::string>{"*"});
    EXPECT_TRUE(EventFilterMatches(*all, "vault.trigger"));
    EXPECT_EQ(*ParseEventFilter("vault.trigger,*"), std::vector<std::string>{"*"});

    auto f = ParseEventFilter("vault.trigger, recovery.*,vault.trigger");
    ASSERT_TRUE(f) << f.error();
    EXPECT_EQ(JoinEventFilter(*f), "recovery.*,vault.trigger");
    EXPECT_TRUE(EventFilterMatches(*f, "vault.trigger"));
    EXPECT_TRUE(EventFilterMatches(*f, "recovery.confirmed"));
    EXPECT_FALSE(EventFilterMatches(*f, "recovery"));
    EXPECT_FALSE(EventFilterMatches(*f, "recoveryx.planned"));
    EXPECT_FALSE(EventFilterMatches(*f, "vault.deposit"));
    EXPECT_FALSE(EventFilterMatches(*f, "vault.trigger.x"));

    for (const char* bad : {"", ",", "vault", "Vault.Trigger", "vault.", ".x", "*.trigger", "vault.trig ger", "a.b.c"}) {
        EXPECT_FALSE(ParseEventFilter(bad)) << bad;
    }
}

} // namespace
} // namespace vw::notify
