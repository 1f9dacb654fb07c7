// The simulator's BIP-443 (OP_CHECKCONTRACTVERIFY) judge, ccv_interp, held to what a CCV node
// answered (VW_TEST_DATA_DIR/testvectors/ccv-regtest.json and ccv-probe.json, read at run time),
// and the simulator's ccv_active / discourage_op_success modes through its RPC.
//
// vw::vault::ccv appears here only to build transactions for the RPC tests; the interpreter under
// test does not use it.

#include "ccv_interp.h"
#include "regtest_sim.h"

#include "crypto/secp.h"
#include "crypto/sha256.h"
#include "primitives/transaction.h"
#include "script/sighash.h"
#include "script/taproot.h"
#include "util/hex.h"
#include "vault/ccv.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

namespace json = boost::json;
namespace interp = vw::sim::ccv_interp;
namespace ccv = vw::vault::ccv;
using vw::Amount;
using vw::Bytes;
using vw::OutPoint;
using vw::Transaction;
using vw::TxOut;
using vw::sim::RegtestSim;
using vw::sim::RpcError;
using vw::sim::SimConfig;
using Status = interp::InputResult::Status;

const std::string kAmountReason = "non-mandatory-script-verify-flag (Incorrect amount for OP_CHECKCONTRACTVERIFY)";

const std::filesystem::path VECTORS = std::filesystem::path(VW_TEST_DATA_DIR) / "testvectors";

const json::value& Load(const std::string& file)
{
    static std::map<std::string, json::value> cache;
    auto it = cache.find(file);
    if (it != cache.end()) return it->second;
    std::ifstream f(VECTORS / file, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return cache.emplace(file, json::parse(ss.str())).first->second;
}
const json::object& Ccv() { return Load("ccv-regtest.json").as_object(); }

std::string Str(const json::value& v) { return std::string(v.as_string()); }
Bytes Hex(const json::value& v) { return *vw::ParseHex(Str(v)); }
Transaction Tx(const json::value& hex) { return *vw::DecodeTransactionHex(Str(hex)); }

std::vector<TxOut> Prevouts(const json::value& arr)
{
    std::vector<TxOut> out;
    for (const auto& p : arr.as_array()) out.push_back(TxOut{Amount{p.at("value_sats").to_number<int64_t>()}, Hex(p.at("scriptPubKey"))});
    return out;
}

//! The block height at which each recorded transaction was mined (txid -> height).
const std::map<std::string, int>& MinedHeights()
{
    static const std::map<std::string, int> heights = [] {
        std::map<std::string, int> m;
        for (const auto& s : Ccv().at("scenarios").as_array()) {
            for (const auto& st : s.at("steps").as_array()) m[Str(st.at("txid"))] = static_cast<int>(st.at("mined_height").to_number<int64_t>());
        }
        return m;
    }();
    return heights;
}

//! The mempool's verdict on tx in a block at next_height, as the CCV node reaches it: BIP-68
//! (PreChecks), then the scripts (PolicyScriptChecks). Coins of unrecorded txs (the MiniWallet's)
//! count as old. Empty = accepted.
std::string MempoolVerdict(const Transaction& tx, const std::vector<TxOut>& prevouts, int next_height, interp::TxResult* out = nullptr)
{
    std::vector<int> heights;
    for (const auto& in : tx.vin()) {
        auto it = MinedHeights().find(in.prevout.txid.ToString());
        heights.push_back(it == MinedHeights().end() ? 0 : it->second);
    }
    interp::SequenceLockContext ctx;
    ctx.next_height = next_height;
    if (!interp::SequenceLocksSatisfied(tx, heights, ctx)) return "non-BIP68-final";
    auto r = interp::VerifyTx(tx, prevouts);
    if (out) *out = r;
    return r.RejectReason();
}

TEST(CcvInterp, EveryAcceptedScenarioStepPasses)
{
    size_t steps = 0, ccv_inputs = 0;
    for (const auto& s : Ccv().at("scenarios").as_array()) {
        for (const auto& st : s.at("steps").as_array()) {
            const std::string where = Str(s.at("id")) + " " + Str(st.at("kind")) + " " + Str(st.at("txid"));
            const Transaction tx = Tx(st.at("hex"));
            ASSERT_EQ(tx.GetTxid().ToString(), Str(st.at("txid"))) << where;
            const auto prevouts = Prevouts(st.at("prevouts"));
            ASSERT_EQ(prevouts.size(), tx.vin().size()) << where;
            interp::TxResult r;
            EXPECT_EQ(MempoolVerdict(tx, prevouts, static_cast<int>(st.at("mined_height").to_number<int64_t>()), &r), "") << where;
            ASSERT_EQ(r.inputs.size(), tx.vin().size()) << where;
            // Every vault clause is judged (none slips through as "not interpreted"), the
            // MiniWallet's OP_TRUE leaves too; only the alternate key's key path is not run.
            const auto& inputs = st.at("inputs").as_array();
            for (size_t i = 0; i < inputs.size(); ++i) {
                const std::string role = Str(inputs[i].at("role")), path = Str(inputs[i].at("spend_path"));
                EXPECT_EQ(r.inputs[i].status, path == "keypath" ? Status::Skipped : Status::Passed) << where << " input " << i << " (" << role << ")";
                if (path == "script" && (role == "vault" || role == "unvaulting" || role == "revault")) ++ccv_inputs;
            }
            ++steps;
        }
    }
    EXPECT_EQ(steps, 60u);
    EXPECT_EQ(ccv_inputs, 58u);
}

TEST(CcvInterp, EveryRefusedTxFailsWithTheNodesExactReason)
{
    size_t n = 0;
    for (const auto& v : Ccv().at("invalid").as_array()) {
        const std::string id = Str(v.at("id"));
        const Transaction tx = Tx(v.at("hex"));
        const auto prevouts = Prevouts(v.at("prevouts"));
        const std::string want = Str(v.at("reject_reason"));
        const int next_height = static_cast<int>(v.at("tested_at_height").to_number<int64_t>()) + 1;
        EXPECT_EQ(MempoolVerdict(tx, prevouts, next_height), want) << id;
        EXPECT_EQ(Str(v.at("sendrawtransaction_error").at("message")), want) << id; // the vectors' own consistency
        // generateblock refused the same tx: "testBlockValidity failed: <reason>", BIP-68 as
        // "bad-txns-nonfinal", scripts under the block flags with the same label (-par=1).
        const std::string block_err = Str(v.at("generateblock_error").at("message"));
        const std::string prefix = "testBlockValidity failed: ";
        ASSERT_EQ(block_err.rfind(prefix, 0), 0u) << id;
        if (want == "non-BIP68-final") {
            EXPECT_EQ(block_err.substr(prefix.size()), "bad-txns-nonfinal") << id;
            // One block later the same bytes are final, and valid.
            EXPECT_EQ(MempoolVerdict(tx, prevouts, next_height + 1), "") << id;
        } else {
            EXPECT_EQ(interp::VerifyTx(tx, prevouts, interp::Flags::Block()).RejectReason(), block_err.substr(prefix.size())) << id;
        }
        ++n;
    }
    EXPECT_EQ(n, 19u);
}

TEST(CcvInterp, UndefinedModeHazardIsAnyoneCanSpendOnACcvNodeAndAnOpSuccessWithout)
{
    const auto& hz = Ccv().at("hazards").as_array().at(0);
    ASSERT_EQ(Str(hz.at("id")), "hazard-undefined-ccv-mode");
    const auto& spend = hz.at("spend");
    const Transaction tx = Tx(spend.at("hex"));
    const auto prevouts = Prevouts(spend.at("prevouts"));
    ASSERT_TRUE(spend.at("mempool_allowed").as_bool());
    const auto r = interp::VerifyTx(tx, prevouts);
    EXPECT_TRUE(r.ok()) << r.RejectReason();
    EXPECT_EQ(r.inputs.at(0).status, Status::Passed);
    EXPECT_TRUE(interp::VerifyTx(tx, prevouts, interp::Flags::Block()).ok());
    // v31: 0xbb is OP_SUCCESS187, refused by policy.
    EXPECT_EQ(interp::FirstOpSuccessSpend(tx, prevouts), std::optional<size_t>{0});
}

TEST(CcvInterp, WithoutCcvEveryVaultSpendIsAnOpSuccessSpend)
{
    size_t n = 0;
    for (const auto& s : Ccv().at("scenarios").as_array()) {
        for (const auto& st : s.at("steps").as_array()) {
            const Transaction tx = Tx(st.at("hex"));
            const auto prevouts = Prevouts(st.at("prevouts"));
            const auto& inputs = st.at("inputs").as_array();
            std::optional<size_t> first;
            for (size_t i = 0; i < inputs.size() && !first; ++i) {
                const std::string role = Str(inputs[i].at("role"));
                if (Str(inputs[i].at("spend_path")) == "script" && (role == "vault" || role == "unvaulting" || role == "revault")) first = i;
            }
            EXPECT_EQ(interp::FirstOpSuccessSpend(tx, prevouts), first) << Str(st.at("txid"));
            if (first) ++n;
        }
    }
    EXPECT_GT(n, 40u);
    // The V31 message: reason, then CScriptCheck's debug part.
    const auto& trig = Ccv().at("scenarios").as_array().at(0).at("steps").as_array().at(1);
    ASSERT_EQ(Str(trig.at("kind")), "trigger");
    const Transaction tx = Tx(trig.at("hex"));
    EXPECT_EQ(interp::V31ScriptDebug(tx, 0), "input 0 of " + tx.GetTxid().ToString() + " (wtxid " + tx.GetWtxid().ToString() + "), spending " +
                                                 tx.vin()[0].prevout.txid.ToString() + ":" + std::to_string(tx.vin()[0].prevout.n));
}

TEST(CcvInterp, EnforcementProbeAnswersMatchTheCcvNode)
{
    size_t n = 0;
    for (const auto& rec : Load("ccv-probe.json").as_array()) {
        const std::string label = Str(rec.at("label"));
        const auto& probe = rec.at("probe");
        const std::vector<TxOut> prevouts{TxOut{Amount{probe.at("value_sats").to_number<int64_t>()}, Hex(probe.at("scriptPubKey"))}};
        const Transaction valid = Tx(rec.at("valid").at("hex")), violating = Tx(rec.at("violating").at("hex"));
        // Without CCV both spends are OP_SUCCESS spends (v31 refuses both by policy).
        EXPECT_EQ(interp::FirstOpSuccessSpend(valid, prevouts), std::optional<size_t>{0}) << label;
        EXPECT_EQ(interp::FirstOpSuccessSpend(violating, prevouts), std::optional<size_t>{0}) << label;
        if (label.rfind("ccv-node", 0) != 0) continue; // the OP_VAULT prototype is not modelled
        const auto& want_valid = rec.at("valid").at("testmempoolaccept");
        const auto& want_bad = rec.at("violating").at("testmempoolaccept");
        ASSERT_TRUE(want_valid.at("allowed").as_bool()) << label;
        EXPECT_EQ(interp::VerifyTx(valid, prevouts).RejectReason(), "") << label;
        EXPECT_EQ(interp::VerifyTx(violating, prevouts).RejectReason(), Str(want_bad.at("reject-reason"))) << label;
        ++n;
    }
    EXPECT_EQ(n, 2u);
}

const Bytes kOpTrue{0x51};

//! P2WSH(OP_TRUE): fee and change coins. Not taproot, so no script of theirs is run.
Bytes OpTrueWsh()
{
    const vw::Uint256 h = vw::crypto::Sha256Once(kOpTrue);
    Bytes spk(34, 0);
    spk[1] = 0x20;
    std::copy(h.bytes.begin(), h.bytes.end(), spk.begin() + 2);
    return spk;
}

vw::crypto::KeyPair Key(uint8_t fill)
{
    vw::Uint256 s;
    s.bytes.fill(fill);
    return *vw::crypto::KeyPair::FromSecret(s.span());
}

//! A one-leaf P2TR output under the NUMS key and a spend of it with the given initial stack.
struct LeafSpend {
    TxOut prevout;
    vw::MutableTransaction tx;
};
LeafSpend SpendLeaf(const Bytes& leaf, std::vector<Bytes> stack)
{
    auto tree = vw::taproot::TapTree::FromLeaves({{leaf, 0}}).value();
    const auto q = vw::taproot::OutputKey(ccv::NumsKey(), tree.MerkleRoot()).value();
    LeafSpend s;
    s.prevout = TxOut{Amount{100'000}, vw::taproot::P2TRScript(q.xonly)};
    vw::TxIn in;
    in.prevout = OutPoint{*vw::Txid::FromHex(std::string(64, '1')), 0};
    in.sequence = 0xfffffffd;
    in.witness = std::move(stack);
    in.witness.push_back(leaf);
    in.witness.push_back(vw::taproot::MakeControlBlock(tree, 0, ccv::NumsKey(), q).Serialize());
    s.tx.vin.push_back(in);
    s.tx.vout.push_back(TxOut{Amount{90'000}, OpTrueWsh()});
    return s;
}
std::string Verdict(const LeafSpend& s, const interp::Flags& f = interp::Flags::Policy())
{
    return interp::VerifyTx(Transaction{s.tx}, std::vector<TxOut>{s.prevout}, f).RejectReason();
}

TEST(CcvInterp, CommitmentOpSuccessAndScopeEdges)
{
    // A control block that does not commit to the spent key: consensus.
    const auto& st = Ccv().at("scenarios").as_array().at(0).at("steps").as_array().at(1);
    ASSERT_EQ(Str(st.at("kind")), "trigger");
    vw::MutableTransaction t = Tx(st.at("hex")).mutable_copy();
    t.vin[0].witness.back().back() ^= 0x01;
    EXPECT_EQ(interp::VerifyTx(Transaction{t}, Prevouts(st.at("prevouts"))).RejectReason(),
              "mandatory-script-verify-flag-failed (Witness program hash mismatch)");

    // An opcode outside the supported set: not judged, so not refused.
    const LeafSpend verify = SpendLeaf({0x51, 0x69, 0x51}, {}); // OP_1 OP_VERIFY OP_1
    const auto r = interp::VerifyTx(Transaction{verify.tx}, std::vector<TxOut>{verify.prevout});
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.inputs.at(0).status, Status::NotInterpreted);
    // Other OP_SUCCESSx (here OP_VAULT_RECOVER's 0xbc) stay policy-refused on the CCV node, and
    // win over an opcode it does not know; blocks take them.
    const LeafSpend success = SpendLeaf({0x69, 0xbc}, {});
    EXPECT_EQ(Verdict(success), "non-mandatory-script-verify-flag (OP_SUCCESSx reserved for soft-fork upgrades)");
    EXPECT_EQ(Verdict(success, interp::Flags::Block()), "");
    // CTV with an argument that is not 32 bytes: a NOP in blocks, discouraged by policy.
    Bytes ctv31{31};
    ctv31.resize(32, 0x07);
    ctv31.push_back(0xb3);
    const LeafSpend ctv = SpendLeaf(ctv31, {});
    EXPECT_EQ(Verdict(ctv), "non-mandatory-script-verify-flag (NOPx reserved for soft-fork upgrades)");
    EXPECT_EQ(Verdict(ctv, interp::Flags::Block()), "");
    // A non-minimal push is policy; a final stack of two items is consensus.
    EXPECT_EQ(Verdict(SpendLeaf({0x4c, 0x01, 0x07}, {})), "non-mandatory-script-verify-flag (Data push larger than necessary)");
    EXPECT_EQ(Verdict(SpendLeaf({0x51, 0x51}, {})), "mandatory-script-verify-flag-failed (Stack size must be exactly one after execution)");
    // CCV: a non-P2TR target is "Invalid arguments", an index past the outputs "out of bounds",
    // mode 3 anyone-can-spend (the hazard), an empty signature a plain false.
    const Bytes recover_to_nums{0x00, 0x7c, 0x00, 0x00, 0x00, 0xbb, 0x51}; // 0 SWAP <pk 0=NUMS> 0 0 CCV 1
    LeafSpend to_wsh = SpendLeaf(recover_to_nums, {Bytes{}});
    EXPECT_EQ(Verdict(to_wsh), "mandatory-script-verify-flag-failed (Invalid arguments for OP_CHECKCONTRACTVERIFY)");
    LeafSpend past = SpendLeaf(recover_to_nums, {Bytes{1}});
    EXPECT_EQ(Verdict(past), "mandatory-script-verify-flag-failed (Index of input/output out of bounds in OP_CHECKCONTRACTVERIFY)");
    LeafSpend to_nums = SpendLeaf(recover_to_nums, {Bytes{}});
    to_nums.tx.vout[0] = TxOut{Amount{100'000}, vw::taproot::P2TRScript(ccv::NumsKey().span())};
    EXPECT_EQ(Verdict(to_nums), "");
    to_nums.tx.vout[0].value = Amount{99'999};
    EXPECT_EQ(Verdict(to_nums), kAmountReason);
    EXPECT_EQ(Verdict(SpendLeaf({0x00, 0x7c, 0x00, 0x00, 0x53, 0xbb, 0x51}, {Bytes{5}})), ""); // mode 3, index 5
    const auto pk = Key(0x22).PubKey();
    Bytes checksig{0x20};
    checksig.insert(checksig.end(), pk.span().begin(), pk.span().end());
    checksig.push_back(0xac);
    EXPECT_EQ(Verdict(SpendLeaf(checksig, {Bytes{}})),
              "mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)");
    EXPECT_EQ(Verdict(SpendLeaf(checksig, {Bytes(63, 1)})), "mandatory-script-verify-flag-failed (Invalid Schnorr signature size)");
    EXPECT_EQ(Verdict(SpendLeaf(checksig, {Bytes(64, 1)})), "mandatory-script-verify-flag-failed (Invalid Schnorr signature)");
}

TEST(CcvInterp, MinusOneOutputIndexIsTheInputsOwnIndex)
{
    // BIP-443 (and the node's CheckContract): index -1 is the current input's index, for outputs
    // too. A trigger naming its unvaulting output as -1 (0x81, minimal) is as valid as with 0
    // when both are 0; the witness is not signed, so the recorded signature still holds.
    const auto& trig = Ccv().at("scenarios").as_array().at(0).at("steps").as_array().at(1);
    ASSERT_EQ(Str(trig.at("kind")), "trigger");
    vw::MutableTransaction m = Tx(trig.at("hex")).mutable_copy();
    ASSERT_EQ(m.vin[0].witness.size(), 5u);
    ASSERT_TRUE(m.vin[0].witness[2].empty()); // out_i 0
    m.vin[0].witness[2] = Bytes{0x81};
    const auto prevouts = Prevouts(trig.at("prevouts"));
    EXPECT_EQ(interp::VerifyTx(Transaction{m}, prevouts).RejectReason(), "");
    EXPECT_EQ(interp::VerifyTx(Transaction{m}, prevouts, interp::Flags::Block()).RejectReason(), "");
    // A non-minimal 0 is a block-valid index the mempool refuses (MINIMALDATA: CScriptNum throws).
    m.vin[0].witness[2] = Bytes{0x00};
    EXPECT_EQ(interp::VerifyTx(Transaction{m}, prevouts).RejectReason(), "non-mandatory-script-verify-flag (unknown error)");
    EXPECT_EQ(interp::VerifyTx(Transaction{m}, prevouts, interp::Flags::Block()).RejectReason(), "");
}

// ---- through the simulator's RPC --------------------------------------------------------------

SimConfig Config(bool ccv_active, bool discourage_op_success = false, bool vault_active = false)
{
    SimConfig c;
    c.rpc_user = "u";
    c.rpc_password = "p";
    c.ccv_active = ccv_active;
    c.discourage_op_success = discourage_op_success;
    c.vault_active = vault_active;
    return c;
}

std::string HexOf(const vw::MutableTransaction& tx) { return vw::HexStr(vw::SerializeTransaction(tx)); }

//! A simulator with mature coinbases, and helpers to spend them.
struct Chain {
    RegtestSim sim;
    explicit Chain(SimConfig c) : sim(std::move(c))
    {
        sim.Start();
        sim.Generate(101);
    }
    ~Chain() { sim.Stop(); }
    int Height() { return sim.Height(); }
    //! The coinbase of block h (50 BTC to the default mining address, not taproot).
    OutPoint Coinbase(int h)
    {
        const auto blk = sim.Call("getblock", {sim.Call("getblockhash", {h}), 1});
        return OutPoint{*vw::Txid::FromHex(Str(blk.at("tx").as_array()[0])), 0};
    }
    //! Spends coinbase h (50 BTC) into outs, the rest less a fee to a last change output; sent
    //! and mined.
    Transaction Fund(int h, std::vector<TxOut> outs)
    {
        Amount rest{50 * 100'000'000LL - 10'000};
        for (const auto& o : outs) rest -= o.value;
        outs.push_back(TxOut{rest, OpTrueWsh()});
        vw::MutableTransaction m;
        vw::TxIn in;
        in.prevout = Coinbase(h);
        in.sequence = 0xfffffffd;
        in.witness = {Bytes(64, 0x5a)};
        m.vin.push_back(in);
        m.vout = std::move(outs);
        Transaction tx{m};
        EXPECT_EQ(Str(sim.Call("sendrawtransaction", {HexOf(m)})), tx.GetTxid().ToString());
        sim.Generate(1);
        return tx;
    }
    std::string Send(const vw::MutableTransaction& m) { return Str(sim.Call("sendrawtransaction", {HexOf(m)})); }
    //! The -26/-25 error of sendrawtransaction, or "accepted".
    std::string SendError(const vw::MutableTransaction& m)
    {
        try {
            Send(m);
            return "accepted";
        } catch (const RpcError& e) {
            return std::to_string(e.code) + " " + e.what();
        }
    }
    json::object TestAccept(const vw::MutableTransaction& m)
    {
        return sim.Call("testmempoolaccept", {json::array{json::string(HexOf(m))}}).as_array().at(0).as_object();
    }
    std::string GenerateBlockError(const vw::MutableTransaction& m)
    {
        try {
            sim.Call("generateblock", {json::string(vw::sim::DefaultMiningAddress()), json::array{json::string(HexOf(m))}});
            return "mined";
        } catch (const RpcError& e) {
            return std::to_string(e.code) + " " + e.what();
        }
    }
};

ccv::Vault MakeVault(ccv::Construction c, int64_t delay)
{
    ccv::Params p{c, std::nullopt, delay, Key(0x11).PubKey(), Key(0x22).PubKey()};
    return ccv::Vault::FromParams(p).value();
}

//! A keyless recover of vault output `vault_out` of funding (fee from funding output fee_out,
//! change back to P2WSH(OP_TRUE)).
vw::MutableTransaction Recover(const ccv::Vault& v, const Transaction& funding, uint32_t vault_out, uint32_t fee_out)
{
    vw::vault::RecoveryOptions opts;
    opts.fee_inputs.push_back(vw::vault::FeeInput{OutPoint{funding.GetTxid(), fee_out}, funding.vout()[fee_out], {kOpTrue}});
    const std::vector<ccv::RecoverInput> ins{{OutPoint{funding.GetTxid(), vault_out}, funding.vout()[vault_out], &v, std::nullopt}};
    const TxOut change{funding.vout()[fee_out].value - Amount{10'000}, OpTrueWsh()};
    return ccv::BuildRecover(ins, change, opts).value();
}

constexpr int64_t BTC = 100'000'000;
const std::string& kAmount = kAmountReason;

TEST(CcvSim, RecoverAcceptedAndOneSatShortRefusedWithTheAmountReason)
{
    Chain c{Config(/*ccv_active=*/true)};
    const ccv::Vault v = MakeVault(ccv::Construction::Ctv, 10);
    const Transaction f = c.Fund(1, {TxOut{Amount{BTC}, v.ScriptPubKey()}, TxOut{Amount{48 * BTC}, OpTrueWsh()}});
    const vw::MutableTransaction good = Recover(v, f, 0, 1);
    ASSERT_EQ(good.vout.at(0).script_pubkey, v.RecoverySpk());
    ASSERT_EQ(good.vout.at(0).value, Amount{BTC});
    vw::MutableTransaction short_by_one = good;
    short_by_one.vout[0].value = Amount{BTC - 1};

    const auto tma = c.TestAccept(short_by_one);
    EXPECT_FALSE(tma.at("allowed").as_bool());
    EXPECT_EQ(Str(tma.at("reject-reason")), kAmount);
    EXPECT_EQ(Str(tma.at("reject-details")), kAmount); // the CCV node adds no debug part
    EXPECT_EQ(c.SendError(short_by_one), "-26 " + kAmount);
    EXPECT_EQ(c.GenerateBlockError(short_by_one), "-25 TestBlockValidity failed: " + kAmount);

    EXPECT_TRUE(c.TestAccept(good).at("allowed").as_bool());
    EXPECT_EQ(c.Send(good), vw::ComputeTxid(good).ToString());
    c.sim.Generate(1);
    EXPECT_TRUE(c.sim.Call("getrawmempool").as_array().empty());
    EXPECT_TRUE(c.sim.Call("gettxout", {f.GetTxid().ToString(), 0}).is_null());

    // A recover to another key: the contract check, a consensus failure.
    vw::MutableTransaction elsewhere = Recover(v, c.Fund(2, {TxOut{Amount{BTC}, v.ScriptPubKey()}, TxOut{Amount{48 * BTC}, OpTrueWsh()}}), 0, 1);
    elsewhere.vout[0].script_pubkey = vw::taproot::P2TRScript(Key(0x44).PubKey().span());
    EXPECT_EQ(c.SendError(elsewhere), "-26 mandatory-script-verify-flag-failed (Mismatching contract data or program)");
}

TEST(CcvSim, TriggerThenWithdrawalWaitsForTheDelayAsBip68AndCsvSay)
{
    Chain c{Config(/*ccv_active=*/true)};
    constexpr int64_t DELAY = 5;
    const ccv::Vault v = MakeVault(ccv::Construction::WithdrawalKey, DELAY);
    const Transaction f = c.Fund(1, {TxOut{Amount{BTC}, v.ScriptPubKey()}, TxOut{Amount{10 * BTC}, OpTrueWsh()}, TxOut{Amount{10 * BTC}, OpTrueWsh()}});

    // The trigger: vault -> unvaulting(withdrawal key), fee from output 1.
    const auto w_key = Key(0x33).PubKey();
    const Bytes data(w_key.span().begin(), w_key.span().end());
    const auto u = v.UnvaultingFor(data).value();
    vw::MutableTransaction t;
    t.vin.push_back(vw::TxIn{OutPoint{f.GetTxid(), 0}, {}, 0, {}});
    t.vin.push_back(vw::TxIn{OutPoint{f.GetTxid(), 1}, {}, 0, {kOpTrue}});
    t.vout = {TxOut{Amount{BTC}, u.spk}, TxOut{Amount{10 * BTC - 10'000}, OpTrueWsh()}};
    const Bytes leaf = v.tree().leaves()[*v.LeafIndex(ccv::Clause::Trigger)].script;
    const auto pre = vw::sighash::Precompute(t, {f.vout()[0], f.vout()[1]}).value();
    const auto h = vw::sighash::Sighash(t, pre, 0, vw::sighash::SIGHASH_DEFAULT,
                                        vw::sighash::ScriptPath{vw::taproot::LeafHash(vw::taproot::LEAF_VERSION_TAPSCRIPT, leaf), 0xffffffff})
                       .value();
    const auto sig = Key(0x22).Sign(h.span(), std::nullopt);
    t.vin[0].witness = {Bytes(sig.begin(), sig.end()), data, Bytes{}, leaf, v.ControlBlockFor(ccv::Clause::Trigger).Serialize()};
    vw::MutableTransaction bad_sig = t;
    bad_sig.vin[0].witness[0].back() ^= 0x01;
    EXPECT_EQ(Str(c.TestAccept(bad_sig).at("reject-reason")), "mandatory-script-verify-flag-failed (Invalid Schnorr signature)");
    c.Send(t);
    c.sim.Generate(1);
    const int trigger_height = c.Height();

    // The withdrawal: unvaulting -> OP_1 <withdrawal key>, nSequence = the delay, fee from output 2.
    vw::MutableTransaction w;
    const Transaction trig{t};
    w.vin.push_back(vw::TxIn{OutPoint{trig.GetTxid(), 0}, {}, static_cast<uint32_t>(DELAY), {data, v.unvaulting_tree().leaves()[0].script, u.withdraw_cb.Serialize()}});
    w.vin.push_back(vw::TxIn{OutPoint{f.GetTxid(), 2}, {}, 0, {kOpTrue}});
    w.vout = {TxOut{Amount{BTC}, vw::taproot::P2TRScript(w_key.span())}, TxOut{Amount{10 * BTC - 10'000}, OpTrueWsh()}};

    // BIP-68: mineable at trigger_height + DELAY at the earliest, so refused one block before.
    c.sim.Generate(static_cast<int>(DELAY) - 2);
    ASSERT_EQ(c.Height(), trigger_height + DELAY - 2);
    EXPECT_EQ(c.SendError(w), "-26 non-BIP68-final");
    EXPECT_EQ(c.GenerateBlockError(w), "-25 TestBlockValidity failed: bad-txns-nonfinal");
    c.sim.Generate(1);
    // A shorter nSequence is final but fails the leaf's CSV (CSV is a mandatory flag there).
    vw::MutableTransaction w_seq = w;
    w_seq.vin[0].sequence = static_cast<uint32_t>(DELAY - 1);
    EXPECT_EQ(c.SendError(w_seq), "-26 mandatory-script-verify-flag-failed (Locktime requirement not satisfied)");
    // Another destination than the key the trigger committed to.
    vw::MutableTransaction w_dest = w;
    w_dest.vout[0].script_pubkey = vw::taproot::P2TRScript(Key(0x44).PubKey().span());
    EXPECT_EQ(c.SendError(w_dest), "-26 mandatory-script-verify-flag-failed (Mismatching contract data or program)");
    EXPECT_EQ(c.Send(w), vw::ComputeTxid(w).ToString());
}

TEST(CcvSim, WithoutCcvVaultSpendsAreRefusedByV31PolicyButBlocksTakeThem)
{
    Chain c{Config(/*ccv_active=*/false, /*discourage_op_success=*/true)};
    const ccv::Vault v = MakeVault(ccv::Construction::Ctv, 10);
    const Transaction f = c.Fund(1, {TxOut{Amount{BTC}, v.ScriptPubKey()}, TxOut{Amount{48 * BTC}, OpTrueWsh()}});
    const vw::MutableTransaction rec = Recover(v, f, 0, 1);
    const Transaction tx{rec};
    const std::string reason{interp::kV31OpSuccessReason};
    EXPECT_EQ(reason, "mempool-script-verify-flag-failed (OP_SUCCESSx reserved for soft-fork upgrades)");
    const std::string details = reason + ", input 0 of " + tx.GetTxid().ToString() + " (wtxid " + tx.GetWtxid().ToString() + "), spending " +
                                f.GetTxid().ToString() + ":0";
    const auto tma = c.TestAccept(rec);
    EXPECT_EQ(Str(tma.at("reject-reason")), reason);
    EXPECT_EQ(Str(tma.at("reject-details")), details);
    EXPECT_EQ(c.SendError(rec), "-26 " + details);
    // Even one 1 sat short is only an OP_SUCCESS spend here; a block takes either.
    vw::MutableTransaction short_by_one = rec;
    short_by_one.vout[0].value = Amount{BTC - 1};
    EXPECT_EQ(c.GenerateBlockError(short_by_one), "mined");
    EXPECT_TRUE(c.sim.Call("gettxout", {f.GetTxid().ToString(), 0}).is_null());
}

TEST(CcvSim, DefaultAndOpVaultSimulatorsStillTakeVaultSpendsUnchecked)
{
    // The default simulator runs no scripts; the OP_VAULT prototype's 0xbb is not modelled.
    for (const auto& cfg : {Config(false), Config(false, /*discourage_op_success=*/true, /*vault_active=*/true)}) {
        Chain c{cfg};
        const ccv::Vault v = MakeVault(ccv::Construction::Ctv, 10);
        const Transaction f = c.Fund(1, {TxOut{Amount{BTC}, v.ScriptPubKey()}, TxOut{Amount{48 * BTC}, OpTrueWsh()}});
        vw::MutableTransaction short_by_one = Recover(v, f, 0, 1);
        short_by_one.vout[0].value = Amount{BTC - 1};
        EXPECT_EQ(c.SendError(short_by_one), "accepted") << cfg.vault_active;
    }
}

} // namespace
