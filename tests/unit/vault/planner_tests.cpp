// The planner (planner.h) against the real OP_VAULT transactions of
// tests/data/testvectors/opvault-regtest.json: ApplyEvents' bookkeeping along the scenarios;
// PlanRecovery rebuilds the recorded recoveries, authorized ones signed and verified, groups
// swept in registration order and split by weight; fee inputs, batching across groups, RBF read
// back from a transaction; presigned ladders and the panic button (PlanVaultRecovery). Presigned
// vaults are synthetic (scenario_test_util.h).

#include "vault/planner.h"

#include "script/sighash.h"
#include "unit/vault/opvault_test_util.h"
#include "unit/vault/scenario_test_util.h"
#include "vault/fee_wallet.h"
#include "vault/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace vw::vault {
namespace {

using namespace testutil;

//! Index of the step of a given kind directly after step i, if any.
const json::value* NextStep(const json::value& sc, size_t i)
{
    const auto& steps = sc.at("steps").as_array();
    return i + 1 < steps.size() ? &steps[i + 1] : nullptr;
}

//! Replays sc up to and including the trigger step k; returns the trigger events.
std::vector<VaultEvent> ReplayTo(const json::value& sc, Registered& r, size_t k)
{
    std::vector<VaultEvent> last;
    const auto& steps = sc.at("steps").as_array();
    for (size_t i = 0; i <= k; ++i) {
        last = MatchTx(Tx(steps[i].at("hex")), r.reg, static_cast<int>(I(steps[i].at("mined_height"))));
        ApplyEvents(r.reg, last);
    }
    return last;
}

TEST(planner_tests, StatesAndTrackedUtxosFollowTheScenarios)
{
    const auto* sc = FindScenario("A-none-trigger-with-revault");
    ASSERT_NE(sc, nullptr);
    Registered r;
    RegisterScenario(*sc, r);
    const uint32_t v = r.idx.at("A-none-v7");
    EXPECT_EQ(r.idx.at("A-none-v8"), v); // same spec: one vault, two deposits
    const auto& steps = sc->at("steps").as_array();
    auto apply = [&](size_t k, std::optional<int> h) {
        const auto ev = MatchTx(Tx(steps[k].at("hex")), r.reg, h);
        ApplyEvents(r.reg, ev);
        return ev;
    };
    apply(0, 235);
    EXPECT_EQ(At(r.reg, v).utxos.size(), 2u);
    EXPECT_EQ(At(r.reg, v).state, VaultState::Active);
    // The trigger in the mempool: the vault is Triggered at once; deposits stay tracked but spent.
    apply(1, std::nullopt);
    EXPECT_EQ(At(r.reg, v).state, VaultState::Triggered);
    for (const auto& u : At(r.reg, v).utxos) {
        if (u.role == UtxoRole::Deposit) EXPECT_TRUE(u.spent_by.has_value());
        else EXPECT_FALSE(u.height.has_value());
    }
    // Confirmed: deposits gone, trigger + revault tracked with their height.
    apply(1, 236);
    ASSERT_EQ(At(r.reg, v).utxos.size(), 2u);
    std::set<UtxoRole> roles;
    for (const auto& u : At(r.reg, v).utxos) {
        roles.insert(u.role);
        EXPECT_EQ(u.height, std::optional<int>{236});
    }
    EXPECT_EQ(roles, (std::set<UtxoRole>{UtxoRole::Trigger, UtxoRole::Revault}));
    apply(2, 255); // withdrawal: revault left -> Active
    EXPECT_EQ(At(r.reg, v).state, VaultState::Active);
    apply(3, 256); // revault recovered -> Recovered
    EXPECT_EQ(At(r.reg, v).state, VaultState::Recovered);
    EXPECT_TRUE(At(r.reg, v).utxos.empty());
}

TEST(planner_tests, PlanRecoveryRebuildsRecordedUnauthorizedRecoveries)
{
    size_t exact = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != "none") continue;
        SCOPED_TRACE(Str(sc.at("id")));
        const auto& steps = sc.at("steps").as_array();
        for (size_t k = 0; k < steps.size(); ++k) {
            if (Str(steps[k].at("step")) != "trigger") continue;
            Registered r;
            RegisterScenario(sc, r);
            const auto events = ReplayTo(sc, r, k);
            for (const auto& e : events) {
                if (e.kind != EventKind::Trigger) continue;
                auto plans = PlanRecovery(r.reg, e);
                ASSERT_TRUE(plans.has_value()) << ToString(plans.error().error);
                ASSERT_EQ(plans->size(), 1u);
                const PlannedRecovery& p = plans->front();
                EXPECT_EQ(p.kind, PlanKind::OpVaultUnauthorized);
                EXPECT_TRUE(CheckRecoveryTx(Transaction(p.tx), p.spent).has_value());
                // The whole group: the trigger output is swept, with anything else of the group.
                EXPECT_TRUE(std::any_of(p.inputs.begin(), p.inputs.end(), [&](const RecoveryInput& in) { return in.outpoint == e.outpoint; }));
                for (const auto& rv : e.revaults) {
                    EXPECT_TRUE(std::any_of(p.inputs.begin(), p.inputs.end(), [&](const RecoveryInput& in) { return in.outpoint == rv.outpoint; }));
                }
                const json::value* next = NextStep(sc, k);
                if (next && Str(next->at("step")) == "recovery") {
                    EXPECT_EQ(HexStr(SerializeTransaction(p.tx)), Str(next->at("hex")));
                    ++exact;
                }
            }
        }
    }
    EXPECT_EQ(exact, 2u); // recover-from-trigger and batch-recovery
}

TEST(planner_tests, PlanRecoveryAuthorizedSignsAndVerifies)
{
    size_t same_txid = 0, planned = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != "checksig") continue;
        SCOPED_TRACE(Str(sc.at("id")));
        const auto& steps = sc.at("steps").as_array();
        for (size_t k = 0; k < steps.size(); ++k) {
            if (Str(steps[k].at("step")) != "trigger") continue;
            Registered r;
            RegisterScenario(sc, r);
            const auto events = ReplayTo(sc, r, k);
            for (const auto& e : events) {
                if (e.kind != EventKind::Trigger) continue;
                auto plans = PlanRecovery(r.reg, e);
                ASSERT_TRUE(plans.has_value()) << ToString(plans.error().error);
                ASSERT_EQ(plans->size(), 1u);
                const PlannedRecovery& p = plans->front();
                EXPECT_EQ(p.kind, PlanKind::OpVaultAuthorized);
                // CheckRecoveryTx verifies the recovery-auth signature of every input.
                EXPECT_TRUE(CheckRecoveryTx(Transaction(p.tx), p.spent).has_value());
                ASSERT_EQ(p.inputs.size(), 1u + e.revaults.size());
                EXPECT_EQ(p.inputs[0].outpoint, e.outpoint);
                ++planned;
                const json::value* next = NextStep(sc, k);
                if (next && Str(next->at("step")) == "recovery" && next->at("inputs").as_array().size() == 1) {
                    // Same inputs, outputs, sequences as the recorded recovery, less its OP_2 anchor
                    // (only the unauthorized form needs one; ours carry none, so they stay
                    // standard on a node without -acceptnonstdtxn). Signatures differ by aux
                    // randomness, so the txid is compared.
                    MutableTransaction rec = Tx(next->at("hex")).mutable_copy();
                    ASSERT_EQ(rec.vout.back().script_pubkey, Bytes{0x52}); // OP_2
                    rec.vout.pop_back();
                    EXPECT_EQ(p.tx.vout.size(), rec.vout.size());
                    EXPECT_EQ(ComputeTxid(p.tx).ToString(), ComputeTxid(rec).ToString());
                    ++same_txid;
                }
                // Sweeping the group as well (fee input and change as recorded are the wallet's choice).
                PlanOptions o;
                o.authorized_sweep_group = true;
                auto g = PlanRecovery(r.reg, e, o);
                ASSERT_TRUE(g.has_value());
                EXPECT_TRUE(CheckRecoveryTx(Transaction(g->front().tx), g->front().spent).has_value());
                EXPECT_GE(g->front().inputs.size(), p.inputs.size());
            }
        }
    }
    EXPECT_GE(planned, 4u);
    EXPECT_EQ(same_txid, 1u); // recover-from-trigger
}

TEST(planner_tests, BatchRecoveryGroupOrderIsRegistrationOrder)
{
    const auto* sc = FindScenario("A-checksig-batch-recovery");
    ASSERT_NE(sc, nullptr);
    Registered r;
    RegisterScenario(*sc, r);
    const auto events = ReplayTo(*sc, r, 1);
    ASSERT_EQ(events.size(), 1u);
    PlanOptions o;
    o.authorized_sweep_group = true;
    auto g = PlanRecovery(r.reg, events[0], o);
    ASSERT_TRUE(g.has_value());
    ASSERT_EQ(g->size(), 1u);
    // v12's trigger output, then v13 and v14 deposits (v15 is another recovery group).
    const Transaction recorded = Tx(sc->at("steps").as_array()[2].at("hex"));
    ASSERT_EQ(g->front().inputs.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(g->front().inputs[i].outpoint, recorded.vin()[i].prevout);
    EXPECT_EQ(g->front().vaults, (std::vector<uint32_t>{r.idx.at("A-checksig-v12"), r.idx.at("A-checksig-v13"), r.idx.at("A-checksig-v14")}));
}

TEST(planner_tests, LargeSweepsAreSplitByWeightDeterministically)
{
    // The batch scenarios sweep three UTXOs; cap the weight so that only one fits per transaction.
    for (const char* id : {"A-checksig-batch-recovery", "A-none-batch-recovery"}) {
        const auto* sc = FindScenario(id);
        if (!sc) continue;
        SCOPED_TRACE(id);
        Registered r;
        RegisterScenario(*sc, r);
        const auto events = ReplayTo(*sc, r, 1);
        ASSERT_EQ(events.size(), 1u);
        PlanOptions o;
        o.authorized_sweep_group = true;
        auto whole = PlanRecovery(r.reg, events[0], o);
        ASSERT_TRUE(whole.has_value());
        ASSERT_EQ(whole->size(), 1u);
        const auto& all = whole->front().inputs;
        ASSERT_GE(all.size(), 2u);
        const size_t one = Transaction(whole->front().tx).Weight() / all.size() + 400;
        o.max_weight = one;
        auto split = PlanRecovery(r.reg, events[0], o);
        ASSERT_TRUE(split.has_value());
        ASSERT_GE(split->size(), 2u);
        std::vector<OutPoint> seen;
        std::set<uint32_t> vaults;
        for (const auto& p : *split) {
            EXPECT_LE(Transaction(p.tx).Weight(), one);
            EXPECT_TRUE(CheckRecoveryTx(Transaction(p.tx), p.spent).has_value());
            for (const auto& in : p.inputs) seen.push_back(in.outpoint);
            vaults.insert(p.vaults.begin(), p.vaults.end());
        }
        std::vector<OutPoint> want;
        for (const auto& in : all) want.push_back(in.outpoint);
        EXPECT_EQ(seen, want) << "every UTXO once, in the same order";
        EXPECT_EQ(vaults, std::set<uint32_t>(whole->front().vaults.begin(), whole->front().vaults.end()));
        // The same registry and event give the same transactions (replacements stay valid).
        auto again = PlanRecovery(r.reg, events[0], o);
        ASSERT_EQ(again->size(), split->size());
        for (size_t i = 0; i < split->size(); ++i) EXPECT_EQ(ComputeTxid((*again)[i].tx), ComputeTxid((*split)[i].tx));
    }
}

TEST(planner_tests, AFeeInputIsAddedAndSignedByTheFeeWallet)
{
    const auto wallet = FeeWallet::FromSecret(Bytes(32, 0x77));
    ASSERT_TRUE(wallet);
    const TxOut coin_out{Amount{25'000}, wallet->ScriptPubKey()};
    FeeInput fee{OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, 0x5a))), 1}, coin_out, {}};
    const FeeSigner signer = [&](const MutableTransaction& tx, std::span<const TxOut> spent, size_t n) {
        return wallet->SignKeyPath(tx, spent, n, std::nullopt);
    };
    size_t checked = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        const auto& steps = sc.at("steps").as_array();
        for (size_t k = 0; k < steps.size(); ++k) {
            if (Str(steps[k].at("step")) != "trigger") continue;
            SCOPED_TRACE(Str(sc.at("id")));
            Registered r;
            RegisterScenario(sc, r);
            const auto events = ReplayTo(sc, r, k);
            for (const auto& e : events) {
                if (e.kind != EventKind::Trigger) continue;
                auto plans = PlanRecovery(r.reg, e);
                if (!plans) continue; // an authorized vault registered without its key
                const PlannedRecovery& p = plans->front();
                const bool authorized = p.kind == PlanKind::OpVaultAuthorized;
                std::optional<TxOut> change;
                if (authorized) change = TxOut{Amount{20'000}, wallet->ScriptPubKey()};
                auto with = WithFeeInput(r.reg, p, fee, change, signer);
                ASSERT_TRUE(with.has_value()) << ToString(with.error().error);
                const Transaction tx{with->tx};
                ASSERT_EQ(tx.vin().size(), p.inputs.size() + 1);
                EXPECT_EQ(tx.vin().back().prevout, fee.outpoint);
                EXPECT_EQ(tx.vout().size(), Transaction(p.tx).vout().size() + (authorized ? 1u : 0u));
                EXPECT_TRUE(CheckRecoveryTx(tx, with->spent).has_value());
                // The fee input's key-path signature verifies under the wallet's output key.
                auto pre = sighash::Precompute(with->tx, with->spent);
                ASSERT_TRUE(pre);
                auto h = sighash::Sighash(with->tx, *pre, static_cast<uint32_t>(p.inputs.size()), sighash::SIGHASH_DEFAULT, std::nullopt);
                auto q = crypto::XOnlyPubKey::Parse(ByteSpan{wallet->ScriptPubKey()}.subspan(2));
                ASSERT_TRUE(h && q);
                ASSERT_EQ(tx.vin().back().witness.size(), 1u);
                EXPECT_TRUE(crypto::SchnorrVerify(tx.vin().back().witness[0], h->span(), *q));
                // An unauthorized recovery may not take change.
                if (!authorized) EXPECT_FALSE(WithFeeInput(r.reg, p, fee, TxOut{Amount{1}, wallet->ScriptPubKey()}, signer).has_value());
                // Read back from the transaction (an RBF of it): the same sweep, without the fee
                // input, funded again by another coin gives a valid replacement.
                auto back = PlanOfRecoveryTx(r.reg, tx, p.vaults);
                ASSERT_TRUE(back.has_value()) << ToString(back.error().error);
                EXPECT_EQ(back->kind, p.kind);
                ASSERT_EQ(back->inputs.size(), p.inputs.size());
                for (size_t i = 0; i < p.inputs.size(); ++i) {
                    EXPECT_EQ(back->inputs[i].outpoint, p.inputs[i].outpoint);
                    EXPECT_EQ(back->inputs[i].prevout, p.inputs[i].prevout);
                    EXPECT_EQ(back->inputs[i].leaf_script, p.inputs[i].leaf_script);
                    EXPECT_EQ(back->inputs[i].control_block, p.inputs[i].control_block);
                    EXPECT_EQ(back->inputs[i].recovery_spk, p.inputs[i].recovery_spk);
                }
                FeeInput bigger{OutPoint{fee.outpoint.txid, 2}, TxOut{Amount{40'000}, wallet->ScriptPubKey()}, {}};
                auto rbf = WithFeeInput(r.reg, *back, bigger, change, signer);
                ASSERT_TRUE(rbf.has_value());
                EXPECT_EQ(Transaction(rbf->tx).vin().back().prevout, bigger.outpoint);
                EXPECT_TRUE(CheckRecoveryTx(Transaction(rbf->tx), rbf->spent).has_value());
                // Not ours to read: no vault given, or an input no longer tracked.
                EXPECT_FALSE(PlanOfRecoveryTx(r.reg, tx, {}).has_value());
                ++checked;
            }
        }
    }
    EXPECT_GE(checked, 3u);
}

TEST(planner_tests, AuthorizedPlansOfOneKeyAreBatchedAcrossGroups)
{
    // Three authorized vaults under one recovery-auth key, two recovery groups, and an
    // unauthorized one: the authorized plans become one transaction with one recovery output per
    // group; the unauthorized plan passes through.
    auto key = [](uint8_t b) { return *crypto::KeyPair::FromSecret(Bytes(32, b)); };
    const auto auth = key(0x3a);
    const auto trig = key(0x39).PubKey();
    const Bytes rspk_a(34, 0xa1), rspk_b(34, 0xb2), rspk_u(34, 0xc3);
    Registry reg;
    auto add = [&](uint8_t internal, const Bytes& rspk, bool authorized) {
        Bytes spk = rspk;
        spk[0] = 0x51;
        spk[1] = 0x20;
        VaultSpec spec{key(internal).PubKey(), {}, spk, authorized ? std::optional{auth.PubKey()} : std::nullopt};
        spec.leaves = {taproot::Leaf{MakeRecoverLeaf(RecoverySpkHash(spk), spec.recovery_auth_key), 1}, taproot::Leaf{MakeTriggerLeaf(trig, 10), 1}};
        auto a = reg.AddOpVault(OpVaultRegistration{spec, authorized ? std::optional{key(0x3a)} : std::nullopt, "", {}, std::nullopt, std::nullopt});
        EXPECT_TRUE(a) << (a ? "" : a.error().message);
        TrackedUtxo u;
        u.outpoint = OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, internal))), 0};
        u.amount = Amount{100'000 + internal};
        u.spk = reg.Details(a->index)->opvault->ScriptPubKey();
        u.height = 5;
        EXPECT_TRUE(reg.TrackUtxo(a->index, u));
        return a->index;
    };
    const uint32_t a1 = add(0x11, rspk_a, true), b1 = add(0x12, rspk_b, true), a2 = add(0x13, rspk_a, true), u1 = add(0x14, rspk_u, false);
    std::vector<PlannedRecovery> plans;
    for (uint32_t v : {a1, u1, b1, a2}) {
        auto p = PlanVaultRecovery(reg, v);
        ASSERT_TRUE(p) << ToString(p.error().error);
        for (auto& x : *p) plans.push_back(std::move(x));
    }
    ASSERT_EQ(plans.size(), 4u);
    const Txid unauth_txid = ComputeTxid(plans[1].tx);
    auto merged = MergeAuthorizedPlans(reg, plans);
    ASSERT_TRUE(merged) << ToString(merged.error().error);
    ASSERT_EQ(merged->size(), 2u);
    EXPECT_EQ(merged->at(0).kind, PlanKind::OpVaultUnauthorized);
    EXPECT_EQ(ComputeTxid(merged->at(0).tx), unauth_txid) << "passed through unchanged";
    const PlannedRecovery& m = merged->at(1);
    EXPECT_EQ(m.kind, PlanKind::OpVaultAuthorized);
    EXPECT_EQ(m.vaults, (std::vector<uint32_t>{a1, b1, a2}));
    const Transaction tx{m.tx};
    ASSERT_EQ(tx.vin().size(), 3u);
    std::map<Bytes, Amount> paid;
    for (const auto& o : tx.vout()) paid[o.script_pubkey] += o.value;
    Bytes spk_a = rspk_a, spk_b = rspk_b;
    spk_a[0] = spk_b[0] = 0x51;
    spk_a[1] = spk_b[1] = 0x20;
    EXPECT_EQ(paid[spk_a], Amount{100'000 + 0x11 + 100'000 + 0x13});
    EXPECT_EQ(paid[spk_b], Amount{100'000 + 0x12});
    // Consensus-valid as BIP-345 checks it: every input's recovery output, signatures included.
    EXPECT_TRUE(CheckRecoveryTx(tx, m.spent).has_value());
    // Deterministic (replacements stay valid), and one plan per key is left alone.
    EXPECT_EQ(ComputeTxid(MergeAuthorizedPlans(reg, plans)->at(1).tx), tx.GetTxid());
    std::vector<PlannedRecovery> single{plans[0]};
    EXPECT_EQ(ComputeTxid(MergeAuthorizedPlans(reg, single)->at(0).tx), ComputeTxid(plans[0].tx));
    // Under a weight limit it splits, each part a valid recovery.
    PlanOptions small;
    small.max_weight = Transaction{plans[0].tx}.Weight() + 10;
    auto parts = MergeAuthorizedPlans(reg, plans, small);
    ASSERT_TRUE(parts);
    EXPECT_GE(parts->size(), 3u);
    for (const auto& p : *parts) EXPECT_TRUE(CheckRecoveryTx(Transaction{p.tx}, p.spent).has_value());
}

TEST(planner_tests, FlaggedSpendsInABlockStillSpend)
{
    // Whatever our checks say of a mined spend, what it spent is gone: the vault must not keep a
    // spent output as live (a later sweep would spend nothing, and the vault would look safe).
    const json::value& inv = InvalidVector("recovery-wrong-spk");
    Registered r;
    RegistryAtTest(inv, r);
    const Transaction tx = Tx(inv.at("hex"));
    const auto events = MatchTx(tx, r.reg, static_cast<int>(I(inv.at("tested_at_height"))) + 1);
    ASSERT_FALSE(events.empty());
    ASSERT_TRUE(events[0].malformed());
    ASSERT_FALSE(events[0].spent.empty());
    const uint32_t v = events[0].vaults.at(0);
    ASSERT_NE(At(r.reg, v).FindUtxo(events[0].spent[0]), nullptr);
    ApplyEvents(r.reg, events);
    EXPECT_EQ(At(r.reg, v).FindUtxo(events[0].spent[0]), nullptr);
}

TEST(planner_tests, PlanRecoveryMisuse)
{
    const auto* sc = FindScenario("A-none-withdrawal");
    Registered r;
    RegisterScenario(*sc, r);
    const auto dep = MatchTx(Tx(sc->at("steps").as_array()[0].at("hex")), r.reg, 207);
    ASSERT_EQ(dep.size(), 1u);
    EXPECT_EQ(PlanRecovery(r.reg, dep[0]).error().error, PlanError::NotATrigger);
    ApplyEvents(r.reg, dep);
    auto trig = MatchTx(Tx(sc->at("steps").as_array()[1].at("hex")), r.reg, 208);
    ASSERT_EQ(trig.size(), 1u);
    // PlanRecovery is called after ApplyEvents (documented): the trigger output is then tracked.
    ApplyEvents(r.reg, trig);
    auto ok = PlanRecovery(r.reg, trig[0]);
    ASSERT_TRUE(ok.has_value());
    ASSERT_EQ(ok->front().inputs.size(), 1u);
    EXPECT_EQ(ok->front().inputs[0].outpoint, trig[0].outpoint);
    VaultEvent bad = trig[0];
    bad.flaw = Flaw::TriggerOutputMismatch;
    EXPECT_EQ(PlanRecovery(r.reg, bad).error().error, PlanError::Malformed);
    // The withdrawal confirmed: nothing left.
    ApplyEvents(r.reg, MatchTx(Tx(sc->at("steps").as_array()[2].at("hex")), r.reg, 227));
    EXPECT_EQ(At(r.reg, 0).state, VaultState::Withdrawn);
    EXPECT_EQ(PlanRecovery(r.reg, trig[0]).error().error, PlanError::NothingToSweep);
    // Authorized vault registered without its secret: NoAuthKey.
    const auto* cs = FindScenario("A-checksig-recover-from-trigger");
    Registry reg2;
    auto a = reg2.AddOpVault(OpVaultRegistration{SpecFromRecord(cs->at("vaults").as_array()[0]), std::nullopt, "", {}, std::nullopt, std::nullopt});
    ASSERT_TRUE(a.has_value());
    ApplyEvents(reg2, MatchTx(Tx(cs->at("steps").as_array()[0].at("hex")), reg2, 275));
    auto t2 = MatchTx(Tx(cs->at("steps").as_array()[1].at("hex")), reg2, 276);
    ApplyEvents(reg2, t2);
    ASSERT_EQ(t2.size(), 1u);
    EXPECT_EQ(PlanRecovery(reg2, t2[0]).error().error, PlanError::NoAuthKey);
}

TEST(planner_tests, PresignedLadderByFeerateAndClimbing)
{
    PresignedFixture f;
    const auto trig = MatchTx(Transaction(f.trigger), f.reg, 501);
    ApplyEvents(f.reg, trig);
    const int64_t vsize = static_cast<int64_t>(Transaction(f.rec_cheap).VSize());
    PlanOptions o;
    o.min_feerate = FeeRate{0};
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o)->front().tx, f.rec_cheap);
    o.min_feerate = FeeRate::Of(Amount{4'000}, vsize);
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o)->front().tx, f.rec_mid);
    o.min_feerate = FeeRate{100'000'000}; // more than any variant pays: the best there is
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o)->front().tx, f.rec_high);
    // Climbing, one rung at a time, by fee.
    auto next = NextPresignedVariant(f.reg, f.v, f.trigger_txid, ComputeTxid(f.rec_cheap));
    ASSERT_TRUE(next);
    EXPECT_EQ(next->tx, f.rec_mid);
    next = NextPresignedVariant(f.reg, f.v, f.trigger_txid, ComputeTxid(f.rec_mid));
    ASSERT_TRUE(next);
    EXPECT_EQ(next->tx, f.rec_high);
    EXPECT_FALSE(NextPresignedVariant(f.reg, f.v, f.trigger_txid, ComputeTxid(f.rec_high)));
    EXPECT_FALSE(NextPresignedVariant(f.reg, f.v, T(0x99), ComputeTxid(f.rec_cheap)));
    EXPECT_FALSE(NextPresignedVariant(f.reg, f.v, f.trigger_txid, T(0x98)));
    EXPECT_FALSE(NextPresignedVariant(f.reg, 42, f.trigger_txid, ComputeTxid(f.rec_cheap)));
    // The ladder's fees come from the trigger outputs tracked.
    const auto& pt = f.reg.Details(f.v)->presigned->triggers[0];
    const auto ladder = PresignedLadder(pt, [&](const OutPoint& op) -> std::optional<Amount> {
        const auto* u = At(f.reg, f.v).FindUtxo(op);
        return u ? std::optional<Amount>{u->amount} : std::nullopt;
    });
    ASSERT_EQ(ladder.size(), 3u);
    std::vector<int64_t> fees;
    for (const auto& r : ladder) fees.push_back(r.fee ? r.fee->sats() : -1);
    std::sort(fees.begin(), fees.end());
    EXPECT_EQ(fees, (std::vector<int64_t>{1'000, 5'000, 10'000}));
}

TEST(planner_tests, PanicRecoveryOfAPresignedVault)
{
    PresignedFixture f;
    // Untriggered: the emergency tx sweeps the watched outpoint.
    auto p = PlanVaultRecovery(f.reg, f.v);
    ASSERT_TRUE(p.has_value()) << ToString(p.error().error);
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ(p->front().kind, PlanKind::PresignedEmergency);
    EXPECT_EQ(p->front().tx, f.emergency);
    EXPECT_EQ(p->front().vaults, std::vector<uint32_t>{f.v});
    // Triggered: the watched outpoint is gone, the trigger output is swept by the cheapest variant
    // meeting the fee asked for.
    ApplyEvents(f.reg, MatchTx(Transaction(f.trigger), f.reg, 501));
    p = PlanVaultRecovery(f.reg, f.v);
    ASSERT_TRUE(p.has_value()) << ToString(p.error().error);
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ(p->front().kind, PlanKind::Presigned);
    EXPECT_EQ(p->front().tx, f.rec_cheap);
    PlanOptions o;
    o.min_fee = Amount{4'000};
    EXPECT_EQ(PlanVaultRecovery(f.reg, f.v, o)->front().tx, f.rec_mid);
    // Recovered: nothing left.
    ApplyEvents(f.reg, MatchTx(Transaction(f.rec_mid), f.reg, 502));
    EXPECT_EQ(PlanVaultRecovery(f.reg, f.v).error().error, PlanError::NothingToSweep);
    EXPECT_EQ(PlanVaultRecovery(f.reg, 99).error().error, PlanError::NoSuchVault);
}

TEST(planner_tests, PanicRecoveryOfAPresignedVaultWithoutEmergencyTxs)
{
    // A vault registered without emergency txs has nothing to sweep until it is triggered.
    const OutPoint watched{T(9), 1};
    const MutableTransaction trigger = Spend({watched}, {50'000}, 0x22);
    const MutableTransaction rec = Spend({{ComputeTxid(trigger), 0}}, {49'000}, 0x34);
    PresignedRequest req;
    req.watch_outpoints = {watched};
    req.triggers = {{ComputeTxid(trigger), {HexStr(SerializeTransaction(rec))}, 10}};
    auto pv = ValidatePresigned(req);
    ASSERT_TRUE(pv.has_value()) << pv.error();
    Registry reg;
    auto a = reg.AddPresigned(PresignedRegistration{std::move(*pv), "", {}, 1});
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(PlanVaultRecovery(reg, a->index).error().error, PlanError::NothingToSweep);
    ApplyEvents(reg, MatchTx(Transaction(trigger), reg, std::nullopt)); // in the mempool is enough
    auto p = PlanVaultRecovery(reg, a->index);
    ASSERT_TRUE(p.has_value()) << ToString(p.error().error);
    EXPECT_EQ(p->front().tx, rec);
}

TEST(planner_tests, PanicRecoveryOfOpVaultsSweepsEveryLiveUtxo)
{
    size_t checked = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        SCOPED_TRACE(Str(sc.at("id")));
        const auto& steps = sc.at("steps").as_array();
        Registered r;
        RegisterScenario(sc, r);
        for (size_t k = 0; k < steps.size(); ++k) {
            const std::string step = Str(steps[k].at("step"));
            ApplyEvents(r.reg, MatchTx(Tx(steps[k].at("hex")), r.reg, static_cast<int>(I(steps[k].at("mined_height")))));
            for (uint32_t v = 0; v < r.reg.size(); ++v) {
                const VaultRecord& rec = At(r.reg, v);
                size_t live = 0;
                for (const auto& u : rec.utxos) live += !u.spent_by && (u.role != UtxoRole::Trigger || (u.trigger && u.trigger->tree));
                auto p = PlanVaultRecovery(r.reg, v);
                if (live == 0) {
                    ASSERT_FALSE(p.has_value());
                    continue;
                }
                if (!p) {
                    // Only an authorized vault registered without its secret may refuse.
                    EXPECT_EQ(p.error().error, PlanError::NoAuthKey);
                    continue;
                }
                ASSERT_EQ(p->size(), 1u);
                const PlannedRecovery& plan = p->front();
                // Every live UTXO of the vault is an input, and the node's rules hold.
                for (const auto& u : rec.utxos) {
                    if (u.spent_by || (u.role == UtxoRole::Trigger && !(u.trigger && u.trigger->tree))) continue;
                    EXPECT_TRUE(std::any_of(plan.inputs.begin(), plan.inputs.end(), [&](const RecoveryInput& in) { return in.outpoint == u.outpoint; }))
                        << "step " << step;
                }
                EXPECT_TRUE(CheckRecoveryTx(Transaction(plan.tx), plan.spent).has_value()) << "step " << step;
                EXPECT_TRUE(std::find(plan.vaults.begin(), plan.vaults.end(), v) != plan.vaults.end());
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 10u);
}

} // namespace
} // namespace vw::vault
