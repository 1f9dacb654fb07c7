#include "daemon_metrics.h"

#include "chain_follower.h"
#include "engine.h"
#include "loop_lag.h"
#include "metrics/prometheus.h"
#include "rpc_server.h"
#include "webhooks.h"

#include <array>
#include <map>

namespace vw::daemon {

using metrics::MetricsText;
using T = MetricsText::Type;

std::string RenderDaemonMetrics(const ChainFollower& follower, const Engine& engine, const WebhookDispatcher& webhooks,
                                const RpcServer& rpc, const LoopLag& lag)
{
    MetricsText m;
    const FollowerStatus& st = follower.status();
    m.Family("vaultwatch_tip_height", T::Gauge, "Height of the last block processed (the persisted cursor); -1 before the first.");
    m.Sample("vaultwatch_tip_height", st.cursor.height);
    m.Family("vaultwatch_node_height", T::Gauge, "bitcoind's best height at the last reconcile; -1 if unknown.");
    m.Sample("vaultwatch_node_height", st.node_tip);
    m.Family("vaultwatch_tip_lag_blocks", T::Gauge, "Blocks bitcoind has that vaultwatchd has not processed yet.");
    m.Sample("vaultwatch_tip_lag_blocks", st.node_tip >= 0 && st.cursor.height >= 0 ? st.node_tip - st.cursor.height : 0);
    m.Family("vaultwatch_node_up", T::Gauge, "1 while bitcoind answers and is usable (status ok).");
    m.Sample("vaultwatch_node_up", st.node == FollowerStatus::Node::Ok ? 1 : 0);
    m.Family("vaultwatch_caught_up", T::Gauge, "1 once the first catch-up finished.");
    m.Sample("vaultwatch_caught_up", st.caught_up ? 1 : 0);
    m.Family("vaultwatch_reconciles_total", T::Counter, "Reconciles with bitcoind's best block (ZMQ wake-ups, gaps, timer).");
    m.Sample("vaultwatch_reconciles_total", static_cast<double>(st.reconciles));
    m.Family("vaultwatch_mempool_snapshots_total", T::Counter, "Full getrawmempool snapshots (at start, each block, after a ZMQ gap or silence; otherwise ZMQ keeps the view).");
    m.Sample("vaultwatch_mempool_snapshots_total", static_cast<double>(st.mempool_resyncs));
    m.Family("vaultwatch_zmq_gaps_total", T::Counter, "ZMQ sequence gaps detected (each answered by a resync).");
    m.Sample("vaultwatch_zmq_gaps_total", static_cast<double>(st.zmq_gaps));
    m.Family("vaultwatch_zmq_restarts_total", T::Counter, "ZMQ publisher restarts detected.");
    m.Sample("vaultwatch_zmq_restarts_total", static_cast<double>(st.zmq_restarts));
    m.Family("vaultwatch_zmq_bad_messages_total", T::Counter, "ZMQ messages that did not parse (logged and ignored).");
    m.Sample("vaultwatch_zmq_bad_messages_total", static_cast<double>(st.zmq_bad_messages));
    m.Family("vaultwatch_zmq_adds_dropped_total", T::Counter,
             "Sequence 'A's whose rawtx never came, dropped past the follower's bound for one snapshot of the node's mempool.");
    m.Sample("vaultwatch_zmq_adds_dropped_total", static_cast<double>(st.pending_adds_dropped));
    m.Family("vaultwatch_store_failures_total", T::Counter, "Block commits that failed (disk full, I/O) and were retried.");
    m.Sample("vaultwatch_store_failures_total", static_cast<double>(st.store_failures));

    // Every (kind, state) pair, zeros included, so that a series never vanishes. Counted by the
    // registry as its records change: a scrape runs on the io thread that answers triggers, and a
    // walk of every vault there took 3 ms at 1,000,000 vaults (30 ms when each pair was named).
    constexpr std::array kinds{vault::VaultKind::OpVault, vault::VaultKind::Presigned, vault::VaultKind::Ccv};
    constexpr std::array states{vault::VaultState::Active,    vault::VaultState::Triggered, vault::VaultState::Recovering,
                                vault::VaultState::Recovered, vault::VaultState::Withdrawn, vault::VaultState::Removed};
    const auto& counts = engine.registry().tally().by_kind_state;
    std::map<std::pair<std::string, std::string>, uint64_t> vaults;
    for (auto k : kinds) {
        for (auto s : states) vaults[{std::string(vault::ToString(k)), std::string(vault::ToString(s))}] = counts[static_cast<size_t>(k)][static_cast<size_t>(s)];
    }
    m.Family("vaultwatch_vaults", T::Gauge, "Registered vaults by kind and state.");
    for (const auto& [ks, n] : vaults) m.Sample("vaultwatch_vaults", static_cast<double>(n), {{"kind", ks.first}, {"state", ks.second}});

    std::map<std::string, int64_t> recoveries;
    using RS = vault::RecoveryState;
    for (auto s : {RS::Planned, RS::Broadcast, RS::Confirmed, RS::Failed, RS::Conflicted, RS::Replaced}) recoveries[std::string(vault::ToString(s))] = 0;
    for (const auto& [_, r] : engine.recoveries()) ++recoveries[std::string(vault::ToString(r.state))];
    m.Family("vaultwatch_recoveries", T::Gauge, "Our recovery transactions by state.");
    for (const auto& [state, n] : recoveries) m.Sample("vaultwatch_recoveries", static_cast<double>(n), {{"state", state}});

    const EngineStats& es = engine.stats();
    m.Family("vaultwatch_triggers_total", T::Counter, "Unvault triggers seen (mempool or block) since start.");
    m.Sample("vaultwatch_triggers_total", static_cast<double>(es.triggers_seen));
    m.Family("vaultwatch_recoveries_planned_total", T::Counter, "Recovery intents persisted since start.");
    m.Sample("vaultwatch_recoveries_planned_total", static_cast<double>(es.recoveries_planned));
    m.Family("vaultwatch_broadcasts_total", T::Counter, "sendrawtransaction calls for recoveries, by outcome, since start.");
    m.Sample("vaultwatch_broadcasts_total", static_cast<double>(es.broadcasts), {{"result", "accepted"}});
    m.Sample("vaultwatch_broadcasts_total", static_cast<double>(es.broadcast_failures), {{"result", "failed"}});
    m.Family("vaultwatch_trigger_keys_ahead_total", T::Counter, "Trigger output keys computed on every core before their block was matched (blocks of many triggers) since start.");
    m.Sample("vaultwatch_trigger_keys_ahead_total", static_cast<double>(es.trigger_keys_ahead));
    m.Family("vaultwatch_trigger_reaction_seconds", T::Histogram,
             "A mempool trigger's first sight (its ZMQ frame's arrival, or the node's reply) to its sweep handed to the node (sendrawtransaction).");
    m.HistogramSamples("vaultwatch_trigger_reaction_seconds", engine.reaction());
    m.Family("vaultwatch_event_loop_lag_seconds", T::Histogram,
             "How late a timer due every 100 ms fires on the daemon's one thread: how long a trigger arriving then would have waited for it.");
    m.HistogramSamples("vaultwatch_event_loop_lag_seconds", lag.lag());
    m.Family("vaultwatch_fee_bumps_total", T::Counter, "Recoveries replaced by a higher-fee variant since start.");
    m.Sample("vaultwatch_fee_bumps_total", static_cast<double>(es.fee_bumps));
    m.Family("vaultwatch_registrations_verified_total", T::Counter, "Stored registrations read whole and checked against the compact forms the start loaded.");
    m.Sample("vaultwatch_registrations_verified_total", static_cast<double>(es.registrations_verified));
    m.Family("vaultwatch_registrations_corrupt_total", T::Counter, "Of those, registrations that are corrupt or disagree with their compact form (logged critical).");
    m.Sample("vaultwatch_registrations_corrupt_total", static_cast<double>(es.registrations_corrupt));
    m.Family("vaultwatch_vault_details_rebuilt_total", T::Counter, "Vault registrations rebuilt in memory from a trigger's witness instead of read from the store, since start.");
    m.Sample("vaultwatch_vault_details_rebuilt_total", static_cast<double>(engine.registry().DetailsRebuilt()));
    m.Family("vaultwatch_vault_details_held", T::Gauge, "Vaults whose full registration is in memory (the others are read from the store when a transaction touches them).");
    m.Sample("vaultwatch_vault_details_held", static_cast<double>(engine.registry().DetailsHeld()));
    if (const auto* fw = engine.fee_wallet()) {
        m.Family("vaultwatch_feewallet_balance_sats", T::Gauge, "The fee wallet's satoshis: confirmed and spendable, or pending (unconfirmed).");
        m.Sample("vaultwatch_feewallet_balance_sats", static_cast<double>(fw->SpendableBalance().sats()), {{"status", "confirmed"}});
        m.Sample("vaultwatch_feewallet_balance_sats", static_cast<double>(fw->PendingBalance().sats()), {{"status", "pending"}});
        m.Family("vaultwatch_feewallet_coins", T::Gauge, "Coins in the fee wallet (each pays one unauthorized recovery).");
        m.Sample("vaultwatch_feewallet_coins", static_cast<double>(fw->Coins().size()));
    }

    const WebhookStats& ws = webhooks.stats();
    m.Family("vaultwatch_webhook_pending", T::Gauge, "Webhook deliveries waiting (the outbox depth, over every hook).");
    m.Sample("vaultwatch_webhook_pending", static_cast<double>(webhooks.Pending()));
    m.Family("vaultwatch_webhook_attempts_total", T::Counter, "Webhook HTTP attempts since start, by outcome.");
    m.Sample("vaultwatch_webhook_attempts_total", static_cast<double>(ws.delivered), {{"result", "delivered"}});
    m.Sample("vaultwatch_webhook_attempts_total", static_cast<double>(ws.failed_attempts), {{"result", "failed"}});
    m.Family("vaultwatch_webhook_given_up_total", T::Counter, "Webhook deliveries given up after the retry horizon since start.");
    m.Sample("vaultwatch_webhook_given_up_total", static_cast<double>(ws.given_up));

    m.Family("vaultwatch_rpc_auth_failures_total", T::Counter, "Control-port requests refused for bad credentials since start.");
    m.Sample("vaultwatch_rpc_auth_failures_total", static_cast<double>(rpc.auth_failures()));
    m.Family("vaultwatch_rpc_request_duration_seconds", T::Histogram, "Time to answer an authenticated control-port request.");
    m.HistogramSamples("vaultwatch_rpc_request_duration_seconds", rpc.latency());
    m.Family("vaultwatch_bitcoind_rpc_wait_seconds_total", T::Counter, "Time the chain follower spent waiting on bitcoind RPC.");
    m.Sample("vaultwatch_bitcoind_rpc_wait_seconds_total", st.rpc_seconds);
    return m.str();
}

} // namespace vw::daemon
