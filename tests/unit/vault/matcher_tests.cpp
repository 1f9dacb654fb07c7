// The matcher against the real OP_VAULT transactions of tests/data/testvectors/opvault-regtest.json
// (read at run time): every scenario's vaults are registered, every step is matched in order and
// the exact event sequence is derived from the file's roles; every invalid[] tx is flagged as the
// node's reject reason says; PlanRecovery rebuilds the recorded recoveries. Presigned vaults are
// synthetic (built here).

#include "vault/planner.h"

#include "script/sighash.h"
#include "unit/vault/opvault_test_util.h"
#include "vault/fee_wallet.h"
#include "vault/registry.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

namespace vw::vault {
namespace {

using namespace testutil;

//! The record at i (a test failure, not a crash, if there is none).
const VaultRecord& At(const Registry& r, uint32_t i)
{
    static const VaultRecord none{};
    const VaultRecord* p = r.Get(i);
    if (!p) {
        ADD_FAILURE() << "no vault " << i;
        return none;
    }
    return *p;
}

struct Registered {
    Registry reg;
    std::map<std::string, uint32_t> idx; //!< record vault_id -> registry index (equal specs share one)
};

std::optional<crypto::KeyPair> AuthSecret(const json::value& rec)
{
    if (rec.at("recovery_auth_key").is_null()) return std::nullopt;
    return crypto::KeyPair::FromSecret(H(rec.at("recovery_auth_key").at("secret")));
}

void RegisterScenario(const json::value& sc, Registered& r)
{
    for (const auto& rec : sc.at("vaults").as_array()) {
        const std::string id = Str(rec.at("vault_id"));
        OpVaultRegistration reg{SpecFromRecord(rec), AuthSecret(rec), id, {}, std::nullopt, std::nullopt};
        auto a = r.reg.AddOpVault(std::move(reg));
        if (a) {
            r.idx[id] = a->index;
        } else {
            // Records with the same keys and delay (a revault record, two deposits to one sPK)
            // are one vault with several UTXOs.
            ASSERT_EQ(a.error().code, RegistryError::AlreadyRegistered) << id << ": " << a.error().message;
            ASSERT_TRUE(a.error().existing.has_value());
            r.idx[id] = *r.reg.Find(*a.error().existing);
        }
    }
}

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

//! Index of the step of a given kind directly after step i, if any.
const json::value* NextStep(const json::value& sc, size_t i)
{
    const auto& steps = sc.at("steps").as_array();
    return i + 1 < steps.size() ? &steps[i + 1] : nullptr;
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

TEST(matcher_tests, StatesAndTrackedUtxosFollowTheScenarios)
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

TEST(matcher_tests, PlanRecoveryRebuildsRecordedUnauthorizedRecoveries)
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

TEST(matcher_tests, PlanRecoveryAuthorizedSignsAndVerifies)
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

TEST(matcher_tests, BatchRecoveryGroupOrderIsRegistrationOrder)
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

TEST(matcher_tests, LargeSweepsAreSplitByWeightDeterministically)
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

TEST(matcher_tests, AFeeInputIsAddedAndSignedByTheFeeWallet)
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

TEST(matcher_tests, AuthorizedPlansOfOneKeyAreBatchedAcrossGroups)
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
        u.spk = reg.Get(a->index)->opvault->ScriptPubKey();
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

//! The registry of an invalid[] vector's scenario as it was when the node tested the tx.
void RegistryAtTest(const json::value& inv, Registered& r)
{
    const json::value* sc = FindScenario(Str(inv.at("scenario")));
    ASSERT_NE(sc, nullptr);
    RegisterScenario(*sc, r);
    const int tested = static_cast<int>(I(inv.at("tested_at_height")));
    for (const auto& st : sc->at("steps").as_array()) {
        const int h = static_cast<int>(I(st.at("mined_height")));
        if (h > tested) break;
        ApplyEvents(r.reg, MatchTx(Tx(st.at("hex")), r.reg, h));
    }
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
            // spends: see FlaggedSpendsInABlockStillSpend.)
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

const json::value& InvalidVector(std::string_view suffix)
{
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        const std::string id = Str(inv.at("id"));
        if (id.size() > suffix.size() && id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0) return inv;
    }
    throw std::runtime_error("no invalid vector ending in " + std::string(suffix));
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

TEST(matcher_tests, FlaggedSpendsInABlockStillSpend)
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

TEST(matcher_tests, PlanRecoveryMisuse)
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

// --- presigned (synthetic) ----------------------------------------------------------------------

Txid T(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return Txid::FromUint256(u);
}

MutableTransaction Spend(std::vector<OutPoint> ins, std::vector<int64_t> outs, uint8_t tag)
{
    MutableTransaction m;
    for (const auto& o : ins) {
        TxIn in;
        in.prevout = o;
        in.sequence = 0xfffffffd;
        in.witness = {Bytes(64, tag)};
        m.vin.push_back(in);
    }
    for (auto v : outs) m.vout.push_back({Amount{v}, Bytes{0x00, 0x14, tag, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}});
    return m;
}

struct PresignedFixture {
    OutPoint watched{T(1), 0};
    MutableTransaction trigger = Spend({watched}, {100'000, 5'000}, 0x21);
    Txid trigger_txid = ComputeTxid(trigger);
    MutableTransaction rec_cheap = Spend({{trigger_txid, 0}}, {99'000}, 0x31);  // fee 1,000
    MutableTransaction rec_mid = Spend({{trigger_txid, 0}}, {95'000}, 0x32);    // fee 5,000
    MutableTransaction rec_high = Spend({{trigger_txid, 0}}, {90'000}, 0x33);   // fee 10,000
    MutableTransaction emergency = Spend({watched}, {98'000}, 0x41);
    Registry reg;
    uint32_t v{0};

    PresignedFixture()
    {
        PresignedRequest req;
        req.watch_outpoints = {watched};
        req.triggers = {{trigger_txid,
                         {HexStr(SerializeTransaction(rec_high)), HexStr(SerializeTransaction(rec_cheap)),
                          HexStr(SerializeTransaction(rec_mid))},
                         144}};
        req.emergency_txs = {HexStr(SerializeTransaction(emergency))};
        auto pv = ValidatePresigned(req);
        EXPECT_TRUE(pv.has_value()) << (pv ? "" : pv.error());
        auto a = reg.AddPresigned(PresignedRegistration{std::move(*pv), "cold", {}, 100});
        EXPECT_TRUE(a.has_value());
        v = a->index;
    }
};

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

TEST(matcher_tests, PresignedLadderByFeerateAndClimbing)
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
    const auto& pt = At(f.reg, f.v).presigned->triggers[0];
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

TEST(matcher_tests, PanicRecoveryOfAPresignedVault)
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

TEST(matcher_tests, PanicRecoveryOfAPresignedVaultWithoutEmergencyTxs)
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

TEST(matcher_tests, PanicRecoveryOfOpVaultsSweepsEveryLiveUtxo)
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
