// Decision: every open trigger judged against its vault's policy (lib/vault/policy), and the
// recoveries to plan (lib/vault/matcher PlanRecovery) with their fees attached.
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

void Engine::Evaluate(store::StateChanges& changes)
{
    // A trigger is answered by a live or confirmed recovery that names it, or that sweeps its
    // output (a group sweep answers every trigger of the group at once). Dead recoveries answer
    // nothing: their triggers are planned again here, with what the chain holds now. Both are
    // lookups in the recovery book's indexes, which this pass's new rows join as they are made;
    // `batched` holds what the authorized sweeps waiting for the end of the pass will take.
    // (A pass over every recovery and trigger per decision made a mass exit through the mempool
    // quadratic: 2,000 triggers took 7 s to answer.)
#ifndef NDEBUG
    VW_ASSERT(m_recoveries.CheckIndexes()); // kept by every change of a row (the Debug tests check it)
#endif
    std::set<OutPoint> batched;
    auto covered = [&](const OutPoint& o) { return m_recoveries.LiveSpends(o) || batched.contains(o); };
    auto decide = [&](const TriggerInfo& t, uint32_t v) {
        vault::TriggerFacts facts;
        facts.ctv_hash = t.event.ctv_hash;
        facts.txid = t.event.txid;
        facts.confirmed_height = t.event.height;
        facts.first_seen_height = t.seen_at;
        facts.spend_delay = static_cast<int>(t.event.spend_delay.value_or(0));
        const auto* rec = m_registry.Get(v);
        return vault::Decide(rec->policy, rec->approvals(), facts, m_tip);
    };
    // An approved withdrawal's outputs are the owner's: no sweep takes them, not even a group
    // sweep answering another vault's trigger. Asked only of the outputs a plan would sweep; a
    // trigger's outputs are its own transaction's, so the txid finds it.
    std::map<Txid, bool> approved_trigger;
    auto approved_output = [&](const OutPoint& o) {
        auto it = m_triggers.find(o.txid);
        if (it == m_triggers.end()) return false;
        const TriggerInfo& t = it->second;
        if (t.closed || t.event.presigned_trigger) return false;
        if (o != t.event.outpoint && std::none_of(t.event.revaults.begin(), t.event.revaults.end(), [&](const auto& r) { return r.outpoint == o; })) {
            return false;
        }
        auto [a, fresh] = approved_trigger.try_emplace(o.txid, false);
        if (fresh) {
            a->second = std::all_of(t.event.vaults.begin(), t.event.vaults.end(), [&](uint32_t v) {
                const auto* rec = m_registry.Get(v);
                return rec && rec->state != VaultState::Removed && decide(t, v).approved;
            });
        }
        return a->second;
    };
    auto keep_out = [&](const OutPoint& o) { return covered(o) || approved_output(o); };
    struct Authorized {
        vault::PlannedRecovery plan;
        Txid trigger;
        std::optional<int> deadline;
        std::set<OutPoint> sweeps; //!< the plan's recovery inputs
    };
    std::vector<Authorized> authorized;
    std::map<uint32_t, Txid> trigger_of; // vault -> the trigger its authorized sweep answers
    // Fee coins picked in this pass (those of live recoveries are in the recovery book's index).
    std::set<OutPoint> picked_coins;
    auto record = [&](vault::PlannedRecovery& p, const Txid& ttxid, std::optional<int> deadline) {
        const Transaction tx{p.tx};
        const Txid txid = tx.GetTxid();
        if (auto it = m_recoveries.find(txid); it != m_recoveries.end()) {
            // The same transaction as before (plans are deterministic). A dead one goes out again
            // once a block (and at start): what made the node refuse it may have changed.
            if (IsLive(it->second) || it->second.state == vault::RecoveryState::Confirmed) return;
            auto [tried, fresh] = m_tried_at.try_emplace(txid, m_tip);
            if (!fresh && tried->second >= m_tip) return;
            tried->second = m_tip;
            auto old = m_recoveries.Change(txid); // live again: its inputs are covered from here on
            MoveTo(*old, vault::RecoveryState::Planned);
            if (deadline) old->deadline_height = deadline;
            for (auto v : p.vaults) m_registry.SetState(v, VaultState::Recovering);
            changes.recoveries.push_back(*old);
            log::Main()->info("recovery {} tried again ({})", txid.ToString(), old->last_error);
            return;
        }
        store::RecoveryRow row;
        row.txid = txid;
        row.kind = p.kind;
        row.trigger_txid = ttxid;
        for (auto v : p.vaults) row.vault_ids.push_back(VaultIdOf(v));
        row.tx = SerializeTransaction(tx);
        row.state = vault::RecoveryState::Planned; // a new row
        row.deadline_height = deadline;
        row.created_at = Now();
        ++m_stats.recoveries_planned;
        for (auto v : p.vaults) m_registry.SetState(v, VaultState::Recovering);
        for (size_t k = 0; k < p.vaults.size(); ++k) {
            auto t = trigger_of.find(p.vaults[k]);
            Event(changes, "recovery.planned", row.vault_ids[k], row.txid.ToString(), std::nullopt,
                  {{"trigger_txid", (t != trigger_of.end() ? t->second : ttxid).ToString()}, {"kind", vault::ToString(row.kind)}});
        }
        changes.recoveries.push_back(row);
        m_recoveries.Insert(std::move(row)); // its inputs are covered from here on
    };
    // The triggers to look at: the open ones, or all after a recovery died or a replay. Which of
    // them stay open is worked out as the pass ends, however it ends, from the stored recoveries
    // alone (an authorized sweep batched in this pass is stored only if its merge succeeds).
    const uint64_t losses = m_recoveries.losses(); // Evaluate only adds recoveries, or brings dead ones back
    const bool look_at_all = std::exchange(m_evaluate_all, false) || losses != m_book_losses_seen;
    std::vector<Txid> todo;
    if (look_at_all) {
        m_open_triggers.clear();
        todo.reserve(m_triggers.size());
        for (const auto& [id, _] : m_triggers) todo.push_back(id);
    } else {
        todo.assign(m_open_triggers.begin(), m_open_triggers.end());
    }
    struct Reopen {
        Engine& e;
        const std::vector<Txid>& todo;
        uint64_t losses;
        ~Reopen()
        {
            for (const auto& id : todo) {
                auto it = e.m_triggers.find(id);
                if (it == e.m_triggers.end()) {
                    e.m_open_triggers.erase(id);
                    continue;
                }
                const TriggerInfo& t = it->second;
                const bool answered = e.m_recoveries.Answers(id) || (!t.event.presigned_trigger && e.m_recoveries.LiveSpends(t.event.outpoint));
                if (t.closed || (answered && t.alerted)) {
                    e.m_open_triggers.erase(id);
                } else {
                    e.m_open_triggers.insert(id);
                }
            }
            e.m_book_losses_seen = losses;
#ifndef NDEBUG
            // What makes skipping the others right: each is settled (the Debug tests check it).
            for (const auto& [id, t] : e.m_triggers) {
                const bool answered = e.m_recoveries.Answers(id) || (!t.event.presigned_trigger && e.m_recoveries.LiveSpends(t.event.outpoint));
                VW_ASSERT(e.m_open_triggers.contains(id) || t.closed || (answered && t.alerted));
            }
#endif
        }
    } reopen{*this, todo, losses};
    for (const auto& ttxid : todo) {
        auto found = m_triggers.find(ttxid);
        if (found == m_triggers.end()) continue;
        TriggerInfo& t = found->second;
        const auto& ev = t.event;
        const bool answered = m_recoveries.Answers(ttxid) || (!ev.presigned_trigger && covered(ev.outpoint));
        if (answered && t.alerted) continue; // nothing left to decide (fee bumping is the broadcaster's)
        if (t.closed) continue;
        bool recover = false;
        std::optional<int> deadline;
        for (auto v : ev.vaults) {
            const auto* rec = m_registry.Get(v);
            if (!rec || rec->state == VaultState::Removed) continue;
            const auto d = decide(t, v);
            if (d.deadline_height) deadline = deadline ? std::min(*deadline, *d.deadline_height) : *d.deadline_height;
            if (!t.alerted) {
                Event(changes, "vault.trigger", rec->id.str(), ttxid.ToString(), ev.height,
                      {{"approved", d.approved},
                       {"action", std::string(vault::ToString(d.action))},
                       {"deadline_height", d.deadline_height ? json::value(*d.deadline_height) : json::value(nullptr)},
                       {"ctv_hash", ev.ctv_hash ? json::value(HexStr(ev.ctv_hash->span())) : json::value(nullptr)},
                       {"reason", d.reason}});
            }
            if (d.action == vault::Action::Recover) recover = true;
        }
        if (!t.alerted) {
            changes.sightings.push_back({ttxid, t.seen_at});
            m_sightings.emplace(ttxid, t.seen_at);
        }
        t.alerted = true;
        if (!recover || answered) continue;
        vault::PlanOptions po;
        po.min_feerate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, deadline, m_tip);
        // Only what the chain holds, plus the trigger's own outputs: an unconfirmed deposit is
        // the thief's to replace (evicting the sweep) or to pin it with.
        po.confirmed_only = true;
        po.exclude = keep_out;
        auto plans = vault::PlanRecovery(m_registry, ev, po);
        if (!plans) {
            if (plans.error().error == vault::PlanError::NothingToSweep) {
                // Spent on chain (withdrawn, or recovered by someone else): nothing more to do. Spent
                // in the mempool only: decided again when that changes.
                if (TriggerSpentOnChain(ev)) t.closed = true;
                continue;
            }
            std::string why{vault::ToString(plans.error().error)};
            if (plans.error().build_error) why += std::string(": ") + std::string(vault::ToString(*plans.error().build_error));
            log::Main()->critical("cannot plan a recovery for trigger {}: {}", ttxid.ToString(), why);
            if (!t.plan_failure_alerted) {
                // The loudest alert there is: a theft in progress the tower cannot answer by itself.
                t.plan_failure_alerted = true;
                for (auto v : ev.vaults) {
                    Event(changes, "recovery.failed", VaultIdOf(v), "", ev.height,
                          {{"trigger_txid", ttxid.ToString()},
                           {"error", "cannot plan a recovery: " + why},
                           {"deadline_height", deadline ? json::value(*deadline) : json::value(nullptr)},
                           {"retry", plans.error().error == vault::PlanError::NoAuthKey
                                         ? "never: register the vault's recovery_auth key, or sweep it with your own wallet now"
                                         : "each block until the deadline"}});
                }
            }
            continue;
        }
        // Authorized OP_VAULT sweeps wait for the end of the pass: those signed by one key are
        // batched across triggers (one transaction, one output per recovery group). So do ccv
        // sweeps, all in one batch (one output per recovery key): a mass exit is one transaction.
        for (auto& p : *plans) {
            if (p.kind == vault::PlanKind::OpVaultAuthorized || p.kind == vault::PlanKind::Ccv) {
                for (auto v : p.vaults) trigger_of.try_emplace(v, ttxid);
                std::set<OutPoint> sweeps;
                for (const auto& in : p.inputs) sweeps.insert(in.outpoint);
                batched.insert(sweeps.begin(), sweeps.end());
                authorized.push_back({std::move(p), ttxid, deadline, std::move(sweeps)});
            } else {
                std::vector<vault::PlannedRecovery> one;
                one.push_back(std::move(p));
                AttachFees(one, deadline, &picked_coins);
                record(one.front(), ttxid, deadline);
            }
        }
    }
    // Pre-signed vaults spent unexpectedly: their emergency transactions that still apply.
    for (auto it = m_unexpected.begin(); it != m_unexpected.end();) {
        const auto [v, spend] = *it;
        const auto* rec = m_registry.Get(v);
        if (!rec || rec->state == VaultState::Removed || rec->policy.mode == vault::Mode::Alert) {
            it = m_unexpected.erase(it);
            continue;
        }
        vault::PlanOptions po;
        po.min_feerate = CurrentFeeRate();
        auto plans = vault::PlanVaultRecovery(m_registry, v, po);
        if (plans) {
            for (auto& p : *plans) {
                if (p.kind != vault::PlanKind::PresignedEmergency) continue;
                const Transaction etx{p.tx};
                if (std::any_of(etx.vin().begin(), etx.vin().end(), [&](const TxIn& in) { return covered(in.prevout); })) continue;
                log::Main()->warn("vault {}: a watched outpoint was spent by {}; broadcasting the emergency transaction {}", rec->id.str(),
                                  spend.ToString(), etx.GetTxid().ToString());
                record(p, spend, std::nullopt);
            }
        }
        it = m_unexpected.erase(it);
    }
    if (authorized.empty()) return;
    std::vector<vault::PlannedRecovery> plans;
    for (auto& a : authorized) plans.push_back(std::move(a.plan));
    auto merged = vault::MergeAuthorizedPlans(m_registry, std::move(plans));
    if (!merged) {
        log::Main()->critical("cannot batch the authorized recoveries: {}", vault::ToString(merged.error().error));
        return;
    }
    // Which authorized plans each swept output came from (a lookup per input: a mass exit merges
    // thousands of plans, and a scan of them all per merged sweep would be quadratic).
    std::map<OutPoint, size_t> plan_of;
    for (size_t k = 0; k < authorized.size(); ++k) {
        for (const auto& o : authorized[k].sweeps) plan_of.try_emplace(o, k);
    }
    for (auto& p : *merged) {
        // Its trigger (the first of those it answers) and the earliest deadline among them.
        std::set<size_t> answers;
        for (const auto& in : p.inputs) {
            if (auto it = plan_of.find(in.outpoint); it != plan_of.end()) answers.insert(it->second);
        }
        std::optional<Txid> ttxid;
        std::optional<int> deadline;
        for (size_t k : answers) {
            const auto& a = authorized[k];
            if (!ttxid) ttxid = a.trigger;
            if (a.deadline) deadline = deadline ? std::min(*deadline, *a.deadline) : *a.deadline;
        }
        std::vector<vault::PlannedRecovery> one;
        one.push_back(std::move(p));
        AttachFees(one, deadline, &picked_coins);
        record(one.front(), ttxid.value_or(Txid{}), deadline);
    }
}

bool Engine::TriggerSpentOnChain(const vault::VaultEvent& ev) const
{
    // Its outputs are no longer tracked by any of its vaults: a confirmed transaction spent them.
    std::vector<OutPoint> outs;
    if (ev.presigned_trigger) {
        for (auto n : ev.presigned_outputs) outs.push_back(OutPoint{ev.txid, n});
    } else {
        outs.push_back(ev.outpoint);
        for (const auto& r : ev.revaults) outs.push_back(r.outpoint);
    }
    for (auto v : ev.vaults) {
        const auto* rec = m_registry.Get(v);
        if (!rec) continue;
        for (const auto& o : outs) {
            if (rec->FindUtxo(o)) return false;
        }
    }
    return true;
}

} // namespace vw::daemon
