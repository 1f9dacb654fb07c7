#include "vault/presigned.h"

#include "util/hex.h"

#include <gtest/gtest.h>

#include <functional>

namespace vw::vault {
namespace {

Txid T(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return Txid::FromUint256(u);
}

std::string Spend(std::vector<OutPoint> ins, int64_t out_value, bool signed_inputs = true)
{
    MutableTransaction m;
    for (const auto& o : ins) {
        TxIn in;
        in.prevout = o;
        in.sequence = 0xfffffffd;
        if (signed_inputs) in.witness = {Bytes(64, 0x11)};
        m.vin.push_back(in);
    }
    m.vout.push_back({Amount{out_value}, Bytes{0x51, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                              20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}});
    return HexStr(SerializeTransaction(m));
}

PresignedRequest Good()
{
    PresignedRequest r;
    r.watch_outpoints = {{T(1), 0}};
    r.triggers = {{T(2), {Spend({{T(2), 0}}, 90'000), Spend({{T(2), 0}}, 99'000)}, 144}};
    r.emergency_txs = {Spend({{T(1), 0}}, 95'000)};
    return r;
}

TEST(presigned_tests, ValidVaultSortsVariantsCheapestFirst)
{
    auto v = ValidatePresigned(Good());
    ASSERT_TRUE(v) << v.error();
    ASSERT_EQ(v->triggers.size(), 1u);
    ASSERT_EQ(v->triggers[0].recovery_txs.size(), 2u);
    EXPECT_EQ(OutputTotal(v->triggers[0].recovery_txs[0]), Amount{99'000}); // smallest fee first
    EXPECT_EQ(OutputTotal(v->triggers[0].recovery_txs[1]), Amount{90'000});
    EXPECT_EQ(v->emergency_txs.size(), 1u);
}

TEST(presigned_tests, EveryRuleHasAClearError)
{
    struct Case {
        const char* want; // a substring of the message
        std::function<void(PresignedRequest&)> mutate;
    };
    const std::vector<Case> cases{
        {"at least one vault UTXO", [](auto& r) { r.watch_outpoints.clear(); }},
        {"twice", [](auto& r) { r.watch_outpoints.push_back(r.watch_outpoints[0]); }},
        {"at least one pre-signed unvault", [](auto& r) { r.triggers.clear(); }},
        {"listed twice", [](auto& r) { r.triggers.push_back(r.triggers[0]); }},
        {"spend_delay", [](auto& r) { r.triggers[0].spend_delay = 0; }},
        {"spend_delay", [](auto& r) { r.triggers[0].spend_delay = 70000; }},
        {"at least one pre-signed recovery", [](auto& r) { r.triggers[0].recovery_txs.clear(); }},
        {"not a valid transaction", [](auto& r) { r.triggers[0].recovery_txs[0] = "00"; }},
        {"not a valid transaction", [](auto& r) { r.triggers[0].recovery_txs[0] = "zz"; }},
        {"spends no output of trigger", [](auto& r) { r.triggers[0].recovery_txs[0] = Spend({{T(9), 0}}, 1); }},
        {"emergency transaction", [](auto& r) { r.triggers[0].recovery_txs[0] = Spend({{T(2), 0}, {T(1), 0}}, 1); }},
        {"unsigned input", [](auto& r) { r.triggers[0].recovery_txs[0] = Spend({{T(2), 0}}, 1, false); }},
        {"another trigger",
         [](auto& r) {
             r.triggers.push_back({T(3), {Spend({{T(3), 0}}, 1)}, 10});
             r.triggers[0].recovery_txs[0] = Spend({{T(2), 0}, {T(3), 1}}, 1);
         }},
        {"out of range", [](auto& r) { r.triggers[0].recovery_txs[0] = Spend({{T(2), 0}}, MAX_MONEY.sats() + 1); }},
        {"spends none of the watched", [](auto& r) { r.emergency_txs[0] = Spend({{T(8), 0}}, 1); }},
        {"emergency_txs[0]: has an unsigned", [](auto& r) { r.emergency_txs[0] = Spend({{T(1), 0}}, 1, false); }},
    };
    for (const auto& c : cases) {
        PresignedRequest r = Good();
        c.mutate(r);
        auto v = ValidatePresigned(r);
        ASSERT_FALSE(v) << c.want;
        EXPECT_NE(v.error().find(c.want), std::string::npos) << "got: " << v.error();
    }
}

} // namespace
} // namespace vw::vault
