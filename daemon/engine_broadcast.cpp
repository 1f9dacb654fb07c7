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
        // Never accepted first: they are the ones no node has yet (a list kept by the book, not a
        // pass over every row). Live ones only: a dead one comes back through Evaluate, re-planned.
        // Past the deadline too: the thief may not have withdrawn yet, and a sweep that confirms
        // first still wins.
        todo.assign(m_recoveries.Unsent().begin(), m_recoveries.Unsent().end());
        if (everything) {
            for (const auto& [txid, r] : m_recoveries) {
                if (IsLive(r) && r.state != vault::RecoveryState::Planned) todo.push_back(txid);
            }
        }
        if (auto at = std::exchange(m_bcast_stopped_at, std::nullopt)) {
            if (auto it = std::find(todo.begin(), todo.end(), *at); it != todo.end()) std::rotate(todo.begin(), it + 1, todo.end());
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
            if (auto seen = m_reaction_from.extract(txid)) {
                m_reaction.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - seen.mapped()).count());
            }
            auto res = co_await m_send_node->SendRawTransaction(*tx);
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
                    auto pr = co_await m_send_node->SubmitPackage(pkg);
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
            auto row_edit = m_recoveries.Change(txid); // no await below: re-indexed when this iteration ends
            auto& row = *row_edit;
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
                    // The node is down, or black-holed and each call waits out its deadline: the
                    // rest of the pass would fail the same way, one call each (a mass exit's
                    // thousands, with the node down). The retry starts after this one.
                    if (res.error && (res.error->IsUnreachable() || res.error->kind == RpcError::Kind::Auth || res.error->IsWarmingUp())) {
                        m_bcast_stopped_at = txid;
                    }
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
            if (m_bcast_stopped_at) break;
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
        // A pass kicked meanwhile (a sweep planned while this one was out waits for the next)
        // does not wait for the disk: the next pass's commit flushes this one's too, written
        // again so that it has something to flush. A sweep that came a moment after another
        // would otherwise wait for the first one's fsync (0.4 ms here) before reaching the node.
        if (m_bcast_kicked && !m_stopping) {
            changes.wait_for_disk = false;
            m_bcast_unsynced.insert(touched.begin(), touched.end());
        } else if (!m_bcast_unsynced.empty()) {
            for (const auto& txid : m_bcast_unsynced) {
                auto it = m_recoveries.find(txid);
                if (it != m_recoveries.end() && std::find(touched.begin(), touched.end(), txid) == touched.end()) changes.recoveries.push_back(it->second);
            }
            m_bcast_unsynced.clear();
        }
        // Bookkeeping only (no new plan to send): the store's own thread syncs it. An fsync here
        // (0.5-10 ms on this VM, more on a disk bitcoind is busy with) would hold the thread the
        // next trigger is answered on. A power cut before it loses what a kill before the commit
        // would: the tower finds the trigger and answers it again at restart.
        if (changes.wait_for_disk && !again) changes.sync_in_background = true;
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

net::awaitable<void> Engine::CheckCcv()
{
    // Until the probe answers: it needs the node and a confirmed fee-wallet coin. A node that
    // answers once keeps its answer for the life of the process (a restart asks again).
    for (int attempt = 0; !m_stopping && !m_ccv_enforced; ++attempt) {
        if (auto r = co_await ProbeCcv()) {
            m_ccv_enforced = *r;
            log::Main()->info("node {} OP_CHECKCONTRACTVERIFY (enforcement probe)", *r ? "enforces" : "does not enforce");
            co_return;
        }
        m_ccv_wake.expires_after(std::chrono::seconds{std::min(2 * (attempt + 1), 30)});
        co_await m_ccv_wake.async_wait(net::as_tuple(net::use_awaitable));
    }
}

namespace {
//! The probe's package: [funding, valid spend, violating spend], or why it cannot be built.
Expected<std::vector<Transaction>, std::string> ProbePackage(const vault::FeeWallet& wallet, const std::set<OutPoint>& reserved,
                                                             vault::FeeRate min_relay)
{
    const auto coins = wallet.Coins();
    const vault::FeeRate rate = std::max(min_relay, vault::FeeRate{1000});
    const Amount fund_fee = rate.FeeFor(200), spend_fee = rate.FeeFor(150);
    const Amount probe_value = spend_fee + Amount{1000};
    const Amount need = probe_value + fund_fee + Amount{330};
    auto coin = std::find_if(coins.begin(), coins.end(), [&](const vault::FeeCoin& c) {
        return c.spendable() && !reserved.count(c.outpoint) && c.amount >= need;
    });
    if (coin == coins.end()) {
        return Unexpected{"the probe needs a confirmed fee-wallet coin of at least " + std::to_string(need.sats()) +
                          " sat: fund the fee wallet (getfeewallet)"};
    }
    const vault::ccv::Probe probe = vault::ccv::MakeProbe(vault::ccv::NumsKey());
    const Bytes& spk = wallet.ScriptPubKey();
    MutableTransaction fund;
    fund.version = 2;
    fund.vin.push_back(TxIn{coin->outpoint, {}, 0xfffffffd, {}});
    fund.vout.push_back(TxOut{probe_value, probe.spk});
    fund.vout.push_back(TxOut{coin->amount - probe_value - fund_fee, spk});
    const std::vector<TxOut> spent{TxOut{coin->amount, spk}};
    auto w = wallet.SignKeyPath(fund, spent, 0, std::nullopt);
    if (!w) return Unexpected{std::string{"the fee wallet could not sign the probe's funding"}};
    fund.vin[0].witness = std::move(*w);
    Transaction funding{fund};
    const OutPoint at{funding.GetTxid(), 0};
    // x(G): a valid key the probe's script does not allow.
    const auto other = *crypto::XOnlyPubKey::Parse(*ParseHex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"));
    std::vector<Transaction> out{std::move(funding)};
    out.emplace_back(vault::ccv::ProbeSpend(probe, at, probe_value, spend_fee, vault::ccv::NumsKey()));
    out.emplace_back(vault::ccv::ProbeSpend(probe, at, probe_value, spend_fee, other));
    return out;
}
} // namespace

net::awaitable<std::optional<bool>> Engine::ProbeCcv()
{
    // The probe (docs/ccv.md): a fee coin pays a CCV-locked output; the node judges, as a package
    // and without broadcasting anything, a spend of it to the one key the script allows and one
    // elsewhere. Only a node enforcing CCV accepts the first and refuses the second for the CCV
    // rule: a node without CCV refuses both as non-standard, or accepts both.
    if (!m_fee_wallet) {
        m_ccv_probe_note = "the probe needs a fee wallet: set feewalletsecret";
        co_return std::nullopt;
    }
    auto pkg = ProbePackage(*m_fee_wallet, ReservedFeeCoins(), m_opts.fees.min_relay);
    if (!pkg) {
        m_ccv_probe_note = pkg.error();
        co_return std::nullopt;
    }
    std::vector<vault::ccv::ProbeAnswer> answers;
    for (size_t k = 1; k <= 2; ++k) {
        // Not a braced list: GCC 12 cannot keep an initializer_list's array in a coroutine frame.
        std::vector<Transaction> two;
        two.push_back((*pkg)[0]);
        two.push_back((*pkg)[k]);
        auto r = co_await m_node.TestMempoolAccept(two);
        if (!r) {
            m_ccv_probe_note = "the node did not answer testmempoolaccept: " + r.error->ToString();
            co_return std::nullopt;
        }
        const auto& v = *r.value;
        // The funding itself refused (fee, a coin the node has spent...): no verdict on CCV. (When
        // the spend fails, the node may leave the funding unjudged: a package stops at its first
        // failure.)
        if ((v[0].judged && !v[0].allowed) || !v[1].judged) {
            m_ccv_probe_note = "the node refused the probe's funding (" + v[0].reject_reason + ")";
            co_return std::nullopt;
        }
        answers.push_back(vault::ccv::ProbeAnswer{v[1].allowed, v[1].reject_reason});
    }
    log::Main()->info("CCV probe: a valid spend {} ({}), a violating one {} ({})", answers[0].allowed ? "accepted" : "refused",
                      answers[0].reject_reason, answers[1].allowed ? "accepted" : "refused", answers[1].reject_reason);
    co_return vault::ccv::JudgeProbe(answers[0], answers[1]) == vault::ccv::Enforcement::Enforced;
}

// --- control ----------------------------------------------------------------------------------

} // namespace vw::daemon
