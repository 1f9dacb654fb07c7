// The matcher against the real OP_VAULT transactions of tests/data/testvectors/opvault-regtest.json
// (read at run time): every scenario's vaults are registered, every step is matched in order and
// the exact event sequence is derived from the file's roles; every invalid[] tx is flagged as the
// node's reject reason says. Presigned vaults are synthetic (scenario_test_util.h). What the
// events then do to the registry, and the recoveries planned from them: planner_tests.cpp.

#include "vault/matcher.h"

#include "unit/vault/opvault_test_util.h"
#include "unit/vault/scenario_test_util.h"
#include "vault/planner.h"
#include "vault/registry.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

namespace vw::vault {
namespace {

using namespace testutil;

Bytes MiniWalletSpk()
{
    // The funding/fee wallet of the generator (the change output of the first deposit).
    for (const auto& o : Vectors().at("scenarios").as_array()[0].at("steps").as_array()[0].at("outputs").as_array()) {
        if (Str(o.at("role")) == "change") return H(o.at("scriptPubKey"));
    }
    ADD_FAILURE() << "no change output";
    return {};
}

std::string Join(const std::vector<uint32_t>& v)
{
    std::string s;
    for (auto x : v) s += std::to_string(x) + ",";
    return s;
}

std::string Op(const OutPoint& o) { return o.txid.ToString().substr(0, 12) + ":" + std::to_string(o.n); }

//! A one-line summary of everything an event asserts.
std::string Summ(const VaultEvent& e)
{
    std::ostringstream s;
    s << ToString(e.kind) << " v=" << Join(e.vaults) << " in=" << Join(e.inputs);
    switch (e.kind) {
    case EventKind::Deposit:
    case EventKind::FeeWalletCoin:
        s << " out=" << Op(e.outpoint) << " amt=" << e.amount.sats() << " spk=" << HexStr(e.spk);
        break;
    case EventKind::Trigger:
        s << " out=" << Op(e.outpoint) << " amt=" << e.amount.sats() << " spk=" << HexStr(e.spk)
          << " ctv=" << (e.ctv_hash ? e.ctv_hash->Hex() : "-") << " delay=" << e.spend_delay.value_or(-1) << " revault=";
        for (const auto& r : e.revaults) s << Op(r.outpoint) << "/" << r.amount.sats() << "/v" << r.vault << ";";
        s << " spent=";
        for (const auto& o : e.spent) s << Op(o) << ";";
        break;
    case EventKind::Recovery:
        s << " spent=" << Op(e.outpoint) << " from_trigger=" << e.from_trigger_output
          << " rvout=" << (e.recovery_vout ? static_cast<int64_t>(*e.recovery_vout) : -1) << " auth=" << e.authorized;
        break;
    case EventKind::WithdrawalCompleted:
        s << " spent=" << Op(e.outpoint) << " ctv=" << (e.ctv_hash ? e.ctv_hash->Hex() : "-");
        break;
    case EventKind::UnexpectedSpend:
        s << " spent=" << Op(e.outpoint) << " key_path=" << e.key_path;
        break;
    }
    s << " flaw=" << ToString(e.flaw);
    if (e.check_error) s << "(" << ToString(*e.check_error) << ")";
    if (e.vault_error) s << "(" << ToString(*e.vault_error) << ")";
    return s.str();
}

std::vector<std::string> Summ(const std::vector<VaultEvent>& v)
{
    std::vector<std::string> r;
    for (const auto& e : v) r.push_back(Summ(e));
    return r;
}

//! The events the file's roles say a step must produce, in matcher order.
std::vector<VaultEvent> Expected_(const json::value& sc, const json::value& st, const Registered& r, const Bytes& fee_spk)
{
    const std::string kind = Str(st.at("step"));
    const Txid txid = *Txid::FromHex(Str(st.at("txid")));
    const std::optional<int> height = static_cast<int>(I(st.at("mined_height")));
    const bool authorized = Str(sc.at("recovery_auth")) == "checksig";
    const Transaction tx = Tx(st.at("hex"));
    std::vector<VaultEvent> out;
    auto base = [&](EventKind k) {
        VaultEvent e;
        e.kind = k;
        e.txid = txid;
        e.height = height;
        return e;
    };
    auto vault_set = [&](const json::value& ids) {
        std::set<uint32_t> s;
        for (const auto& id : ids.as_array()) s.insert(r.idx.at(Str(id)));
        return std::vector<uint32_t>(s.begin(), s.end());
    };
    if (kind == "trigger") {
        for (const auto& to : st.at("trigger_outputs").as_array()) {
            VaultEvent e = base(EventKind::Trigger);
            e.vaults = vault_set(to.at("triggered_vault_ids"));
            for (const auto& in : st.at("inputs").as_array()) {
                if (Str(in.at("role")) != "vault") continue;
                const auto n = static_cast<uint32_t>(I(in.at("n")));
                e.inputs.push_back(n);
                e.spent.push_back(tx.vin()[n].prevout);
            }
            e.outpoint = OutPoint{txid, static_cast<uint32_t>(I(to.at("vout")))};
            e.amount = Amount{I(to.at("value_sats"))};
            e.spk = H(to.at("scriptPubKey"));
            e.ctv_hash = U(to.at("target_ctv_hash"));
            e.spend_delay = I(to.at("spend_delay"));
            if (!to.at("revault").is_null()) {
                const auto& rv = to.at("revault");
                e.revaults.push_back(RevaultOutput{OutPoint{txid, static_cast<uint32_t>(I(rv.at("vout")))},
                                                   Amount{I(rv.at("value_sats"))}, r.idx.at(Str(rv.at("declared_by_vault_id")))});
            }
            out.push_back(std::move(e));
        }
    }
    for (const auto& in : st.at("inputs").as_array()) {
        const std::string role = Str(in.at("role"));
        const auto n = static_cast<uint32_t>(I(in.at("n")));
        if (role == "recover-from-vault" || role == "recover-from-trigger") {
            VaultEvent e = base(EventKind::Recovery);
            e.vaults = {r.idx.at(Str(in.at("vault_id")))};
            e.inputs = {n};
            e.outpoint = tx.vin()[n].prevout;
            e.from_trigger_output = role == "recover-from-trigger";
            e.recovery_vout = static_cast<uint32_t>(I(in.at("recovery_vout_index")));
            e.authorized = authorized;
            out.push_back(std::move(e));
        } else if (role == "withdraw-from-trigger") {
            VaultEvent e = base(EventKind::WithdrawalCompleted);
            e.vaults = vault_set(in.at("vault_ids"));
            e.inputs = {n};
            e.outpoint = tx.vin()[n].prevout;
            e.ctv_hash = U(st.at("target_ctv_hash"));
            out.push_back(std::move(e));
        }
    }
    for (const auto& o : st.at("outputs").as_array()) {
        const std::string role = Str(o.at("role"));
        const auto n = static_cast<uint32_t>(I(o.at("n")));
        const Bytes spk = H(o.at("scriptPubKey"));
        if (role == "vault" || spk == fee_spk) {
            VaultEvent e = base(role == "vault" ? EventKind::Deposit : EventKind::FeeWalletCoin);
            if (role == "vault") e.vaults = {r.idx.at(Str(o.at("vault_id")))};
            e.outpoint = OutPoint{txid, n};
            e.amount = Amount{I(o.at("value_sats"))};
            e.spk = spk;
            out.push_back(std::move(e));
        }
    }
    return out;
}

TEST(matcher_tests, EveryScenarioGivesTheExactEventSequence)
{
    const Bytes fee_spk = MiniWalletSpk();
    size_t steps = 0, triggers = 0, recoveries = 0, withdrawals = 0, deposits = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        SCOPED_TRACE(Str(sc.at("id")));
        Registered r;
        RegisterScenario(sc, r);
        r.reg.SetFeeWalletSpks({fee_spk});
        for (const auto& st : sc.at("steps").as_array()) {
            SCOPED_TRACE(Str(st.at("step")) + " " + Str(st.at("txid")));
            const Transaction tx = Tx(st.at("hex"));
            const std::optional<int> h = static_cast<int>(I(st.at("mined_height")));
            MatchStats stats;
            MatchOptions mo;
            mo.stats = &stats;
            const auto events = MatchTx(tx, r.reg, h, mo);
            EXPECT_EQ(Summ(events), Summ(Expected_(sc, st, r, fee_spk)));
            // Every leaf hit is either confirmed (one per trigger/recovery input) or belongs to
            // another vault sharing the leaf script (batch scenarios share the recover leaf).
            std::set<uint32_t> confirmed_inputs;
            for (const auto& e : events) {
                if (e.kind == EventKind::Trigger || e.kind == EventKind::Recovery) confirmed_inputs.insert(e.inputs.begin(), e.inputs.end());
            }
            const size_t confirmed = confirmed_inputs.size();
            EXPECT_EQ(stats.leaf_matches - stats.unconfirmed_leaves, confirmed);
            // The precomputed-match path (ScanTransaction) gives the same events.
            std::vector<vault::Match> matches;
            const Bytes raw = SerializeTransaction(tx);
            ASSERT_TRUE(ScanTransaction(raw, r.reg.index(), matches).has_value());
            EXPECT_EQ(Summ(MatchTx(tx, r.reg, h, matches)), Summ(events));
            // The same tx seen in the mempool first gives the same events (height aside).
            for (const auto& e : MatchTx(tx, r.reg, std::nullopt)) EXPECT_FALSE(e.height.has_value());
            for (const auto& e : events) {
                deposits += e.kind == EventKind::Deposit;
                triggers += e.kind == EventKind::Trigger;
                recoveries += e.kind == EventKind::Recovery;
                withdrawals += e.kind == EventKind::WithdrawalCompleted;
                EXPECT_FALSE(e.malformed()) << Summ(e);
                if (e.kind == EventKind::Trigger) {
                    ASSERT_TRUE(e.tree.has_value());
                    EXPECT_EQ(e.tree->script_pubkey, e.spk);
                }
            }
            ApplyEvents(r.reg, events);
            ++steps;
        }
        // Every vault ends Recovered, Withdrawn or (deposit only / revault left) Active.
        for (uint32_t i = 0; i < r.reg.size(); ++i) {
            const auto* rec = r.reg.Get(i);
            EXPECT_NE(rec->state, VaultState::Triggered) << rec->label;
        }
    }
    EXPECT_GT(steps, 30u);
    EXPECT_GT(deposits, 0u);
    EXPECT_GT(triggers, 0u);
    EXPECT_GT(recoveries, 0u);
    EXPECT_GT(withdrawals, 0u);
}

//! What each invalid[] tx must produce. needs_prevouts: only the full checks (given the spent
//! outputs) can see it.
struct InvalidCase {
    std::string suffix;
    EventKind kind;
    Flaw flaw;
    std::optional<TxCheckError> check;
    std::optional<VaultError> verr;
    bool needs_prevouts{false};
};

const std::vector<InvalidCase>& InvalidCases()
{
    static const std::vector<InvalidCase> c{
        {"withdrawal-too-early", EventKind::WithdrawalCompleted, Flaw::CheckFailed, TxCheckError::NotBip68Final, {}, false},
        {"withdrawal-ctv-mismatch", EventKind::WithdrawalCompleted, Flaw::CheckFailed, TxCheckError::CtvMismatch, {}, false},
        {"withdrawal-short-nsequence", EventKind::WithdrawalCompleted, Flaw::CheckFailed, TxCheckError::CsvNotSatisfied, {}, false},
        {"recovery-wrong-spk", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::RecoverySpkMismatch, {}, false},
        {"recovery-value-low", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::RecoveryValueTooLow, {}, false},
        {"recovery-not-replaceable", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::RecoveryNotReplaceable, {}, false},
        {"recovery-vout-idx-out-of-range", EventKind::Recovery, Flaw::MalformedWitness, {}, VaultError::BadRecoveryIndex, false},
        {"recovery-extra-output", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::UnauthorizedBadStructure, {}, false},
        {"recovery-no-anchor", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::UnauthorizedBadStructure, {}, false},
        {"recovery-bad-auth-sig", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::BadSignature, {}, true},
        {"batch-recovery-value-low", EventKind::Recovery, Flaw::CheckFailed, TxCheckError::InsufficientRecoveryValue, {}, false},
        {"trigger-incompatible-output", EventKind::Trigger, Flaw::TriggerOutputMismatch, {}, VaultError::TriggerOutputMismatch, false},
        {"trigger-revault-value-low", EventKind::Trigger, Flaw::CheckFailed, TxCheckError::InsufficientTriggerValue, {}, true},
    };
    return c;
}


TEST(matcher_tests, VaultsHeldCompactlyMatchEveryStepAsWholeOnesDo)
{
    // A large book's registry holds each vault's compact form (what a cold start loads) and
    // reads its details only when a transaction touches it: every recorded step must give the
    // same events, and the same state after them, as with every vault held whole.
    const Bytes fee_spk = MiniWalletSpk();
    size_t reads = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        SCOPED_TRACE(Str(sc.at("id")));
        Registered whole;
        RegisterScenario(sc, whole);
        whole.reg.SetFeeWalletSpks({fee_spk});
        Registry compact;
        MapDetails store;
        compact.SetDetailSource(&store);
        for (uint32_t i = 0; i < whole.reg.size(); ++i) {
            const VaultRecord& rec = *whole.reg.Get(i);
            const VaultDetails& d = *whole.reg.Details(i);
            auto c = CompactOf(rec, d);
            ASSERT_TRUE(c);
            auto back = DecodeCompactVault(rec.id, EncodeCompactVault(*c));
            ASSERT_TRUE(back);
            auto a = compact.AddCompact(*back, rec.policy);
            ASSERT_TRUE(a) << a.error().message;
            ASSERT_EQ(a->index, i);
            store.held[i] = d;
        }
        compact.SetFeeWalletSpks({fee_spk});
        EXPECT_EQ(compact.DetailsHeld(), 0u);
        for (const auto& st : sc.at("steps").as_array()) {
            SCOPED_TRACE(Str(st.at("step")) + " " + Str(st.at("txid")));
            const Transaction tx = Tx(st.at("hex"));
            const std::optional<int> h = static_cast<int>(I(st.at("mined_height")));
            const auto want = MatchTx(tx, whole.reg, h);
            const auto got = MatchTx(tx, compact, h);
            EXPECT_EQ(Summ(got), Summ(want));
            EXPECT_FALSE(compact.TakeDetailError());
            ApplyEvents(whole.reg, want);
            ApplyEvents(compact, got);
            for (uint32_t i = 0; i < whole.reg.size(); ++i) {
                EXPECT_EQ(compact.Get(i)->state, whole.reg.Get(i)->state) << i;
                EXPECT_EQ(compact.Get(i)->utxos, whole.reg.Get(i)->utxos) << i;
                const auto g = compact.RecoveryGroup(whole.reg.Details(i)->opvault->RecoverySpkHashValue());
                EXPECT_EQ(g, whole.reg.RecoveryGroup(whole.reg.Details(i)->opvault->RecoverySpkHashValue())) << i;
            }
            compact.TrimDetails(0); // read again at the next step if it needs them
        }
        reads += store.reads;
    }
    EXPECT_GT(reads, 0u) << "the details were read back, not held";
}

TEST(matcher_tests, InvalidTransactionsAreFlagged)
{
    size_t checked = 0;
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        const std::string id = Str(inv.at("id"));
        SCOPED_TRACE(id);
        const InvalidCase* c = nullptr;
        for (const auto& k : InvalidCases()) {
            if (id.size() > k.suffix.size() && id.compare(id.size() - k.suffix.size(), k.suffix.size(), k.suffix) == 0) c = &k;
        }
        ASSERT_NE(c, nullptr) << "no expectation for " << id;
        const json::value* sc = FindScenario(Str(inv.at("scenario")));
        ASSERT_NE(sc, nullptr);
        // The registry as it was when the node tested the tx: every step mined by then applied.
        Registered r;
        RegistryAtTest(inv, r);
        const int tested = static_cast<int>(I(inv.at("tested_at_height")));
        const Transaction tx = Tx(inv.at("hex"));
        const std::vector<TxOut> prevouts = Prevouts(inv.at("prevouts"));
        for (bool with_prevouts : {false, true}) {
            SCOPED_TRACE(with_prevouts ? "with prevouts" : "without prevouts");
            MatchOptions mo;
            if (with_prevouts) mo.prevouts = prevouts;
            // Mempool view, except BIP-68 maturity which needs the block it would be in.
            const bool in_block = c->check == TxCheckError::NotBip68Final;
            const auto events = MatchTx(tx, r.reg, in_block ? std::optional<int>{tested + 1} : std::nullopt, mo);
            size_t of_kind = 0;
            for (const auto& e : events) {
                if (e.kind != c->kind) continue;
                ++of_kind;
                if (c->needs_prevouts && !with_prevouts) {
                    EXPECT_FALSE(e.malformed()) << Summ(e);
                    continue;
                }
                EXPECT_EQ(e.flaw, c->flaw) << Summ(e);
                EXPECT_EQ(e.check_error, c->check) << Summ(e);
                EXPECT_EQ(e.vault_error, c->verr) << Summ(e);
            }
            EXPECT_GE(of_kind, 1u) << "events: " << ::testing::PrintToString(Summ(events));
            // Flagged events change nothing in the mempool. (In a block a flagged spend still
            // spends: see planner_tests' FlaggedSpendsInABlockStillSpend.)
            if (!(c->needs_prevouts && !with_prevouts) && !in_block) {
                Registered copy;
                RegisterScenario(*sc, copy);
                const size_t before = At(r.reg, events[0].vaults.empty() ? 0 : events[0].vaults[0]).utxos.size();
                std::vector<VaultEvent> flagged;
                for (const auto& e : events) {
                    if (e.malformed()) flagged.push_back(e);
                }
                ApplyEvents(r.reg, flagged);
                EXPECT_EQ(At(r.reg, events[0].vaults.empty() ? 0 : events[0].vaults[0]).utxos.size(), before);
            }
        }
        // withdrawal-too-early is byte-identical to the later, valid withdrawal: unflagged in
        // the mempool view (maturity is judged only in a block).
        if (c->check == TxCheckError::NotBip68Final) {
            for (const auto& e : MatchTx(tx, r.reg, std::nullopt)) EXPECT_FALSE(e.malformed()) << Summ(e);
        }
        ++checked;
    }
    EXPECT_EQ(checked, Vectors().at("invalid").as_array().size());
    EXPECT_GT(checked, 20u);
}

TEST(matcher_tests, PolicyOnlyFlawsAreNotFlaggedInABlock)
{
    // A recovery the reference node refuses only by mempool policy (an input not replaceable, no
    // anchor) is valid in a block: mined, it is a recovery like any other, and it spends the vault.
    for (const char* suffix : {"recovery-not-replaceable", "recovery-no-anchor", "recovery-extra-output"}) {
        SCOPED_TRACE(suffix);
        const json::value& inv = InvalidVector(suffix);
        Registered r;
        RegistryAtTest(inv, r);
        const Transaction tx = Tx(inv.at("hex"));
        const int h = static_cast<int>(I(inv.at("tested_at_height"))) + 1;
        for (bool with_prevouts : {false, true}) {
            MatchOptions mo;
            const std::vector<TxOut> prevouts = Prevouts(inv.at("prevouts"));
            if (with_prevouts) mo.prevouts = prevouts;
            const auto mempool = MatchTx(tx, r.reg, std::nullopt, mo);
            EXPECT_TRUE(std::any_of(mempool.begin(), mempool.end(), [](const VaultEvent& e) { return e.malformed(); })) << "still flagged in the mempool";
            const auto mined = MatchTx(tx, r.reg, h, mo);
            size_t recoveries = 0;
            for (const auto& e : mined) {
                if (e.kind != EventKind::Recovery) continue;
                ++recoveries;
                EXPECT_FALSE(e.malformed()) << Summ(e);
            }
            EXPECT_GE(recoveries, 1u);
        }
    }
}

TEST(matcher_tests, ControlBlockForAnotherKeyIsNotMatched)
{
    const auto* sc = FindScenario("A-none-recover-from-trigger");
    ASSERT_NE(sc, nullptr);
    const auto& steps = sc->at("steps").as_array();
    const json::value& rec = sc->at("vaults").as_array()[0];
    MutableTransaction forged = Tx(steps[1].at("hex")).mutable_copy();
    // Same registered trigger leaf, but the control block names another internal key (the
    // trigger key: a valid point), so it commits to some other output.
    Bytes& cb = forged.vin[0].witness.back();
    const Bytes other = H(rec.at("trigger_key").at("xonly"));
    std::copy(other.begin(), other.end(), cb.begin() + 1);
    const Transaction tx(forged);
    {
        Registered r;
        RegisterScenario(*sc, r);
        MatchStats stats;
        MatchOptions mo;
        mo.stats = &stats;
        EXPECT_TRUE(MatchTx(tx, r.reg, std::nullopt, mo).empty());
        EXPECT_EQ(stats.leaf_matches, 1u);
        EXPECT_EQ(stats.unconfirmed_leaves, 1u);
        // The untouched trigger is matched.
        EXPECT_EQ(MatchTx(Tx(steps[1].at("hex")), r.reg, std::nullopt).size(), 1u);
    }
    {
        // With the deposit tracked, the forged spend of it is an unexpected spend, not a trigger.
        Registered r;
        RegisterScenario(*sc, r);
        ApplyEvents(r.reg, MatchTx(Tx(steps[0].at("hex")), r.reg, 230));
        const auto ev = MatchTx(tx, r.reg, std::nullopt);
        ASSERT_EQ(ev.size(), 1u);
        EXPECT_EQ(ev[0].kind, EventKind::UnexpectedSpend);
        EXPECT_FALSE(ev[0].key_path);
    }
    {
        // The recover leaf of another vault with the same leaf script (batch scenario: v4-v6 share
        // their recover leaf) is confirmed only for the vault whose key it opens.
        const auto* b = FindScenario("A-none-batch-recovery");
        Registered r;
        RegisterScenario(*b, r);
        ApplyEvents(r.reg, MatchTx(Tx(b->at("steps").as_array()[0].at("hex")), r.reg, 232));
        ApplyEvents(r.reg, MatchTx(Tx(b->at("steps").as_array()[1].at("hex")), r.reg, 233));
        MatchStats stats;
        MatchOptions mo;
        mo.stats = &stats;
        const auto ev = MatchTx(Tx(b->at("steps").as_array()[2].at("hex")), r.reg, 234, mo);
        EXPECT_EQ(ev.size(), 3u);
        // 3 inputs through the shared recover leaf, each resolved to its own vault by the output
        // key it opens (one key computation per input, not one per vault sharing the leaf).
        EXPECT_EQ(stats.leaf_matches, 3u);
        EXPECT_EQ(stats.unconfirmed_leaves, 0u);
        std::set<uint32_t> vaults;
        for (const auto& e : ev) vaults.insert(e.vaults.begin(), e.vaults.end());
        EXPECT_EQ(vaults, (std::set<uint32_t>{0, 1, 2}));
    }
}

TEST(matcher_tests, InABlockATrackedOutputNamesItsVaultWithoutAnEcTweak)
{
    // The same trigger and recovery, matched once as mempool transactions and once in blocks: the
    // events are the same; only the mempool pays for the spent output's key (the node's mempool
    // is trusted no further than the matcher checks).
    const auto* sc = FindScenario("A-none-recover-from-trigger");
    ASSERT_NE(sc, nullptr);
    const auto& steps = sc->at("steps").as_array();
    ASSERT_GE(steps.size(), 3u);
    for (const bool in_block : {false, true}) {
        SCOPED_TRACE(in_block ? "block" : "mempool");
        Registered r;
        RegisterScenario(*sc, r);
        ApplyEvents(r.reg, MatchTx(Tx(steps[0].at("hex")), r.reg, 230));
        MatchStats trig_stats, rec_stats;
        MatchOptions mo;
        mo.stats = &trig_stats;
        const auto h = [&](int v) { return in_block ? std::optional<int>{v} : std::nullopt; };
        const auto trig = MatchTx(Tx(steps[1].at("hex")), r.reg, h(231), mo);
        ASSERT_EQ(trig.size(), 1u);
        EXPECT_EQ(trig[0].kind, EventKind::Trigger);
        EXPECT_EQ(trig[0].flaw, Flaw::None);
        EXPECT_EQ(trig_stats.output_keys_derived, in_block ? 0u : 1u);
        ApplyEvents(r.reg, MatchTx(Tx(steps[1].at("hex")), r.reg, 231));
        mo.stats = &rec_stats;
        const auto rec = MatchTx(Tx(steps[2].at("hex")), r.reg, h(232), mo);
        ASSERT_EQ(rec.size(), 1u);
        EXPECT_EQ(rec[0].kind, EventKind::Recovery);
        EXPECT_TRUE(rec[0].from_trigger_output);
        EXPECT_EQ(rec_stats.output_keys_derived, in_block ? 0u : 1u);
    }
}

TEST(matcher_tests, TouchesIndexSaysWhatTheIndexKnowsWithoutMatching)
{
    // The engine asks the node about a ZMQ-announced transaction when it touches the index: the
    // trigger and the deposit do; someone else's transaction does not.
    const auto* sc = FindScenario("A-none-recover-from-trigger");
    ASSERT_NE(sc, nullptr);
    const auto& steps = sc->at("steps").as_array();
    Registered r;
    RegisterScenario(*sc, r);
    EXPECT_TRUE(TouchesIndex(Tx(steps[0].at("hex")), r.reg.index()));
    EXPECT_TRUE(TouchesIndex(Tx(steps[1].at("hex")), r.reg.index()));
    const auto* other = FindScenario("A-none-withdrawal");
    ASSERT_NE(other, nullptr);
    const Transaction theirs = Tx(other->at("steps").as_array()[0].at("hex"));
    EXPECT_FALSE(TouchesIndex(theirs, r.reg.index()));
    EXPECT_TRUE(MatchTx(theirs, r.reg, std::nullopt).empty());
}

TEST(matcher_tests, TransactionsOfOthersGiveNoEvents)
{
    const auto* mine = FindScenario("A-none-withdrawal");
    ASSERT_NE(mine, nullptr);
    Registered r;
    RegisterScenario(*mine, r);
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("id")) == "A-none-withdrawal") continue;
        for (const auto& st : sc.at("steps").as_array()) {
            EXPECT_TRUE(MatchTx(Tx(st.at("hex")), r.reg, 1).empty()) << Str(st.at("txid"));
        }
    }
    // Removing the vault: its own transactions no longer match.
    ASSERT_TRUE(r.reg.Remove(At(r.reg, 0).id));
    for (const auto& st : mine->at("steps").as_array()) EXPECT_TRUE(MatchTx(Tx(st.at("hex")), r.reg, 1).empty());
}

TEST(matcher_tests, KeyPathSpendOfAVaultUtxoIsUnexpected)
{
    const auto* sc = FindScenario("A-none-recover-from-vault");
    Registered r;
    RegisterScenario(*sc, r);
    const auto& steps = sc->at("steps").as_array();
    ApplyEvents(r.reg, MatchTx(Tx(steps[0].at("hex")), r.reg, 228));
    MutableTransaction m = Tx(steps[1].at("hex")).mutable_copy();
    m.vin[0].witness = {Bytes(64, 0x42)};
    const auto ev = MatchTx(Transaction(m), r.reg, 229);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::UnexpectedSpend);
    EXPECT_TRUE(ev[0].key_path);
    EXPECT_EQ(ev[0].amount, Amount{I(sc->at("vaults").as_array()[0].at("amount_sats"))});
    ApplyEvents(r.reg, ev);
    EXPECT_TRUE(At(r.reg, 0).utxos.empty());
    EXPECT_EQ(At(r.reg, 0).state, VaultState::Active); // alert only; no state claim
}

// --- presigned (synthetic) ----------------------------------------------------------------------

TEST(matcher_tests, PresignedEndToEnd)
{
    PresignedFixture f;
    // The registered trigger spending the watched outpoint.
    const auto trig = MatchTx(Transaction(f.trigger), f.reg, std::nullopt);
    ASSERT_EQ(trig.size(), 1u);
    EXPECT_EQ(trig[0].kind, EventKind::Trigger);
    EXPECT_EQ(trig[0].vaults, std::vector<uint32_t>{f.v});
    EXPECT_EQ(trig[0].presigned_trigger, std::optional<size_t>{0});
    EXPECT_EQ(trig[0].spend_delay, std::optional<int64_t>{144});
    EXPECT_EQ(trig[0].presigned_outputs, std::vector<uint32_t>{0});
    EXPECT_EQ(trig[0].outpoint, (OutPoint{f.trigger_txid, 0}));
    EXPECT_EQ(trig[0].amount, Amount{100'000});
    EXPECT_FALSE(trig[0].malformed());
    // An unknown transaction spending it: unexpected.
    const auto thief = MatchTx(Transaction(Spend({f.watched}, {100'000}, 0x66)), f.reg, 500);
    ASSERT_EQ(thief.size(), 1u);
    EXPECT_EQ(thief[0].kind, EventKind::UnexpectedSpend);
    EXPECT_TRUE(thief[0].key_path);
    // The emergency sweep: a recovery.
    const auto em = MatchTx(Transaction(f.emergency), f.reg, 500);
    ASSERT_EQ(em.size(), 1u);
    EXPECT_EQ(em[0].kind, EventKind::Recovery);
    EXPECT_TRUE(em[0].emergency);

    // Plan: cheapest variant first, then the cheapest meeting a required fee.
    ApplyEvents(f.reg, trig);
    EXPECT_EQ(At(f.reg, f.v).state, VaultState::Triggered);
    auto p = PlanRecovery(f.reg, trig[0]);
    ASSERT_TRUE(p.has_value());
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ(p->front().kind, PlanKind::Presigned);
    EXPECT_EQ(p->front().tx, f.rec_cheap);
    PlanOptions o;
    o.min_fee = Amount{4'000};
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o)->front().tx, f.rec_mid);
    o.min_fee = Amount{10'000};
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o)->front().tx, f.rec_high);
    o.min_fee = Amount{10'001};
    EXPECT_EQ(PlanRecovery(f.reg, trig[0], o).error().error, PlanError::NoVariant);

    // The trigger confirmed; its output is tracked and its spends are classified.
    const auto trig_conf = MatchTx(Transaction(f.trigger), f.reg, 501);
    ASSERT_EQ(trig_conf.size(), 1u);
    ApplyEvents(f.reg, trig_conf);
    const auto* u = At(f.reg, f.v).FindUtxo(OutPoint{f.trigger_txid, 0});
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->role, UtxoRole::Trigger);
    EXPECT_EQ(u->height, std::optional<int>{501});
    const auto rec = MatchTx(Transaction(f.rec_mid), f.reg, 502);
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_EQ(rec[0].kind, EventKind::Recovery);
    EXPECT_TRUE(rec[0].from_trigger_output);
    const auto wd = MatchTx(Transaction(Spend({{f.trigger_txid, 0}}, {99'500}, 0x77)), f.reg, 700);
    ASSERT_EQ(wd.size(), 1u);
    EXPECT_EQ(wd[0].kind, EventKind::WithdrawalCompleted);
    ApplyEvents(f.reg, rec);
    EXPECT_EQ(At(f.reg, f.v).state, VaultState::Recovered);
    // An unrelated output of the trigger (vout 1) is not tracked.
    EXPECT_EQ(At(f.reg, f.v).FindUtxo(OutPoint{f.trigger_txid, 1}), nullptr);
}

TEST(matcher_tests, FeeWalletCoinsAreReported)
{
    const Bytes fee_spk = MiniWalletSpk();
    Registry reg;
    reg.SetFeeWalletSpks({fee_spk});
    size_t coins = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            const Transaction tx = Tx(st.at("hex"));
            for (const auto& e : MatchTx(tx, reg, 1)) {
                EXPECT_EQ(e.kind, EventKind::FeeWalletCoin);
                EXPECT_EQ(e.spk, fee_spk);
                EXPECT_EQ(tx.vout()[e.outpoint.n].value, e.amount);
                ++coins;
            }
        }
    }
    EXPECT_GE(coins, 11u);
    reg.SetFeeWalletSpks({});
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        EXPECT_TRUE(MatchTx(Tx(sc.at("steps").as_array()[0].at("hex")), reg, 1).empty());
    }
}

} // namespace
} // namespace vw::vault
