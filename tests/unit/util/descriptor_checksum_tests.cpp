// BIP-380's checksum vectors (tests/data/testvectors/bip380.json, parsed from the BIP).
#include "util/descriptor_checksum.h"

#include "unit/util/test_data.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace vw {
namespace {
namespace json = boost::json;

TEST(descriptor_checksum_tests, TheBipVectors)
{
    const auto v = json::parse(test::ReadTestDataText("testvectors/bip380.json")).at("checksum");
    for (const auto& ok : v.at("valid").as_array()) {
        const std::string d{ok.at("descriptor").as_string()};
        const auto body = CheckDescriptorChecksum(d);
        ASSERT_TRUE(body) << d;
        EXPECT_EQ(AddDescriptorChecksum(*body), d);
    }
    for (const auto& none : v.at("no_checksum").as_array()) {
        const std::string d{none.at("descriptor").as_string()};
        EXPECT_FALSE(CheckDescriptorChecksum(d, /*require=*/true)) << d;
        EXPECT_EQ(CheckDescriptorChecksum(d, /*require=*/false), std::string_view{d});
    }
    size_t n = 0;
    for (const auto& bad : v.at("invalid").as_array()) {
        const std::string d{bad.at("descriptor").as_string()};
        EXPECT_FALSE(CheckDescriptorChecksum(d)) << d << ": " << bad.at("reason");
        EXPECT_FALSE(CheckDescriptorChecksum(d, false)) << d << ": " << bad.at("reason");
        ++n;
    }
    EXPECT_EQ(n, 6u);
}

TEST(descriptor_checksum_tests, AnySingleCharacterChangeIsCaught)
{
    const std::string d = *AddDescriptorChecksum("opvault(ab,cd,noauth,10,xpubX/0/*)");
    for (size_t i = 0; i < d.size(); ++i) {
        if (d[i] == '#') continue;
        std::string t = d;
        t[i] = t[i] == 'a' ? 'b' : 'a';
        EXPECT_FALSE(CheckDescriptorChecksum(t)) << t;
    }
}

} // namespace
} // namespace vw
