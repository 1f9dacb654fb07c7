// BIP-32 public derivation against the BIP's own test vectors (tests/data/testvectors/bip32.json,
// parsed from bip-0032.mediawiki): every extended public key parses and serializes back, every
// non-hardened step derives the next key of the chain, every invalid key of vector 5 is refused.
#include "crypto/bip32.h"

#include "unit/util/test_data.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace vw::crypto {
namespace {
namespace json = boost::json;

json::value Vectors() { return json::parse(test::ReadTestDataText("testvectors/bip32.json")); }

TEST(bip32_tests, EveryVectorKeyRoundTripsAndEveryPublicStepDerivesTheNext)
{
    const auto v = Vectors();
    size_t parsed = 0, derived = 0;
    for (const auto& vec : v.at("vectors").as_array()) {
        std::optional<ExtPubKey> prev;
        std::vector<uint32_t> prev_path;
        for (const auto& e : vec.at("chain").as_array()) {
            const std::string xpub{e.at("ext_pub").as_string()};
            auto k = ExtPubKey::Parse(xpub);
            ASSERT_TRUE(k) << xpub << ": " << ToString(k.error());
            EXPECT_EQ(k->Encode(), xpub);
            ++parsed;
            auto path = ParseBip32Path(std::string(e.at("path").as_string()));
            ASSERT_TRUE(path) << e.at("path");
            EXPECT_EQ(k->depth, path->size());
            if (prev && path->size() == prev_path.size() + 1) {
                const uint32_t step = path->back();
                auto child = prev->Derive(step);
                if (step & kHardened) {
                    ASSERT_FALSE(child);
                    EXPECT_EQ(child.error(), ExtKeyError::Hardened);
                } else {
                    ASSERT_TRUE(child) << ToString(child.error());
                    EXPECT_EQ(child->Encode(), xpub) << "vector " << vec.at("vector") << " " << e.at("path");
                    ++derived;
                }
            }
            prev = *k;
            prev_path = *path;
        }
    }
    EXPECT_EQ(parsed, 17u);
    EXPECT_GE(derived, 3u) << "the vectors' non-hardened steps";
}

TEST(bip32_tests, EveryInvalidKeyOfVector5IsRefused)
{
    const auto v = Vectors();
    size_t n = 0;
    for (const auto& bad : v.at("invalid").as_array()) {
        const std::string key{bad.at("key").as_string()};
        EXPECT_FALSE(ExtPubKey::Parse(key)) << key << " (" << bad.at("reason") << ")";
        ++n;
    }
    EXPECT_EQ(n, 16u);
}

TEST(bip32_tests, PathsParseAndFormat)
{
    EXPECT_EQ(ParseBip32Path("m"), std::vector<uint32_t>{});
    EXPECT_EQ(ParseBip32Path("m/0/1'/2h/3H"), (std::vector<uint32_t>{0, 1 | kHardened, 2 | kHardened, 3 | kHardened}));
    EXPECT_EQ(ParseBip32Path("0/2147483647"), (std::vector<uint32_t>{0, 2147483647}));
    for (const char* bad : {"m/", "m//1", "m/2147483648", "m/-1", "m/01", "m/1x", "x/1", "m/1/"}) EXPECT_FALSE(ParseBip32Path(bad)) << bad;
    const std::vector<uint32_t> p{0, 5 | kHardened};
    EXPECT_EQ(FormatBip32Path(p), "m/0/5'");
    EXPECT_EQ(ParseBip32Path(FormatBip32Path(p)), p);
}

} // namespace
} // namespace vw::crypto
