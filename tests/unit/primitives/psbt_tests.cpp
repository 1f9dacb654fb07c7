// BIP-174's test vectors (tests/data/testvectors/bip174.json, parsed from the BIP): every invalid
// PSBT is refused, every valid one parses, the finalized one extracts to the BIP's transaction.
#include "primitives/psbt.h"

#include "unit/util/test_data.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace vw {
namespace {
namespace json = boost::json;

json::value Vectors() { return json::parse(test::ReadTestDataText("testvectors/bip174.json")); }

TEST(psbt_tests, EveryInvalidVectorIsRefused)
{
    const auto v = Vectors();
    size_t n = 0;
    for (const auto& c : v.at("invalid").as_array()) {
        const std::string b64{c.at("base64").as_string()};
        auto p = DecodePsbtBase64(b64);
        EXPECT_FALSE(p) << c.at("description");
        ++n;
    }
    EXPECT_EQ(n, 20u);
}

TEST(psbt_tests, EveryValidVectorParsesInBothForms)
{
    const auto v = Vectors();
    size_t n = 0;
    for (const auto& c : v.at("valid").as_array()) {
        auto p = DecodePsbtBase64(std::string(c.at("base64").as_string()));
        ASSERT_TRUE(p) << c.at("description") << ": " << p.error();
        auto h = DecodePsbt(*ParseHex(std::string(c.at("hex").as_string())));
        ASSERT_TRUE(h) << h.error();
        EXPECT_EQ(p->unsigned_tx, h->unsigned_tx);
        EXPECT_EQ(p->inputs.size(), p->unsigned_tx.vin.size());
        ++n;
    }
    EXPECT_EQ(n, 10u);
}

TEST(psbt_tests, TheFinalizedVectorExtractsToTheBipsTransaction)
{
    const auto v = Vectors();
    for (const auto& c : v.at("extractor").as_array()) {
        auto p = DecodePsbtBase64(std::string(c.at("psbt_base64").as_string()));
        ASSERT_TRUE(p) << p.error();
        auto tx = ExtractTransaction(*p);
        ASSERT_TRUE(tx) << tx.error();
        EXPECT_EQ(HexStr(SerializeTransaction(*tx)), c.at("tx_hex").as_string());
    }
    // Before finalizing, the extractor says which input is not ready.
    for (const auto& c : v.at("finalizer").as_array()) {
        auto p = DecodePsbtBase64(std::string(c.at("input_psbt_base64").as_string()));
        ASSERT_TRUE(p) << p.error();
        auto tx = ExtractTransaction(*p);
        ASSERT_FALSE(tx);
        EXPECT_NE(tx.error().find("input 0 is not finalized"), std::string::npos) << tx.error();
    }
}

TEST(psbt_tests, Base64IsCheckedAndTheMagicRecognized)
{
    EXPECT_FALSE(DecodePsbtBase64("cHNidP8"));      // not a multiple of 4
    EXPECT_FALSE(DecodePsbtBase64("cHNidP8!AAA="));  // not base64
    EXPECT_FALSE(DecodePsbtBase64("cHNidP8BAA=="));  // magic, then a truncated map
    EXPECT_TRUE(LooksLikePsbtBase64("cHNidP8BAJoCAAAA"));
    EXPECT_FALSE(LooksLikePsbtBase64("0200000001"));
}

} // namespace
} // namespace vw

namespace vw {
namespace {
TEST(psbt_tests, Base64WithMorePaddingThanDataIsRefusedNotThrown)
{
    // Found by fuzz_psbt: a padding run longer than the decoded bytes underflowed the length.
    for (const std::string text : {"p" + std::string(63, '='), std::string(64, '='), std::string("cHNi===")}) {
        const auto r = DecodePsbtBase64(text.size() % 4 ? text + std::string(4 - text.size() % 4, '=') : text);
        EXPECT_FALSE(r);
    }
}
} // namespace
} // namespace vw
