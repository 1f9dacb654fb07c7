// The ccv kind through the tower's stages (registration JSON, registry, matcher, ApplyEvents,
// planner), replayed on the transactions a CCV-enforcing node accepted and refused
// (tests/data/testvectors/ccv-regtest.json, read at run time).

#include "rpc/vault_json.h"
#include "unit/vault/ccv_test_util.h"
#include "util/hex.h"
#include "vault/ccv.h"
#include "vault/matcher.h"
#include "vault/planner.h"
#include "vault/registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace vw::vault {
namespace {

using namespace ccv::testutil;

//! What an operator sends to register the vector's vault (nullopt: one with an alternate key,
//! which no registration can express).
std::optional<json::object> RegistrationOf(const json::value& rec)
{
    const auto& p = rec.at("params");
    if (!p.at("alternate_pk").is_null()) return std::nullopt;
    return json::object{{"kind", "ccv"},
                        {"label", rec.at("id")},
                        {"construction", rec.at("construction")},
                        {"spend_delay", p.at("spend_delay")},
                        {"recover_pk", p.at("recover_pk")},
                        {"unvault_pk", p.at("unvault_pk")},
                        {"partial_revault", p.at("has_partial_revault")},
                        {"early_recover", p.at("has_early_recover")}};
}

struct Book {
    Registry reg;
    std::map<std::string, uint32_t> idx; //!< vector vault id -> registry index
};
void Register(Book& b)
{
    for (const auto& rec : Vectors().at("vaults").as_array()) {
        auto params = RegistrationOf(rec);
        if (!params) continue;
        auto parsed = rpc::ParseRegisterVault(*params);
        ASSERT_TRUE(parsed) << parsed.error();
        auto added = rpc::AddToRegistry(b.reg, std::move(*parsed));
        ASSERT_TRUE(added) << added.error().message;
        b.idx[Str(rec.at("id"))] = added->index;
    }
}

//! Every accepted step, in the order the node mined them.
std::vector<const json::value*> StepsByHeight()
{
    std::vector<const json::value*> out;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) out.push_back(&st);
    }
    std::stable_sort(out.begin(), out.end(), [](auto* a, auto* b) { return I(a->at("mined_height")) < I(b->at("mined_height")); });
    return out;
}

TEST(ccv_flow_tests, ARegistrationRoundTripsAndKeepsItsId)
{
    size_t n = 0;
    for (const auto& rec : Vectors().at("vaults").as_array()) {
        SCOPED_TRACE(Str(rec.at("id")));
        auto params = RegistrationOf(rec);
        if (!params) {
            // An alternate key cannot be said at all: the field is unknown to registration.
            json::object with = *RegistrationOf(Vectors().at("vaults").as_array().at(0));
            with["alternate_pk"] = rec.at("params").at("alternate_pk");
            auto r = rpc::ParseRegisterVault(with);
            ASSERT_FALSE(r);
            EXPECT_NE(r.error().find("alternate_pk"), std::string::npos) << r.error();
            EXPECT_NE(r.error().find("key path"), std::string::npos) << r.error();
            continue;
        }
        auto parsed = rpc::ParseRegisterVault(*params);
        ASSERT_TRUE(parsed) << parsed.error();
        EXPECT_EQ(rpc::KindOf(*parsed), VaultKind::Ccv);
        const VaultId id = rpc::RegistrationId(*parsed);
        auto again = rpc::ParseRegisterVault(rpc::ToJson(*parsed, false));
        ASSERT_TRUE(again) << again.error();
        EXPECT_EQ(rpc::RegistrationId(*again), id);
        auto prepared = rpc::PrepareRegistration(std::move(*again));
        ASSERT_TRUE(prepared) << prepared.error().message;
        EXPECT_EQ(prepared->record.id, id);
        EXPECT_EQ(prepared->record.MinSpendDelay(), I(rec.at("params").at("spend_delay")));
        EXPECT_TRUE(prepared->record.CanRecoverAlone());
        EXPECT_EQ(HexStr(prepared->details.ccv->ScriptPubKey()), Str(rec.at("vault_spk")));
        const json::object shown = rpc::VaultDetailJson(prepared->record, prepared->details, "bcrt");
        EXPECT_EQ(Str(shown.at("address")), Str(rec.at("address")));
        EXPECT_EQ(Str(shown.at("kind")), "ccv");
        ++n;
    }
    EXPECT_GE(n, 10u);
    // A bad field is named.
    json::object bad = *RegistrationOf(Vectors().at("vaults").as_array().at(0));
    bad["construction"] = "ctv2";
    auto r = rpc::ParseRegisterVault(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("construction"), std::string::npos);
}

TEST(ccv_flow_tests, EveryAcceptedTransactionGivesTheEventsItShould)
{
    Book b;
    Register(b);
    std::map<std::string, size_t> kinds;
    for (const json::value* stp : StepsByHeight()) {
        const json::value& st = *stp;
        const std::string kind = Str(st.at("kind"));
        SCOPED_TRACE(kind + " " + Str(st.at("txid")));
        const Transaction tx = Tx(st.at("hex"));
        const int h = static_cast<int>(I(st.at("mined_height")));
        // Seen first in the mempool (nothing changes there but what it says), then in its block.
        const auto mem = MatchTx(tx, b.reg, std::nullopt);
        const auto events = MatchTx(tx, b.reg, h);
        for (const auto& e : events) EXPECT_FALSE(e.malformed()) << ToString(e.kind) << " flagged";
        std::set<uint32_t> input_vaults;
        for (const auto& in : st.at("inputs").as_array()) {
            if (in.at("vault_id").is_string() && b.idx.count(Str(in.at("vault_id")))) input_vaults.insert(b.idx.at(Str(in.at("vault_id"))));
        }
        auto count = [&](EventKind k) { return std::count_if(events.begin(), events.end(), [&](const VaultEvent& e) { return e.kind == k; }); };
        if (kind == "deposit") {
            size_t want = 0;
            for (const auto& o : st.at("outputs").as_array()) {
                if (Str(o.at("role")) == "vault" && b.idx.count(Str(o.at("vault_ids").as_array().at(0)))) ++want;
            }
            EXPECT_EQ(static_cast<size_t>(count(EventKind::Deposit)), want);
        } else if (kind == "trigger" && !input_vaults.empty()) {
            // One event per unvaulting output, naming every vault that paid into it.
            std::set<uint32_t> unvaulting;
            for (const auto& o : st.at("outputs").as_array()) {
                if (Str(o.at("role")) == "unvaulting") unvaulting.insert(static_cast<uint32_t>(I(o.at("vout"))));
            }
            ASSERT_EQ(static_cast<size_t>(count(EventKind::Trigger)), unvaulting.size());
            for (const auto& e : events) {
                if (e.kind != EventKind::Trigger) continue;
                ASSERT_TRUE(unvaulting.count(e.outpoint.n));
                const auto& o = st.at("outputs").as_array().at(e.outpoint.n);
                ASSERT_TRUE(e.ccv_data);
                EXPECT_EQ(HexStr(*e.ccv_data), Str(o.at("data")));
                std::set<uint32_t> named;
                for (const auto& id : o.at("vault_ids").as_array()) named.insert(b.idx.at(Str(id)));
                EXPECT_EQ(std::set<uint32_t>(e.vaults.begin(), e.vaults.end()), named);
                size_t revaults = 0;
                for (const auto& ro : st.at("outputs").as_array()) revaults += Str(ro.at("role")) == "revault";
                EXPECT_EQ(e.revaults.size(), revaults);
            }
            // The mempool sight says the same.
            EXPECT_EQ(std::count_if(mem.begin(), mem.end(), [](const VaultEvent& e) { return e.kind == EventKind::Trigger; }),
                      count(EventKind::Trigger));
        } else if (kind == "recover" && !input_vaults.empty()) {
            EXPECT_GE(static_cast<size_t>(count(EventKind::Recovery)), input_vaults.size());
            EXPECT_EQ(count(EventKind::UnexpectedSpend), 0);
        } else if (kind == "withdraw") {
            EXPECT_EQ(count(EventKind::WithdrawalCompleted), 1);
        }
        if (!input_vaults.empty() || kind == "deposit") ++kinds[kind];
        ApplyEvents(b.reg, events);
        if (kind == "trigger") {
            for (uint32_t v : input_vaults) EXPECT_EQ(b.reg.Get(v)->state, VaultState::Triggered);
        }
    }
    for (const char* k : {"deposit", "trigger", "recover", "withdraw"}) EXPECT_GE(kinds[k], 4u) << k;
}

TEST(ccv_flow_tests, EveryTriggerIsAnsweredByARecoverTheRulesAccept)
{
    Book b;
    Register(b);
    size_t answered = 0;
    for (const json::value* stp : StepsByHeight()) {
        const json::value& st = *stp;
        const Transaction tx = Tx(st.at("hex"));
        const int h = static_cast<int>(I(st.at("mined_height")));
        const auto events = MatchTx(tx, b.reg, h);
        ApplyEvents(b.reg, events);
        for (const auto& e : events) {
            if (e.kind != EventKind::Trigger) continue;
            SCOPED_TRACE("trigger " + Str(st.at("txid")));
            auto plans = PlanRecovery(b.reg, e, PlanOptions{});
            ASSERT_TRUE(plans) << ToString(plans.error().error);
            ASSERT_EQ(plans->size(), 1u);
            const PlannedRecovery& p = plans->front();
            EXPECT_EQ(p.kind, PlanKind::Ccv);
            const Transaction rtx{p.tx};
            // The unvaulting output it answers is among what it sweeps.
            EXPECT_TRUE(std::any_of(rtx.vin().begin(), rtx.vin().end(), [&](const TxIn& in) { return in.prevout == e.outpoint; }));
            // Each input is a recover the rules accept, each recovery key paid the sum of its inputs.
            std::vector<ccv::SpentOutput> spent;
            for (const auto& in : p.inputs) {
                ccv::SpentOutput so;
                for (uint32_t v : p.vaults) {
                    const TrackedUtxo* u = b.reg.Get(v)->FindUtxo(in.outpoint);
                    if (!u) continue;
                    so.vault = &*b.reg.Details(v)->ccv;
                    if (u->trigger) so.unvaulting_data = u->trigger->ccv_data;
                }
                ASSERT_NE(so.vault, nullptr);
                spent.push_back(std::move(so));
            }
            auto ok = ccv::CheckTx(rtx, p.spent, spent, h + 1);
            EXPECT_TRUE(ok) << ToString(ok.error().rule) << " at input " << ok.error().input;
            Amount in{0}, out{0};
            for (const auto& s : p.spent) in += s.value;
            for (const auto& o : rtx.vout()) out += o.value;
            EXPECT_EQ(in, out); // no fee input here: the planner never takes the fee from the vault
            // Our own recovery, seen in the mempool, is a recovery: nothing flagged (an unvaulting
            // output several vaults paid into is one input, counted once).
            for (const auto& re : MatchTx(rtx, b.reg, std::nullopt)) {
                EXPECT_EQ(re.kind, EventKind::Recovery);
                EXPECT_FALSE(re.malformed()) << "flagged: " << (re.ccv_rule ? ToString(*re.ccv_rule) : "");
            }
            ++answered;
        }
    }
    EXPECT_GE(answered, 10u);
}

TEST(ccv_flow_tests, TwoVaultsTriggeredIntoOneUnvaultingOutputAreRecoveredAsOne)
{
    // The unvaulting output commits to the recovery key, delay and data, not to the unvault key:
    // a thief holding two vaults' unvault keys may trigger both into one output. It is tracked by
    // both vaults, swept once, and our sweep of it is not taken for one paying too little.
    const auto& rec0 = Vectors().at("vaults").as_array().at(0);
    json::object a = *RegistrationOf(rec0), b = a;
    b["unvault_pk"] = Str(Vectors().at("vaults").as_array().at(6).at("params").at("unvault_pk"));
    b["construction"] = rec0.at("construction");
    Registry reg;
    uint32_t idx[2];
    const ccv::Vault* v[2];
    for (int k = 0; k < 2; ++k) {
        auto added = rpc::AddToRegistry(reg, *rpc::ParseRegisterVault(k ? b : a));
        ASSERT_TRUE(added) << added.error().message;
        idx[k] = added->index;
        v[k] = &*reg.Details(idx[k])->ccv;
    }
    ASSERT_NE(v[0]->ScriptPubKey(), v[1]->ScriptPubKey());
    // Deposits to both, confirmed.
    MutableTransaction dep;
    dep.vin.push_back(TxIn{OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, 7))), 0}, {}, 0xffffffff, {}});
    dep.vout = {TxOut{Amount{50'000}, v[0]->ScriptPubKey()}, TxOut{Amount{70'000}, v[1]->ScriptPubKey()}};
    const Transaction deposit{dep};
    ApplyEvents(reg, MatchTx(deposit, reg, 200));
    // The trigger: both inputs commit vout 0 to the same data.
    const Bytes data(32, 0x5a);
    auto u = v[0]->UnvaultingFor(data);
    ASSERT_EQ(u->spk, v[1]->UnvaultingFor(data)->spk);
    MutableTransaction trig;
    trig.version = 2;
    for (uint32_t k = 0; k < 2; ++k) {
        trig.vin.push_back(TxIn{OutPoint{deposit.GetTxid(), k}, {}, 0xfffffffd,
                                {Bytes(64, 1), data, Bytes{}, v[k]->tree().leaves()[0].script,
                                 v[k]->ControlBlockFor(ccv::Clause::Trigger).Serialize()}});
    }
    trig.vout.push_back(TxOut{Amount{120'000}, u->spk});
    const Transaction trigger{trig};
    const auto events = MatchTx(trigger, reg, 201);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].vaults, (std::vector<uint32_t>{idx[0], idx[1]}));
    ApplyEvents(reg, events);
    auto plans = PlanRecovery(reg, events[0], PlanOptions{});
    ASSERT_TRUE(plans);
    const Transaction rtx{plans->front().tx};
    ASSERT_EQ(rtx.vin().size(), 1u);
    EXPECT_EQ(rtx.vout().at(0).value, Amount{120'000});
    for (const auto& re : MatchTx(rtx, reg, std::nullopt)) EXPECT_FALSE(re.malformed()) << "vault " << re.vaults.front();
    ApplyEvents(reg, MatchTx(rtx, reg, 202));
    for (uint32_t i : idx) EXPECT_EQ(reg.Get(i)->state, VaultState::Recovered);
}

TEST(ccv_flow_tests, EveryRefusedTransactionIsFlagged)
{
    // The registry as it stood when the node refused each one, then the refused tx seen in the
    // mempool with its prevouts: the stage that acts on it must not take it for a valid spend.
    const auto steps = StepsByHeight();
    size_t flagged = 0;
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        SCOPED_TRACE(Str(inv.at("id")));
        const std::string reason = Str(inv.at("reject_reason"));
        if (reason == "non-BIP68-final") continue; // a withdrawal one block early: valid a block later
        Book b;
        Register(b);
        const int tested = static_cast<int>(I(inv.at("tested_at_height")));
        for (const json::value* st : steps) {
            if (I(st->at("mined_height")) > tested) break;
            ApplyEvents(b.reg, MatchTx(Tx(st->at("hex")), b.reg, static_cast<int>(I(st->at("mined_height")))));
        }
        const auto prevouts = Prevouts(inv.at("prevouts"));
        MatchOptions o;
        o.prevouts = prevouts;
        const auto events = MatchTx(Tx(inv.at("hex")), b.reg, std::nullopt, o);
        ASSERT_FALSE(events.empty()) << reason;
        EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const VaultEvent& e) { return e.malformed(); })) << reason;
        ++flagged;
    }
    EXPECT_GE(flagged, 15u);
}

} // namespace
} // namespace vw::vault
