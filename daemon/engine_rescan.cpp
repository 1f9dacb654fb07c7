// Rescans: a vault registered with a birth height below the tip, or the rescan RPC, replays
// stored blocks from the node in the background.
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

void Engine::StartRescans()
{
    if (m_rescans.empty() || m_rescan_running || m_stopping) return;
    m_rescan_running = true;
    net::co_spawn(m_ex, RescanLoop(), [this](std::exception_ptr e) {
        m_rescan_running = false;
        m_rescan_height.reset();
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::Main()->error("rescan: {}", ex.what());
            }
        }
    });
}

int64_t Engine::NextRescanId() const { return m_last_rescan_id + 1; }

net::awaitable<void> Engine::RescanLoop()
{
    // Blocks are read on the engine's connection, serialised with broadcasts. The scan runs on a
    // scratch registry (the registrations, with what the store holds below the first height
    // replayed), never on the live one: re-reading a block the live registry already applied
    // would bring back outputs spent since, and a recovery planned meanwhile would spend them.
    // What it finds goes to the store; the live registry is rebuilt from the store at the end.
    while (!m_rescans.empty() && !m_stopping) {
        std::map<int64_t, store::RescanRow> pass = m_rescans;
        int from = std::numeric_limits<int>::max();
        std::optional<int> all_from;
        std::map<uint32_t, int> from_of;
        for (const auto& [_, r] : pass) {
            from = std::min(from, r.next_height);
            if (!r.vault_idx) {
                all_from = std::min(all_from.value_or(r.next_height), r.next_height);
            } else {
                auto [it, ins] = from_of.emplace(*r.vault_idx, r.next_height);
                if (!ins) it->second = std::min(it->second, r.next_height);
            }
        }
        auto scratch = LoadRegistry();
        auto stored = m_store.LoadVaultTxs();
        if (!scratch || !stored) {
            log::Main()->critical("rescan: {}", !scratch ? scratch.error() : stored.error().message);
            co_return;
        }
        for (const auto& row : *stored) {
            if (row.height >= from) break;
            auto tx = DecodeTransaction(row.tx);
            if (!tx) continue; // Rebuild reports corrupt rows
            vault::ApplyEvents(*scratch, vault::MatchTx(*tx, *scratch, row.height));
        }
        stored->clear();
        auto wanted = [&](const vault::VaultEvent& e, int h) {
            if (all_from && *all_from <= h) return true;
            return std::any_of(e.vaults.begin(), e.vaults.end(), [&](uint32_t v) {
                auto it = from_of.find(v);
                return it != from_of.end() && it->second <= h;
            });
        };
        log::Main()->info("rescan: {} request(s) from height {} to the tip ({})", pass.size(), from, m_tip);
        store::StateChanges found;
        // Stores what was found with the progress of every request of the pass, in one
        // transaction; refuses blocks that have left our chain meanwhile (a reorg during the scan).
        auto flush = [&](int next, bool finished) -> bool {
            for (const auto& t : found.vault_txs) {
                auto remembered = m_store.BlockAt(t.height);
                if (remembered && remembered->has_value() && **remembered != t.block) return false;
            }
            for (auto& [id, r] : pass) {
                if (finished) {
                    found.rescans_done.push_back(id);
                } else if (r.next_height < next) {
                    r.next_height = next;
                    found.rescans.push_back(r);
                }
            }
            if (auto c = m_store.Apply(found); !c) {
                log::Store()->critical("rescan: cannot store what it found: {}", c.error().message);
                return false;
            }
            for (const auto& id : found.rescans_done) m_rescans.erase(id);
            for (const auto& r : found.rescans) {
                if (auto it = m_rescans.find(r.id); it != m_rescans.end()) it->second.next_height = r.next_height;
            }
            found = {};
            return true;
        };
        bool ok = true;
        int h = from;
        for (; h <= m_tip && !m_stopping && ok; ++h) {
            m_rescan_height = h;
            std::optional<Block> block;
            std::string why;
            auto hr = co_await m_node.GetBlockHash(h);
            if (!hr) {
                why = "getblockhash: " + hr.error->ToString();
            } else {
                auto br = co_await m_node.GetBlock(*hr.value);
                if (!br) {
                    why = "getblock: " + br.error->ToString();
                } else {
                    block = std::move(*br.value);
                }
            }
            if (!block) {
                log::Main()->warn("rescan paused at height {}: {}", h, why);
                ok = false;
                break;
            }
            const BlockHash bh = block->header.GetHash();
            for (uint32_t pos = 0; pos < block->txs.size(); ++pos) {
                const auto& tx = block->txs[pos];
                auto events = vault::MatchTx(tx, *scratch, h);
                if (events.empty()) continue;
                const bool keep = std::any_of(events.begin(), events.end(), [&](const auto& e) { return wanted(e, h); });
                vault::ApplyEvents(*scratch, events); // later spends of what it found are seen
                if (keep) found.vault_txs.push_back({h, pos, bh, tx.GetTxid(), SerializeTransaction(tx)});
            }
            if ((h - from) % 100 == 99 && !flush(h + 1, false)) {
                log::Main()->warn("rescan: the chain changed under it; starting the pass again");
                ok = false;
            }
        }
        const bool finished = ok && !m_stopping && h > m_tip;
        const bool saved = flush(h, finished);
        if (!saved) log::Main()->warn("rescan: what it found was not stored (the chain changed under it, or the store failed); trying again");
        if (finished && saved) log::Main()->info("rescan done up to height {}", h - 1);
        if (auto r = Rebuild(RebuildScope::ChainState); !r) {
            log::Main()->critical("{}", r.error());
            co_return;
        }
        store::StateChanges changes;
        Evaluate(changes);
        PersistNow(changes);
        KickBroadcaster();
        if ((!ok || !saved) && !m_stopping) {
            net::steady_timer t(m_ex, m_opts.retry_interval);
            co_await t.async_wait(net::as_tuple(net::use_awaitable));
        }
    }
}

Expected<json::value, EngineError> Engine::Rescan(int from_height, const std::optional<vault::VaultId>& vault_id)
{
    std::optional<uint32_t> idx;
    if (vault_id) {
        auto i = m_registry.Find(*vault_id);
        if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id->str()}};
        idx = *i;
    }
    if (m_tip < 0) return Unexpected{EngineError{rpc::RPC_NODE_ERROR, "not following the chain yet: nothing to rescan"}};
    if (from_height < 0 || from_height > m_tip) {
        return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "from_height must be between 0 and the tip (" + std::to_string(m_tip) + ")"}};
    }
    store::StateChanges changes;
    const store::RescanRow row{NextRescanId(), idx, from_height, Now()};
    changes.rescans.push_back(row);
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    m_last_rescan_id = row.id;
    m_rescans.emplace(row.id, row);
    StartRescans();
    return json::value(json::object{{"rescan_id", row.id},
                                    {"from_height", from_height},
                                    {"to_height", m_tip},
                                    {"vault_id", vault_id ? json::value(vault_id->str()) : json::value(nullptr)}});
}

json::value Engine::RescanStatus() const
{
    if (m_rescans.empty()) return nullptr;
    return json::object{{"pending", m_rescans.size()}, {"height", m_rescan_height ? json::value(*m_rescan_height) : json::value(nullptr)}};
}

} // namespace vw::daemon
