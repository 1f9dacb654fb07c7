// sendrawtransaction refusals, classified: every recorded bitcoind v31.0 reply in the wire
// captures, and the v25 wording of the OP_VAULT prototype (Bitcoin Inquisition 25.1).
#include "chain/send_outcome.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace vw::chain {
namespace {
namespace json = boost::json;

TEST(send_outcome_tests, RecordedV31Replies)
{
    // What the engine must do with each recorded refusal.
    const std::map<std::string, SendOutcome> want{
        {"sendrawtransaction_already_confirmed", SendOutcome::InChain},
        {"sendrawtransaction_double_spend_conflict_lower_fee", SendOutcome::Outbid},
        {"sendrawtransaction_missing_inputs", SendOutcome::InputsGone},
        {"jsonrpc2_sendrawtransaction_missing_inputs", SendOutcome::InputsGone},
        {"sendrawtransaction_invalid_hex", SendOutcome::Invalid},
        {"sendrawtransaction_hex_not_a_tx", SendOutcome::Invalid},
        {"sendrawtransaction_fee_too_low_zero_fee", SendOutcome::FeeTooLow},
        {"sendrawtransaction_maxfeerate_exceeded", SendOutcome::NonStandard},
    };
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/bitcoind-wire/rpc-exchanges.json");
    std::stringstream ss;
    ss << f.rdbuf();
    const json::value all = json::parse(ss.str());
    size_t seen = 0;
    for (const auto& x : all.as_array()) {
        const std::string name(x.at("name").as_string());
        boost::system::error_code ec;
        const auto req = json::parse(x.at("request").at("body").as_string(), ec);
        if (ec || !req.is_object() || !req.as_object().contains("method") || req.at("method") != "sendrawtransaction") continue;
        const auto body = json::parse(x.at("response").at("body").as_string()).as_object();
        const auto* err = body.if_contains("error");
        if (!err || err->is_null()) continue; // a success: nothing to classify
        auto it = want.find(name);
        ASSERT_NE(it, want.end()) << "a recorded refusal with no expected class: " << name << " " << json::serialize(*err);
        const auto got = ClassifySendError(static_cast<int>(err->at("code").as_int64()), err->at("message").as_string());
        EXPECT_EQ(ToString(got), ToString(it->second)) << name << ": " << json::serialize(*err);
        ++seen;
    }
    EXPECT_EQ(seen, want.size()) << "every expected refusal is in the captures";
}

TEST(send_outcome_tests, EveryRejectTheEngineActsOn)
{
    struct Case {
        int code;
        const char* message;
        SendOutcome want;
    };
    const Case cases[] = {
        // v25 (the OP_VAULT prototype) and v31 wording of the same refusals.
        {-27, "Transaction already in block chain", SendOutcome::InChain},
        {-27, "Transaction outputs already in utxo set", SendOutcome::InChain},
        {-26, "txn-already-known", SendOutcome::InChain},
        {-26, "txn-already-in-mempool", SendOutcome::Accepted},
        {-26, "min relay fee not met, 0 < 154", SendOutcome::FeeTooLow},
        {-26, "mempool min fee not met, 100 < 2000", SendOutcome::FeeTooLow},
        {-26, "insufficient fee, rejecting replacement 00ff, not enough additional fees to relay; 0.000001 < 0.0000015",
         SendOutcome::Outbid},
        {-26, "insufficient fee, rejecting replacement 00ff; new feerate 0.00001 <= old feerate 0.00002", SendOutcome::Outbid},
        {-26, "txn-mempool-conflict", SendOutcome::Outbid},
        {-26, "replacement-adds-unconfirmed, replacement 00ff adds unconfirmed input", SendOutcome::Outbid},
        {-26, "too many potential replacements, rejecting replacement 00ff; too many potential replacements (101 > 100)",
         SendOutcome::Outbid},
        {-25, "bad-txns-inputs-missingorspent", SendOutcome::InputsGone},
        {-25, "Missing inputs", SendOutcome::InputsGone},
        {-26, "missing-inputs", SendOutcome::InputsGone},
        {-26, "scriptpubkey", SendOutcome::NonStandard},
        {-26, "dust", SendOutcome::NonStandard},
        {-26, "tx-size", SendOutcome::NonStandard},
        {-26, "bad-witness-nonstandard", SendOutcome::NonStandard},
        {-26, "non-mandatory-script-verify-flag (Witness version reserved for soft-fork upgrades)", SendOutcome::NonStandard},
        {-26, "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]", SendOutcome::NonStandard},
        {-26, "non-BIP68-final", SendOutcome::NonStandard},
        {-26, "non-final", SendOutcome::NonStandard},
        {-26, "bad-txns-nonfinal, non-final transaction", SendOutcome::NonStandard},
        {-26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 3", SendOutcome::NonStandard},
        {-26, "mandatory-script-verify-flag-failed (Invalid Schnorr signature)", SendOutcome::Invalid},
        {-26, "bad-txns-in-belowout, value in (0.1) < value out (0.2)", SendOutcome::Invalid},
        {-26, "bad-txns-inputs-duplicate", SendOutcome::Invalid},
        {-22, "TX decode failed. Make sure the tx has at least one input.", SendOutcome::Invalid},
        {-28, "Loading block index...", SendOutcome::Unreachable},
        {-1, "something new", SendOutcome::Invalid},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(ToString(ClassifySendError(c.code, c.message)), ToString(c.want)) << c.code << " " << c.message;
    }
}

TEST(send_outcome_tests, TransientAndAccepted)
{
    EXPECT_TRUE(IsTransient(SendOutcome::Unreachable));
    EXPECT_FALSE(IsTransient(SendOutcome::FeeTooLow));
    EXPECT_TRUE(IsAccepted(SendOutcome::InChain));
    EXPECT_TRUE(IsAccepted(SendOutcome::Accepted));
    EXPECT_FALSE(IsAccepted(SendOutcome::Outbid));
}

} // namespace
} // namespace vw::chain
