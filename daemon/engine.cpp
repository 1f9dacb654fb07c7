// The engine's shared state and its life cycle (start, stop, events, persisting); each stage is a
// file of its own: engine_registry, engine_detect, engine_decide, engine_fees, engine_broadcast,
// engine_rescan, engine_control (docs/architecture.md walks a trigger through them).
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

Engine::Engine(net::any_io_executor ex, NodePort& node, store::Store& store, EngineOptions opts)
    : m_ex(ex), m_node(node), m_store(store), m_opts(std::move(opts)), m_bcast_wake(ex), m_ccv_wake(ex)
{
    m_registry.SetDetailSource(&m_detail_source);
}

int64_t Engine::Now() const { return m_opts.now ? m_opts.now() : static_cast<int64_t>(std::time(nullptr)); }

std::string Engine::VaultIdOf(uint32_t idx) const
{
    const auto* r = m_registry.Get(idx);
    return r ? r->id.str() : std::string{};
}

void Engine::Event(store::StateChanges& changes, std::string type, const std::string& vault_id, const std::string& txid,
                   std::optional<int> height, json::object data)
{
    if (!vault_id.empty()) data["vault_id"] = vault_id;
    if (!txid.empty()) data["txid"] = txid;
    std::string text = json::serialize(data);
    size_t withheld = 0;
    if (m_event_lines.Take(std::chrono::steady_clock::now(), withheld)) {
        if (withheld) {
            log::Main()->info("{} event line(s) of the last second were logged at debug level only (at most {} a second at info); "
                              "every event is in the event log (listevents)", withheld, kEventLinesPerSecond);
        }
        if (m_hold_lines) {
            m_held_lines.push_back(fmt::format("{} {} {} {}", type, vault_id, txid, text));
        } else {
            log::Main()->info("{} {} {} {}", type, vault_id, txid, text);
        }
    } else {
        log::Main()->debug("{} {} {} {}", type, vault_id, txid, text);
    }
    changes.events.push_back({0, Now(), std::move(type), vault_id, txid, height, std::move(text)});
}

void Engine::LogHeldLinesSoon()
{
    if (m_held_lines.empty()) return;
    // Posted after the broadcaster was woken: it sends first.
    net::post(m_ex, [this, lines = std::exchange(m_held_lines, {})] {
        for (const auto& l : lines) log::Main()->info("{}", l);
    });
}

void Engine::NodeStatus(bool reachable, const std::string& detail)
{
    if (reachable == !m_node_down_reported) return;
    m_node_down_reported = !reachable;
    store::StateChanges changes;
    if (reachable) {
        Event(changes, "node.recovered", "", "", std::nullopt, {});
        KickBroadcaster(); // what failed while it was down goes out now, not at the next backoff
    } else {
        Event(changes, "node.unreachable", "", "", std::nullopt, {{"detail", detail}});
    }
    PersistNow(changes);
}

void Engine::ChainStalled(bool stalled, const std::string& detail)
{
    if (stalled == m_chain_stalled_reported) return;
    m_chain_stalled_reported = stalled;
    store::StateChanges changes;
    if (stalled) {
        Event(changes, "chain.stalled", "", "", std::nullopt, {{"detail", detail}});
    } else {
        Event(changes, "chain.resumed", "", "", std::nullopt, {});
    }
    PersistNow(changes);
}

void Engine::WriteUnwritten()
{
    for (auto& c : std::exchange(m_unwritten, {})) {
        // As the rows are now: a handler queued before this one may have changed one.
        for (auto& r : c.recoveries) {
            if (auto it = m_recoveries.find(r.txid); it != m_recoveries.end()) r = it->second;
        }
        PersistNow(c);
    }
}

void Engine::PersistNow(store::StateChanges& changes)
{
    if (changes.empty()) return;
    const bool events = !changes.events.empty();
    auto r = m_store.Apply(changes);
    if (r && events && on_events) {
        if (m_hold_lines) {
            m_held_events_kick = true; // TxAddedToMempool kicks them after the broadcaster
        } else {
            on_events();
        }
    }
    if (!r) {
        // Nothing was committed; the in-memory view is ahead of the store. Rebuild from the store
        // at the next opportunity so that what we act on is what we can prove later.
        log::Store()->critical("cannot persist vault state: {}", r.error().message);
        m_need_rebuild = true;
        if (!changes.vaults.empty() || !changes.families.empty()) m_rebuild_registrations = true;
    }
    changes = {};
}

// --- ChainListener --------------------------------------------------------------------------

void Engine::Start()
{
    net::co_spawn(m_ex, CheckDeployment(), net::detached);
    net::co_spawn(m_ex, CheckCcv(), net::detached);
    KickBroadcaster();
    StartRescans();
    net::co_spawn(m_ex, VerifyStoredRegistrations(), net::detached);
}

void Engine::Stop()
{
    WriteUnwritten(); // the io_context may not run the handler that would
    m_stopping = true;
    m_bcast_wake.cancel();
    m_ccv_wake.cancel();
}

} // namespace vw::daemon
