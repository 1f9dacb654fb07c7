// The fee wallet: its address from the BIP-341 vectors, key-path signatures that verify under the
// output key, coin tracking through the mempool and blocks, selection and coverage.
#include "crypto/secp.h"
#include "script/sighash.h"
#include "script/taproot.h"
#include "util/hex.h"
#include "vault/fee_wallet.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace vw::vault {
namespace {
namespace json = boost::json;

FeeWallet Wallet(uint8_t fill = 0x42)
{
    Bytes secret(32, fill);
    auto w = FeeWallet::FromSecret(secret);
    EXPECT_TRUE(w.has_value());
    return std::move(*w);
}

Txid T(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return Txid::FromUint256(u);
}

Transaction Pay(std::vector<OutPoint> ins, std::vector<TxOut> outs)
{
    MutableTransaction m;
    for (const auto& o : ins) m.vin.push_back(TxIn{o, {}, 0xfffffffd, {Bytes(64, 1)}});
    m.vout = std::move(outs);
    return Transaction{m};
}

TEST(fee_wallet_tests, KeyPathScriptPubKeyMatchesTheBip341Vectors)
{
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/testvectors/bip341-wallet-test-vectors.json");
    ASSERT_TRUE(f);
    std::stringstream ss;
    ss << f.rdbuf();
    const json::value v = json::parse(ss.str());
    size_t checked = 0;
    for (const auto& tc : v.at("scriptPubKey").as_array()) {
        if (!tc.at("given").at("scriptTree").is_null()) continue; // the wallet has no script tree
        auto internal = crypto::XOnlyPubKey::Parse(*ParseHex(std::string_view{tc.at("given").at("internalPubkey").as_string()}));
        ASSERT_TRUE(internal);
        EXPECT_EQ(HexStr(FeeWallet::KeyPathScriptPubKey(*internal)), std::string_view{tc.at("expected").at("scriptPubKey").as_string()});
        ++checked;
    }
    EXPECT_GE(checked, 1u);
}

TEST(fee_wallet_tests, AddressAndSignatureVerifyUnderTheOutputKey)
{
    const FeeWallet w = Wallet();
    ASSERT_EQ(w.ScriptPubKey().size(), 34u);
    EXPECT_EQ(w.ScriptPubKey()[0], 0x51);
    EXPECT_EQ(w.Address("bcrt").rfind("bcrt1p", 0), 0u) << w.Address("bcrt");
    EXPECT_EQ(w.Address("bc").rfind("bc1p", 0), 0u);
    // A transaction spending a wallet coin at input 1 (input 0 is someone else's).
    MutableTransaction tx;
    tx.vin.push_back(TxIn{{T(1), 0}, {}, 0xfffffffd, {}});
    tx.vin.push_back(TxIn{{T(2), 3}, {}, 0xfffffffd, {}});
    tx.vout.push_back({Amount{90'000}, w.ScriptPubKey()});
    const std::vector<TxOut> spent{{Amount{50'000}, Bytes(34, 0x51)}, {Amount{60'000}, w.ScriptPubKey()}};
    auto wit = w.SignKeyPath(tx, spent, 1, std::nullopt);
    ASSERT_TRUE(wit);
    ASSERT_EQ(wit->size(), 1u);
    ASSERT_EQ((*wit)[0].size(), 64u) << "SIGHASH_DEFAULT: no hash-type byte";
    auto pre = sighash::Precompute(tx, spent);
    ASSERT_TRUE(pre);
    auto h = sighash::Sighash(tx, *pre, 1, sighash::SIGHASH_DEFAULT, std::nullopt);
    ASSERT_TRUE(h);
    auto q = crypto::XOnlyPubKey::Parse(ByteSpan{w.ScriptPubKey()}.subspan(2));
    ASSERT_TRUE(q);
    EXPECT_TRUE(crypto::SchnorrVerify((*wit)[0], h->span(), *q));
    // Changing anything the signature commits to breaks it.
    tx.vout[0].value = Amount{89'999};
    auto pre2 = sighash::Precompute(tx, spent);
    auto h2 = sighash::Sighash(tx, *pre2, 1, sighash::SIGHASH_DEFAULT, std::nullopt);
    EXPECT_FALSE(crypto::SchnorrVerify((*wit)[0], h2->span(), *q));
    // Not ours, out of range, misaligned: refused.
    EXPECT_FALSE(w.SignKeyPath(tx, spent, 0, std::nullopt));
    EXPECT_FALSE(w.SignKeyPath(tx, spent, 2, std::nullopt));
    EXPECT_FALSE(w.SignKeyPath(tx, std::span<const TxOut>(spent).first(1), 1, std::nullopt));
    EXPECT_FALSE(FeeWallet::FromSecret(Bytes(32, 0)));
}

TEST(fee_wallet_tests, CoinsFollowTheMempoolAndTheChain)
{
    FeeWallet w = Wallet();
    const Transaction fund = Pay({{T(9), 0}}, {{Amount{30'000}, w.ScriptPubKey()}, {Amount{5'000}, Bytes(34, 0x51)}, {Amount{70'000}, w.ScriptPubKey()}});
    EXPECT_TRUE(w.Touches(fund));
    EXPECT_TRUE(w.ApplyTx(fund, std::nullopt));
    ASSERT_EQ(w.Coins().size(), 2u);
    EXPECT_EQ(w.SpendableBalance(), Amount{0}) << "unconfirmed coins are not spent";
    EXPECT_EQ(w.PendingBalance(), Amount{100'000});
    EXPECT_TRUE(w.ApplyTx(fund, 200));
    EXPECT_TRUE(w.ApplyTx(fund, 200)); // idempotent
    ASSERT_EQ(w.Coins().size(), 2u);
    EXPECT_EQ(w.SpendableBalance(), Amount{100'000});
    EXPECT_EQ(w.PendingBalance(), Amount{0});
    // A recovery spends the 30k coin in the mempool, then in a block.
    const Transaction spend = Pay({{T(7), 0}, {fund.GetTxid(), 0}}, {{Amount{1}, Bytes(34, 0x51)}});
    EXPECT_TRUE(w.Touches(spend));
    w.ApplyTx(spend, std::nullopt);
    EXPECT_EQ(w.SpendableBalance(), Amount{70'000});
    EXPECT_EQ(w.Coins()[0].spent_by.has_value() + w.Coins()[1].spent_by.has_value(), 1);
    w.ApplyTx(spend, 201);
    ASSERT_EQ(w.Coins().size(), 1u);
    EXPECT_EQ(w.Coins()[0].amount, Amount{70'000});
    EXPECT_FALSE(w.Touches(Pay({{T(5), 5}}, {{Amount{1}, Bytes(34, 0x51)}})));
    w.Clear();
    EXPECT_TRUE(w.Coins().empty());
}

FeeCoin Coin(uint8_t id, int64_t sats, bool confirmed = true)
{
    return FeeCoin{{T(id), 0}, Amount{sats}, confirmed ? std::optional<int>{100} : std::nullopt, std::nullopt};
}

TEST(fee_wallet_tests, ExactCoinSelection)
{
    const std::vector<FeeCoin> coins{Coin(1, 5'000), Coin(2, 20'000), Coin(3, 12'000), Coin(4, 12'000), Coin(5, 9'000, false)};
    // The smallest sufficient confirmed coin; equal amounts by outpoint.
    EXPECT_EQ(SelectExactCoin(coins, Amount{10'000}, Amount{50'000}, {})->outpoint.txid, T(3));
    EXPECT_EQ(SelectExactCoin(coins, Amount{10'000}, Amount{50'000}, {{T(3), 0}})->outpoint.txid, T(4));
    EXPECT_EQ(SelectExactCoin(coins, Amount{4'000}, Amount{50'000}, {})->outpoint.txid, T(1));
    // The unconfirmed 9k coin is not used.
    EXPECT_EQ(SelectExactCoin(coins, Amount{8'000}, Amount{50'000}, {})->outpoint.txid, T(3));
    EXPECT_EQ(SelectExactCoin(coins, Amount{25'000}, Amount{50'000}, {}).error(), SelectError::InsufficientFunds);
    EXPECT_EQ(SelectExactCoin(coins, Amount{13'000}, Amount{15'000}, {}).error(), SelectError::OverCap);
    EXPECT_EQ(SelectExactCoin({}, Amount{1}, Amount{15'000}, {}).error(), SelectError::NoCoins);
}

TEST(fee_wallet_tests, TheIndexByAmountPicksWhatExactSelectionPicks)
{
    // Coins paid, confirmed, spent in the mempool and in blocks, in a random order: after every
    // step the wallet's index gives, for any amount and any coins held elsewhere, the coin
    // SelectExactCoin picks from a pass over every coin.
    FeeWallet w = Wallet();
    std::mt19937 rng(7);
    std::vector<std::pair<Transaction, bool>> funds; // and whether confirmed
    std::vector<OutPoint> outs;
    for (int step = 0; step < 400; ++step) {
        const int what = static_cast<int>(rng() % 4);
        if (what == 0 || outs.empty()) {
            // A payment of 1-3 coins (amounts often equal: ties are broken by outpoint).
            std::vector<TxOut> o;
            for (uint32_t k = 0, n = 1 + rng() % 3; k < n; ++k) o.push_back({Amount{static_cast<int64_t>(1'000 * (1 + rng() % 20))}, w.ScriptPubKey()});
            Transaction t = Pay({OutPoint{T(static_cast<uint8_t>(step)), static_cast<uint32_t>(step)}}, o);
            w.ApplyTx(t, std::nullopt);
            for (uint32_t k = 0; k < o.size(); ++k) outs.push_back(OutPoint{t.GetTxid(), k});
            funds.emplace_back(std::move(t), false);
        } else if (what == 1) {
            auto& [t, confirmed] = funds[rng() % funds.size()];
            w.ApplyTx(t, 100 + step);
            confirmed = true;
        } else {
            // A spend of one coin: in the mempool, or in a block.
            const OutPoint o = outs[rng() % outs.size()];
            Transaction t = Pay({o}, {TxOut{Amount{500}, Bytes{0x51}}});
            w.ApplyTx(t, what == 2 ? std::nullopt : std::optional<int>{100 + step});
        }
        std::set<OutPoint> held;
        for (const auto& o : outs) {
            if (rng() % 5 == 0) held.insert(o);
        }
        const std::vector<FeeCoin> all = w.Coins();
        for (int64_t need : {0, 1'000, 4'500, 10'000, 19'999, 20'000, 25'000}) {
            auto want = SelectExactCoin(all, Amount{need}, MAX_MONEY, held);
            auto got = w.SmallestSpendableAtLeast(Amount{need}, [&](const OutPoint& o) { return held.contains(o); });
            ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step << ", need " << need;
            if (got) ASSERT_EQ(*got, *want) << "step " << step << ", need " << need;
        }
    }
}

TEST(fee_wallet_tests, CoinSelectionWithChangeTakesTheFewestCoins)
{
    const std::vector<FeeCoin> coins{Coin(1, 5'000), Coin(2, 20'000), Coin(3, 12'000)};
    const FeeRate rate{10'000}; // 10 sat/vB: each input costs 580 sats
    auto one = SelectCoins(coins, Amount{15'000}, rate, {});
    ASSERT_TRUE(one);
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].outpoint.txid, T(2));
    auto two = SelectCoins(coins, Amount{25'000}, rate, {});
    ASSERT_TRUE(two);
    ASSERT_EQ(two->size(), 2u);
    EXPECT_EQ((*two)[1].outpoint.txid, T(3));
    // 37,000 total; 36,000 + 3 inputs (1,740) is more.
    EXPECT_EQ(SelectCoins(coins, Amount{36'000}, rate, {}).error(), SelectError::InsufficientFunds);
    EXPECT_EQ(SelectCoins(coins, Amount{1}, rate, {{T(1), 0}, {T(2), 0}, {T(3), 0}}).error(), SelectError::NoCoins);
}

TEST(fee_wallet_tests, CoverageCountsCoinsThatPayOneRecoveryEach)
{
    const std::vector<FeeCoin> coins{Coin(1, 1'000), Coin(2, 20'000), Coin(3, 3'890), Coin(4, 3'889), Coin(5, 50'000, false)};
    const auto c = ComputeCoverage(coins, FeeRate{20'000}, 136); // (136 + 58) vB x 20 sat/vB
    EXPECT_EQ(c.fee_per_recovery, Amount{3'880});
    EXPECT_EQ(c.recoveries, 3u);
}

TEST(fee_wallet_tests, CpfpChildSpendsTheUnauthorizedRecoverysAnchor)
{
    // An unauthorized OP_VAULT recovery pays the wallet nothing: its 0-value OP_2 anchor is what a
    // child can spend (anyone can, with an empty witness), plus a coin for the fee.
    const FeeWallet w = Wallet();
    const Transaction parent = Pay({{T(3), 0}}, {{Amount{500'000}, Bytes(34, 0x51)}, {Amount{0}, Bytes{0x52}}});
    const FeeRate rate{5'000};
    const std::vector<FeeCoin> coins{Coin(1, 100'000), Coin(2, 3'000)};
    EXPECT_EQ(BuildCpfpChild(w, parent, Amount{0}, rate, coins, {}).error(), SelectError::NoCoins) << "not without use_anchor";
    auto child = BuildCpfpChild(w, parent, Amount{0}, rate, coins, {}, /*use_anchor=*/true);
    ASSERT_TRUE(child) << ToString(child.error());
    ASSERT_EQ(child->vin.size(), 2u);
    EXPECT_EQ(child->vin[0].prevout, (OutPoint{parent.GetTxid(), 1}));
    EXPECT_TRUE(child->vin[0].witness.empty()) << "the anchor needs no signature";
    EXPECT_EQ(child->vin[1].prevout.txid, T(2));
    const Transaction c{*child};
    const Amount fee = Amount{3'000} - c.vout()[0].value;
    EXPECT_GE(fee, rate.FeeFor(static_cast<int64_t>(parent.VSize() + c.VSize()))) << "the package pays the rate";
    // The coin's signature commits to both spent outputs, the anchor's included.
    const std::vector<TxOut> spent{parent.vout()[1], {Amount{3'000}, w.ScriptPubKey()}};
    auto pre = sighash::Precompute(*child, spent);
    auto q = crypto::XOnlyPubKey::Parse(ByteSpan{w.ScriptPubKey()}.subspan(2));
    auto h = sighash::Sighash(*child, *pre, 1, sighash::SIGHASH_DEFAULT, std::nullopt);
    EXPECT_TRUE(crypto::SchnorrVerify(child->vin[1].witness.at(0), h->span(), *q));
}

TEST(fee_wallet_tests, CpfpChildPaysForThePackage)
{
    const FeeWallet w = Wallet();
    // A zero-fee parent with a 1,000 sat output to the wallet (as an operator pre-signs it).
    const Transaction parent = Pay({{T(3), 0}}, {{Amount{500'000}, Bytes(34, 0x51)}, {Amount{1'000}, w.ScriptPubKey()}});
    const FeeRate rate{5'000}; // 5 sat/vB
    // The parent's own output is too small for the package fee: one coin is added.
    const std::vector<FeeCoin> coins{Coin(1, 100'000), Coin(2, 3'000), Coin(4, 50'000, false)};
    auto child = BuildCpfpChild(w, parent, Amount{0}, rate, coins, {});
    ASSERT_TRUE(child) << ToString(child.error());
    ASSERT_EQ(child->vin.size(), 2u);
    EXPECT_EQ(child->vin[0].prevout, (OutPoint{parent.GetTxid(), 1}));
    EXPECT_EQ(child->vin[1].prevout.txid, T(2)) << "the smallest coin that covers it";
    ASSERT_EQ(child->vout.size(), 1u);
    EXPECT_EQ(child->vout[0].script_pubkey, w.ScriptPubKey());
    const Transaction c{*child};
    const Amount fee = Amount{1'000 + 3'000} - c.vout()[0].value;
    EXPECT_GE(fee, rate.FeeFor(static_cast<int64_t>(parent.VSize() + c.VSize()))) << "the package pays the rate";
    EXPECT_LT(fee, rate.FeeFor(static_cast<int64_t>(parent.VSize() + c.VSize())) + Amount{10});
    EXPECT_GE(c.vout()[0].value, P2TR_DUST);
    // Both inputs are signed and verify.
    const std::vector<TxOut> spent{parent.vout()[1], {Amount{3'000}, w.ScriptPubKey()}};
    auto pre = sighash::Precompute(*child, spent);
    auto q = crypto::XOnlyPubKey::Parse(ByteSpan{w.ScriptPubKey()}.subspan(2));
    for (uint32_t i = 0; i < 2; ++i) {
        auto h = sighash::Sighash(*child, *pre, i, sighash::SIGHASH_DEFAULT, std::nullopt);
        EXPECT_TRUE(crypto::SchnorrVerify(child->vin[i].witness.at(0), h->span(), *q));
    }
    // Deterministic.
    EXPECT_EQ(ComputeTxid(*BuildCpfpChild(w, parent, Amount{0}, rate, coins, {})), ComputeTxid(*child));
    // A parent already paying most of it needs no coin.
    auto light = BuildCpfpChild(w, parent, Amount{2'000}, FeeRate{1'000}, coins, {});
    ASSERT_TRUE(light);
    EXPECT_EQ(light->vin.size(), 1u);
    // Nothing to pay with.
    EXPECT_EQ(BuildCpfpChild(w, parent, Amount{0}, rate, {}, {}).error(), SelectError::InsufficientFunds);
    const Transaction stranger = Pay({{T(3), 0}}, {{Amount{500'000}, Bytes(34, 0x51)}});
    EXPECT_EQ(BuildCpfpChild(w, stranger, Amount{0}, rate, {}, {}).error(), SelectError::NoCoins);
}

TEST(fee_wallet_tests, ALargeCoinIsSplitIntoRecoverySizedCoinsAheadOfNeed)
{
    const FeeWallet w = Wallet();
    const FeeRate rate{20'000};
    const Amount unit = SplitUnit(rate);
    EXPECT_EQ(unit, Amount{2 * rate.FeeFor(UNAUTHORIZED_RECOVERY_VSIZE + KEY_PATH_INPUT_VSIZE).sats()});
    EXPECT_EQ(SplitUnit(FeeRate{0}), P2TR_DUST);
    // One large coin: split into 4 coins of unit and the change, paying rate for its real size.
    const std::vector<FeeCoin> one{Coin(1, 1'000'000), Coin(2, 5'000'000, false)};
    auto split = BuildSplit(w, one, {}, unit, 4, rate);
    ASSERT_TRUE(split);
    const Transaction tx{*split};
    ASSERT_EQ(tx.vin().size(), 1u);
    EXPECT_EQ(tx.vin()[0].prevout, (OutPoint{T(1), 0})) << "the confirmed coin, not the larger pending one";
    ASSERT_EQ(tx.vout().size(), 5u);
    Amount out{0};
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(tx.vout()[i].value, unit);
    for (const auto& o : tx.vout()) {
        EXPECT_EQ(o.script_pubkey, w.ScriptPubKey());
        out += o.value;
    }
    const Amount fee = Amount{1'000'000} - out;
    const auto vsize = static_cast<int64_t>(tx.VSize());
    EXPECT_GE(fee, rate.FeeFor(vsize)) << "vsize " << vsize;
    EXPECT_LE(fee, rate.FeeFor(vsize + 1)) << "the size estimate is the serialized size";
    // The signature verifies under the wallet's output key.
    const std::vector<TxOut> spent{{Amount{1'000'000}, w.ScriptPubKey()}};
    auto pre = sighash::Precompute(*split, spent);
    auto h = sighash::Sighash(*split, *pre, 0, sighash::SIGHASH_DEFAULT, std::nullopt);
    auto q = crypto::XOnlyPubKey::Parse(ByteSpan{w.ScriptPubKey()}.subspan(2));
    ASSERT_TRUE(h && q);
    EXPECT_TRUE(crypto::SchnorrVerify(tx.vin()[0].witness.at(0), h->span(), *q));
    // Deterministic: the same coins give the same transaction.
    EXPECT_EQ(ComputeTxid(*BuildSplit(w, one, {}, unit, 4, rate)), tx.GetTxid());

    // Enough ready coins (confirmed or pending, not spent, not reserved): nothing to do.
    std::vector<FeeCoin> ready{Coin(1, 1'000'000), Coin(3, unit.sats()), Coin(4, unit.sats() * 3), Coin(5, unit.sats(), false), Coin(6, unit.sats() * 2)};
    EXPECT_FALSE(BuildSplit(w, ready, {}, unit, 4, rate));
    // Only the missing ones are made: a reserved coin and a spent one do not count.
    auto two = BuildSplit(w, ready, {{T(3), 0}}, unit, 4, rate);
    ASSERT_TRUE(two);
    EXPECT_EQ(two->vout.size(), 2u);
    ready[3].spent_by = T(9);
    EXPECT_EQ(BuildSplit(w, ready, {{T(3), 0}}, unit, 4, rate)->vout.size(), 3u);
    // A coin that pays for fewer makes fewer; none large enough (or only pending): nothing.
    const std::vector<FeeCoin> small{Coin(7, unit.sats() * 4 + 1)};
    auto few = BuildSplit(w, small, {}, unit, 4, rate);
    ASSERT_TRUE(few);
    EXPECT_EQ(few->vout.size(), 4u) << "3 coins of unit and the change";
    EXPECT_GE(few->vout.back().value, P2TR_DUST);
    EXPECT_FALSE(BuildSplit(w, std::vector<FeeCoin>{Coin(8, unit.sats() * 3)}, {}, unit, 4, rate));

    EXPECT_FALSE(BuildSplit(w, one, {}, unit, 0, rate));
}

} // namespace
} // namespace vw::vault
