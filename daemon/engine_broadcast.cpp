// Broadcast: stored recoveries sent to the node, refusals classified (lib/chain/send_outcome),
// live ones kept in the mempool, dead ones planned again.
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

void Engine::KickBroadcaster(Send what)
{
    if (m_stopping) return;
    if (what == Send::Everything) m_bcast_everything = true;
    if (m_bcast_running) {
        // Mid-pass there is no wait to cancel: the flag makes the loop go round once more.
        m_bcast_kicked = true;
        m_bcast_wake.cancel();
        return;
    }
    m_bcast_running = true;
    net::co_spawn(m_ex, BroadcastLoop(), [this](std::exception_ptr e) {
        m_bcast_running = false;
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::Main()->error("broadcaster: {}", ex.what());
            }
        }
    });
}

net::awaitable<void> Engine::BroadcastLoop()
{
    bool again = true;
    std::chrono::milliseconds backoff{125};
    while (!m_stopping && again) {
        again = false;
        m_bcast_kicked = false;
        bool transient = false;
        bool died = false;
        store::StateChanges changes;
        std::vector<Txid> todo, touched;
        const bool everything = std::exchange(m_bcast_everything, false);
        for (const auto& [txid, r] : m_recoveries) {
            // Live ones only: a dead one comes back through Evaluate, re-planned. Past the deadline
            // too: the thief may not have withdrawn yet, and a sweep that confirms first still wins.
            // Never accepted first: they are the ones no node has yet.
            if (IsLive(r) && r.state == vault::RecoveryState::Planned) todo.push_back(txid);
        }
        if (everything) {
            for (const auto& [txid, r] : m_recoveries) {
                if (IsLive(r) && r.state != vault::RecoveryState::Planned) todo.push_back(txid);
            }
        }
        for (const auto& txid : todo) {
            if (m_stopping) break;
            auto it = m_recoveries.find(txid);
            if (it == m_recoveries.end() || !IsLive(it->second)) continue;
            // Read before the call: a block applied while we wait may confirm it, and the operator
            // must still hear that it went out.
            const vault::RecoveryState before = it->second.state;
            auto tx = DecodeTransaction(it->second.tx);
            if (!tx) continue; // rows are checked when loaded
            auto res = co_await m_node.SendRawTransaction(*tx);
            it = m_recoveries.find(txid);
            if (it == m_recoveries.end()) continue;
            chain::SendOutcome outcome = res.outcome;
            std::string cpfp_note;
            if (outcome == chain::SendOutcome::FeeTooLow) {
                // The recovery alone pays too little: a child from the fee wallet pays for both,
                // submitted as a package, when the recovery has an output the wallet can spend
                // (or the wallet has a coin to add).
                if (auto child = PlanCpfp(it->second)) {
                    std::vector<Transaction> pkg;
                    pkg.push_back(*tx);
                    pkg.emplace_back(*child);
                    auto pr = co_await m_node.SubmitPackage(pkg);
                    if (pr && *pr.value) {
                        outcome = chain::SendOutcome::Accepted;
                        cpfp_note = ComputeTxid(*child).ToString();
                    } else {
                        log::Main()->warn("recovery {}: the CPFP package was refused: {}", txid.ToString(),
                                          pr ? std::string("not every transaction was accepted") : pr.error->ToString());
                    }
                }
                it = m_recoveries.find(txid);
                if (it == m_recoveries.end()) continue;
            }
            auto& row = it->second;
            ++row.attempts;
            const bool accepted = chain::IsAccepted(outcome);
            if (!cpfp_note.empty()) {
                ++m_stats.fee_bumps;
                log::Main()->info("recovery {} went out in a package with the CPFP child {}", txid.ToString(), cpfp_note);
                for (const auto& id : row.vault_ids) {
                    Event(changes, "recovery.fee_bumped", id, txid.ToString(), std::nullopt, {{"cpfp_child", cpfp_note}, {"trigger_txid", TriggerTxidJson(row.trigger_txid)}});
                }
            }
            if (accepted) {
                ++m_stats.broadcasts;
                // The node's best height when it first had it (after a restart: when it had it again).
                m_sent_at.try_emplace(txid, std::max(m_tip, m_opts.node_tip ? m_opts.node_tip() : -1));
                if (IsLive(row)) MoveTo(row, vault::RecoveryState::Broadcast);
                row.last_error.clear();
                if (before == vault::RecoveryState::Planned) { // first accepted (or accepted again after a refusal)
                    for (const auto& id : row.vault_ids) Event(changes, "recovery.broadcast", id, txid.ToString(), std::nullopt, {{"trigger_txid", TriggerTxidJson(row.trigger_txid)}});
                }
            } else {
                ++m_stats.broadcast_failures;
                const std::string err = res.Message();
                if (outcome == chain::SendOutcome::Unreachable) {
                    transient = true;
                } else if (IsLive(row)) {
                    // Refused for a reason that stays: dead. Its fee coins are free and its trigger
                    // is planned again now, with what the chain holds (the same transaction comes
                    // back at the next block if nothing changed).
                    MoveTo(row, vault::RecoveryState::Failed);
                    m_tried_at[txid] = m_tip; // tried at this tip: the same transaction waits for a block
                    died = true;
                    m_sent_at.erase(txid);
                    if (row.last_error != err) {
                        for (const auto& id : row.vault_ids) {
                            Event(changes, "recovery.failed", id, txid.ToString(), std::nullopt,
                                  {{"error", err},
                                   {"reason", std::string(chain::ToString(outcome))},
                                   {"trigger_txid", TriggerTxidJson(row.trigger_txid)},
                                   {"retry", "planned again at once with what the chain holds, then each block"}});
                        }
                    }
                    log::Main()->warn("recovery {} refused ({}): {}", txid.ToString(), chain::ToString(outcome), err);
                }
                row.last_error = err;
            }
            touched.push_back(txid);
            if (on_broadcast) on_broadcast(txid, accepted);
        }
        // Store the rows as they are now: a block may have confirmed one while we waited.
        for (const auto& txid : touched) {
            if (auto it = m_recoveries.find(txid); it != m_recoveries.end()) changes.recoveries.push_back(it->second);
        }
        if (died && !m_stopping) {
            // Re-plan what the dead ones answered. New transactions go round at once; one that
            // comes out the same waits for the next block.
            const size_t before_plan = changes.recoveries.size();
            Evaluate(changes);
            if (changes.recoveries.size() > before_plan) again = true;
        }
        // The intents were stored before broadcasting; what changed since (attempts, state,
        // errors) is bookkeeping, stored once per pass so a mass exit costs one fsync, not one
        // per recovery. New plans are stored here before they are sent (next round).
        PersistNow(changes);
        if (m_stopping) break;
        if (again) continue;
        // Node trouble: retry soon, backing off to retry_interval; otherwise sleep until kicked.
        backoff = transient ? std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(m_opts.retry_interval))
                            : std::chrono::milliseconds{125};
        if (transient && everything) m_bcast_everything = true; // the retry owes the same rebroadcast
        if (m_bcast_kicked) { // kicked during the pass (a new block or intent): go round at once
            again = true;
            continue;
        }
        m_bcast_wake.expires_after(transient ? backoff : std::chrono::hours{24 * 365});
        auto [ec] = co_await m_bcast_wake.async_wait(net::as_tuple(net::use_awaitable));
        // Cancelled = kicked (new intent or new block): go round again. Expired = retry.
        again = !m_stopping;
        (void)ec;
    }
}

net::awaitable<void> Engine::CheckDeployment()
{
    // Ask until the node answers; registration of opvault vaults waits on the answer.
    for (int attempt = 0; !m_stopping && !m_vault_enforced; ++attempt) {
        auto r = co_await m_node.DeploymentActive("vault");
        if (r) {
            m_vault_enforced = *r.value;
            log::Main()->info("node {} OP_VAULT (getdeploymentinfo)", *r.value ? "enforces" : "does not enforce");
            co_return;
        }
        net::steady_timer t(m_ex, std::chrono::seconds{std::min(attempt + 1, 10)});
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
    }
}

// --- control ----------------------------------------------------------------------------------

} // namespace vw::daemon
