// Bech32/Bech32m encoder: BIP-341 wallet vectors (bip350Address, read at run time) and a few
// BIP-173/BIP-350 examples quoted from the BIP texts.

#include "util/bech32.h"

#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace vw::bech32 {
namespace {

boost::json::value LoadBip341()
{
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/testvectors/bip341-wallet-test-vectors.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return boost::json::parse(ss.str());
}

//! Returns: the address of a segwit scriptPubKey OP_n <program>.
std::string AddrOfSpk(std::string_view hrp, const Bytes& spk)
{
    const int ver = spk.at(0) == 0 ? 0 : spk.at(0) - 0x50;
    auto a = SegwitAddress(hrp, ver, ByteSpan(spk).subspan(2));
    EXPECT_TRUE(a.has_value());
    return a ? *a : std::string{};
}

TEST(bech32_tests, Bip341WalletVectorAddresses)
{
    const auto v = LoadBip341();
    size_t n = 0;
    for (const auto& c : v.at("scriptPubKey").as_array()) {
        const auto spk = ParseHex(std::string(c.at("expected").at("scriptPubKey").as_string()));
        ASSERT_TRUE(spk.has_value());
        EXPECT_EQ(AddrOfSpk("bc", *spk), std::string(c.at("expected").at("bip350Address").as_string()));
        ++n;
    }
    EXPECT_GT(n, 0u);
}

// Valid segwit addresses quoted from BIP-173/BIP-350 ("Test vectors"), as (address, scriptPubKey).
TEST(bech32_tests, BipTextExamples)
{
    struct Case {
        const char* hrp;
        const char* address;
        const char* spk;
    };
    const Case cases[] = {
        {"bc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
        {"tb", "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
         "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
        {"bc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
         "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
    };
    for (const auto& c : cases) EXPECT_EQ(AddrOfSpk(c.hrp, *ParseHex(c.spk)), c.address);
    // BIP-350 bech32m checksum of an empty data part.
    EXPECT_EQ(*Encode("a", Bytes{}, Encoding::Bech32m), "a1lqfn3a");
    EXPECT_EQ(*Encode("a", Bytes{}, Encoding::Bech32), "a12uel5l");
}

TEST(bech32_tests, Misuse)
{
    EXPECT_EQ(Encode("", Bytes{}, Encoding::Bech32m).error(), Bech32Error::BadHrp);
    EXPECT_EQ(Encode("BC", Bytes{}, Encoding::Bech32m).error(), Bech32Error::BadHrp);
    EXPECT_EQ(Encode("b c", Bytes{}, Encoding::Bech32m).error(), Bech32Error::BadHrp);
    EXPECT_EQ(Encode("bc", Bytes{32}, Encoding::Bech32m).error(), Bech32Error::BadDataValue);
    EXPECT_EQ(Encode("bc", Bytes(90, 0), Encoding::Bech32m).error(), Bech32Error::TooLong);
    EXPECT_EQ(SegwitAddress("bc", 17, Bytes(32, 0)).error(), Bech32Error::BadWitnessVersion);
    EXPECT_EQ(SegwitAddress("bc", -1, Bytes(32, 0)).error(), Bech32Error::BadWitnessVersion);
    EXPECT_EQ(SegwitAddress("bc", 1, Bytes(1, 0)).error(), Bech32Error::BadProgramSize);
    EXPECT_EQ(SegwitAddress("bc", 1, Bytes(41, 0)).error(), Bech32Error::BadProgramSize);
    EXPECT_EQ(SegwitAddress("bc", 0, Bytes(21, 0)).error(), Bech32Error::BadProgramSize);
}

} // namespace
} // namespace vw::bech32
