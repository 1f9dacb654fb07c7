// Detection: blocks and mempool transactions matched against the registry (the matcher,
// lib/vault/matcher) and applied; transactions only ZMQ announced are confirmed with the node first.
#include "engine.h"
#include "engine_internal.h"

#include <atomic>
#include <thread>

namespace vw::daemon {

taproot::OutputKeyMemo Engine::BlockAhead(const Block& block)
{
    // A mass exit of 10,000 triggers is 10,000 EC tweaks (each trigger output's key) and 10,000
    // registrations rebuilt from the triggers' witnesses (or read back: JSON, tree, id): most of
    // its answer, and all of it independent.
    // Only inputs spending an outpoint the index watches count, so a block of junk witnesses costs
    // nothing here. What is made here is a cache: the matcher looks keys up by internal key and
    // Merkle root and still checks every trigger output against its registered vault, and the
    // registry takes details through the same checks as a read of its own (vault id, kind).
    constexpr size_t kWorthThreads = 64; // below this, starting threads costs more than it saves
    taproot::OutputKeyMemo memo;
    std::vector<std::pair<const Transaction*, size_t>> spends;
    std::set<uint32_t> vaults;
    std::vector<std::pair<size_t, uint32_t>> rebuild_jobs; // (spend, vault): a vault output spent, maybe by a trigger
    std::vector<vault::VaultRef> refs;
    for (const auto& tx : block.txs) {
        for (size_t n = 0; n < tx.vin().size(); ++n) {
            const auto& in = tx.vin()[n];
            refs.clear();
            if (in.witness.size() < 2 || m_registry.index().FindOutpoint(in.prevout.txid.span(), in.prevout.n, refs) == 0) continue;
            spends.emplace_back(&tx, n);
            for (const auto& r : refs) {
                if (m_registry.HoldsDetails(r.vault)) continue;
                vaults.insert(r.vault);
                if (r.kind == vault::RefKind::VaultOutpoint) rebuild_jobs.emplace_back(spends.size() - 1, r.vault);
            }
        }
    }
    if (spends.size() < kWorthThreads) return memo;
    // A trigger's vault is rebuilt from its witness and memory (Registry::RebuildFromTrigger), its
    // row not read: the node checked the spend, so the tracked UTXO's key is the one it opens.
    std::vector<std::optional<vault::VaultDetails>> rebuilt(rebuild_jobs.size());
    std::atomic<size_t> next_rebuild{0}, rebuilds_done{0};
    auto rebuild = [&] {
        for (size_t j; (j = next_rebuild.fetch_add(1)) < rebuild_jobs.size();) {
            try {
                const auto& [s, v] = rebuild_jobs[j];
                const auto& in = spends[s].first->vin()[spends[s].second];
                const vault::VaultRecord* rec = m_registry.Get(v);
                const vault::TrackedUtxo* u = rec ? rec->FindUtxo(in.prevout) : nullptr;
                const auto sp = taproot::ScriptPathOf(in.witness);
                if (u && sp && u->role != vault::UtxoRole::Trigger && u->spk.size() == 34 && u->spk[0] == 0x51 && u->spk[1] == 0x20) {
                    crypto::TweakedKey key;
                    std::copy(u->spk.begin() + 2, u->spk.end(), key.xonly.begin());
                    key.parity = (*sp->control)[0] & 1;
                    rebuilt[j] = m_registry.RebuildFromTrigger(v, in.witness, &key);
                }
            } catch (const std::exception&) {
            }
            if (rebuilds_done.fetch_add(1) + 1 == rebuild_jobs.size()) rebuilds_done.notify_all();
        }
    };
    std::vector<std::optional<std::pair<vault::TriggerKeyInputs, crypto::TweakedKey>>> keys(spends.size());
    std::vector<store::VaultRow> rows;
    std::vector<std::optional<vault::PreparedVault>> parsed;
    std::atomic<size_t> next_key{0}, next_row{0};
    std::atomic<bool> rows_read{false};
    size_t rows_ready = 0; // set before rows_read: stays 0 if reading failed, and no helper parses
    // A job that throws (memory) is left undone: the matcher does it again, and says what fails.
    auto tweak = [&] {
        for (size_t j; (j = next_key.fetch_add(1)) < spends.size();) {
            try {
                const auto& [tx, n] = spends[j];
                auto in = vault::TriggerOutputKeyInputs(tx->vin()[n].witness, tx->vout().size());
                if (!in) continue;
                if (auto q = crypto::TweakAddUnparsed(in->internal, taproot::TweakHash(in->internal, in->merkle_root))) keys[j].emplace(*in, *q);
            } catch (const std::exception&) {
            }
        }
    };
    auto parse = [&] {
        for (size_t j; (j = next_row.fetch_add(1)) < rows_ready;) {
            try {
                if (auto p = PrepareRow(rows[j])) parsed[j].emplace(std::move(*p));
            } catch (const std::exception&) {
            }
        }
    };
    {
        // Helpers tweak while this thread reads the rows (the store is one connection, read here,
        // in runs of consecutive slots); then every thread tweaks and parses what is left.
        const size_t helpers = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8) - 1;
        std::vector<std::jthread> threads;
        struct Release { // after the threads, so destroyed before they are joined: no helper waits forever
            std::atomic<bool>& read;
            ~Release()
            {
                read.store(true);
                read.notify_all();
            }
        } release{rows_read};
        for (size_t t = 0; t < helpers; ++t) {
            threads.emplace_back([&] {
                rebuild();
                tweak();
                rows_read.wait(false);
                parse();
            });
        }
        // The rows of the vaults no witness rebuilt are read once every rebuild is done.
        rebuild();
        for (size_t d; (d = rebuilds_done.load()) < rebuild_jobs.size();) rebuilds_done.wait(d);
        for (size_t j = 0; j < rebuild_jobs.size(); ++j) {
            if (rebuilt[j]) vaults.erase(rebuild_jobs[j].second);
        }
        for (auto it = vaults.begin(); it != vaults.end();) {
            const uint32_t from = *it;
            size_t run = 0;
            while (it != vaults.end() && *it == from + run) ++it, ++run;
            auto got = m_store.LoadVaults(from, run);
            if (!got) continue; // read again, one by one, by the matcher (and said there)
            for (auto& r : *got) rows.push_back(std::move(r));
        }
        parsed.resize(rows.size());
        rows_ready = rows.size();
        rows_read.store(true);
        rows_read.notify_all();
        tweak();
        parse();
    }
    for (const auto& k : keys) {
        if (k) memo.Add(crypto::XOnlyPubKey::FromTrusted(k->first.internal), k->first.merkle_root, k->second); // a key: the tweak parsed it
    }
    for (size_t r = 0; r < rows.size(); ++r) {
        if (parsed[r]) m_detail_source.Ahead(rows[r].idx, std::move(rows[r].vault_id), std::move(parsed[r]->details));
    }
    for (size_t j = 0; j < rebuild_jobs.size(); ++j) {
        if (rebuilt[j] && !m_registry.HoldsDetails(rebuild_jobs[j].second)) m_registry.HoldRebuilt(rebuild_jobs[j].second, std::move(*rebuilt[j]));
    }
    m_stats.trigger_keys_ahead += memo.size();
    return memo;
}

void Engine::Apply(const Transaction& tx, std::optional<int> height, store::StateChanges* changes,
                   const std::vector<vault::VaultEvent>& events)
{
    vault::ApplyEvents(m_registry, events);
    const Txid txid = tx.GetTxid();
    for (const auto& ev : events) {
        if (ev.kind == EventKind::Trigger && !ev.malformed()) {
            // First sight fixes the earliest deadline: a trigger seen in the mempool at tip T can
            // confirm at T + 1, so its withdrawal can mature at T + delay at the earliest.
            int seen_at = height ? *height : m_tip;
            if (auto s = m_sightings.find(ev.txid); s != m_sightings.end()) seen_at = std::min(seen_at, s->second);
            auto [it, inserted] = m_triggers.try_emplace(ev.txid, TriggerInfo{ev, seen_at});
            if (!inserted && height) it->second.event = ev; // now confirmed: keep the confirmed view
            m_open_triggers.insert(ev.txid);
            it->second.seen_at = std::min(it->second.seen_at, seen_at);
            if (inserted) ++m_stats.triggers_seen;
        }
        if (ev.kind == EventKind::UnexpectedSpend && !ev.malformed()) {
            // A watched outpoint of a pre-signed vault spent by something unknown: the emergency
            // transactions that still apply (sweeping the outputs the spender left) go out.
            for (auto v : ev.vaults) {
                if (const auto* r = m_registry.Get(v); r && r->kind == vault::VaultKind::Presigned) m_unexpected[v] = txid;
            }
        }
        if (!changes) continue;
        const std::string vid = ev.vaults.empty() ? std::string{} : VaultIdOf(ev.vaults.front());
        if (ev.malformed()) {
            // A spend of a vault output that fails our checks: never dropped in silence. Mined, it
            // happened all the same (what it spent is gone); in the mempool, nothing is decided
            // on it.
            json::object d{{"flaw", std::string(vault::ToString(ev.flaw))},
                           {"spend", std::string(vault::ToString(ev.kind))},
                           {"confirmed", height.has_value()}};
            if (ev.vault_error) d["vault_error"] = std::string(vault::ToString(*ev.vault_error));
            if (ev.check_error) d["check_error"] = std::string(vault::ToString(*ev.check_error));
            for (auto v : ev.vaults) Event(*changes, "vault.unexpected_spend", VaultIdOf(v), txid.ToString(), height, d);
            log::Main()->error("a spend of vault {} fails our checks ({}); {}", vid, vault::ToString(ev.flaw),
                               height ? "it is mined: what it spent is gone" : "nothing is decided on it while unconfirmed");
            continue;
        }
        switch (ev.kind) {
        case EventKind::Deposit:
            if (height) Event(*changes, "vault.deposit", vid, txid.ToString(), height, {{"vout", ev.outpoint.n}, {"amount", ev.amount.sats()}});
            break;
        case EventKind::UnexpectedSpend:
            for (auto v : ev.vaults) Event(*changes, "vault.unexpected_spend", VaultIdOf(v), txid.ToString(), height, {{"key_path", ev.key_path}});
            break;
        case EventKind::WithdrawalCompleted:
            if (height) Event(*changes, "vault.withdrawn", vid, txid.ToString(), height, {});
            break;
        default:
            break;
        }
    }
    // Our recovery confirmed?
    const bool ours = m_recoveries.contains(txid);
    if (ours && height && m_recoveries.at(txid).state != vault::RecoveryState::Confirmed) {
        auto row = m_recoveries.Change(txid);
        MoveTo(*row, vault::RecoveryState::Confirmed);
        row->confirmed_height = *height;
        if (changes) {
            changes->recoveries.push_back(*row);
            for (const auto& id : row->vault_ids) Event(*changes, "recovery.confirmed", id, txid.ToString(), height, {});
        }
    }
    if (height && changes) {
        // A live recovery one of whose inputs this confirmed transaction spends can never confirm:
        // ours (another rung, a fee bump) replaced it; anyone else's conflicted it. Its fee coins
        // are free again and its trigger is planned anew. (Chunks of a split sweep spend other
        // outputs: they stay.)
        std::set<Txid> dead;
        for (const auto& in : tx.vin()) {
            for (const auto& k : m_recoveries.LiveSpenders(in.prevout)) {
                if (k != txid) dead.insert(k);
            }
        }
        for (const auto& d : dead) {
            auto it = m_recoveries.find(d);
            if (it == m_recoveries.end() || !IsLive(it->second)) continue;
            auto row = m_recoveries.Change(d);
            MoveTo(*row, ours ? vault::RecoveryState::Replaced : vault::RecoveryState::Conflicted);
            row->last_error = (ours ? "replaced by our " : "conflicted by ") + txid.ToString();
            changes->recoveries.push_back(*row);
            log::Main()->warn("recovery {}: {} (confirmed at height {}); its trigger is planned again", d.ToString(), row->last_error, *height);
        }
    }
}

void Engine::BlockConnected(const Block& block, int height, store::BlockBatch& batch)
{
    if (m_need_rebuild) {
        // A queued replay (mempool removals, an aborted batch) first, on what the store holds:
        // the block's decisions must not rest on a transaction that left the mempool.
        if (auto r = Rebuild(PendingRebuildScope()); !r) log::Main()->critical("{}", r.error());
    }
    m_tip = height;
    // The recovery indexes are kept up to date by every change of a row; recomputed once a block
    // all the same, because a decision on a wrong one would leave a trigger unanswered.
    if (!m_recoveries.CheckIndexes()) log::Main()->critical("engine: the recovery index disagreed with the recoveries (a bug): rebuilt");
    (void)m_registry.TakeDetailError(); // what failed before is not this block's
    const BlockHash bh = block.header.GetHash();
    const taproot::OutputKeyMemo trigger_keys = BlockAhead(block);
    vault::MatchOptions mo;
    mo.output_keys = &trigger_keys;
    for (uint32_t pos = 0; pos < block.txs.size(); ++pos) {
        const auto& tx = block.txs[pos];
        if (m_mempool_ids.erase(tx.GetTxid())) {
            std::erase_if(m_mempool, [&](const auto& p) { return p.first == tx.GetTxid(); });
        }
        auto events = vault::MatchTx(tx, m_registry, height, mo);
        const bool fee_coin = FeeWalletTouches(tx);
        if (events.empty() && !m_recoveries.contains(tx.GetTxid()) && !fee_coin) continue;
        if (m_recent_confirmed_ids.insert(tx.GetTxid()).second) m_recent_confirmed[height].push_back(tx.GetTxid());
        batch.state.vault_txs.push_back({height, pos, bh, tx.GetTxid(), SerializeTransaction(tx)});
        Apply(tx, height, &batch.state, events);
        if (fee_coin) m_fee_wallet->ApplyTx(tx, height);
        // A deposit to a family member brings the next members in; the block's earlier
        // transactions are read again for them (a wallet's deposits come in any order).
        for (auto added = ExtendFamilies(events, batch.state); !added.empty();) {
            const std::set<uint32_t> fresh(added.begin(), added.end());
            added.clear();
            for (uint32_t p = 0; p < pos; ++p) {
                auto again = vault::MatchTx(block.txs[p], m_registry, height);
                std::erase_if(again, [&](const vault::VaultEvent& ev) {
                    return ev.vaults.empty() || !std::all_of(ev.vaults.begin(), ev.vaults.end(), [&](uint32_t v) { return fresh.contains(v); });
                });
                if (again.empty()) continue;
                batch.state.vault_txs.push_back({height, p, bh, block.txs[p].GetTxid(), SerializeTransaction(block.txs[p])});
                Apply(block.txs[p], height, &batch.state, again);
                const auto more = ExtendFamilies(again, batch.state);
                added.insert(added.end(), more.begin(), more.end());
            }
            m_batch_registered = true;
        }
    }
    // A late notification comes within a few blocks at most; keep a day of them.
    while (!m_recent_confirmed.empty() && m_recent_confirmed.begin()->first < height - 144) {
        for (const auto& t : m_recent_confirmed.begin()->second) m_recent_confirmed_ids.erase(t);
        m_recent_confirmed.erase(m_recent_confirmed.begin());
    }
    m_detail_source.ClearAhead(); // what no input took (a vault matched otherwise) is not kept
    Evaluate(batch.state);
    // A vault this block touched whose registration the store could not read now was not matched
    // right: the block is not stored, and comes again. A corrupt registration will not heal: it
    // is said loudly, and the block goes on for every other vault.
    if (auto e = m_registry.TakeDetailError(); e && e->transient) {
        batch.refused = "cannot read a vault's registration: " + e->message;
    } else if (e) {
        log::Main()->critical("engine: block {}: {} (the vault cannot be matched or recovered; see docs/operations.md, 'A corrupt registration')", height, e->message);
    }
}

void Engine::BlockDisconnected(const BlockHash& hash, int height, store::BlockBatch& batch)
{
    m_tip = height - 1;
    for (auto it = m_recent_confirmed.lower_bound(height); it != m_recent_confirmed.end(); it = m_recent_confirmed.erase(it)) {
        for (const auto& t : it->second) m_recent_confirmed_ids.erase(t);
    }
    std::vector<Txid> unconfirmed;
    for (const auto& [txid, r] : m_recoveries) {
        if (r.state == vault::RecoveryState::Confirmed && r.confirmed_height && *r.confirmed_height >= height) unconfirmed.push_back(txid);
    }
    for (const auto& txid : unconfirmed) {
        // Our recovery left the chain: it is broadcast again after this batch commits.
        auto r = m_recoveries.Change(txid);
        MoveTo(*r, vault::RecoveryState::Broadcast);
        r->confirmed_height.reset();
        batch.state.recoveries.push_back(*r);
    }
    Event(batch.state, "chain.reorg", "", "", height, {{"disconnected_hash", hash.ToString()}});
    m_need_rebuild = true; // the block's vault txs are deleted with the batch; replay without them
}

void Engine::TxAddedToMempool(const Transaction& tx, chain::SeenAt seen)
{
    if (m_recent_confirmed_ids.contains(tx.GetTxid())) {
        // In a block of our chain: either a notification late for that block (not applied: it
        // would bring spent outputs back), or the node has already disconnected the block and
        // we have not yet: kept, so the replay after our disconnect applies it.
        if (m_mempool_ids.insert(tx.GetTxid()).second) m_mempool.emplace_back(tx.GetTxid(), tx);
        log::Main()->debug("mempool notification of {}, confirmed on our chain: kept, not applied", tx.GetTxid().ToString());
        return;
    }
    (void)m_registry.TakeDetailError();
    auto events = vault::MatchTx(tx, m_registry, std::nullopt, NodeMempoolTx());
    if (auto e = m_registry.TakeDetailError(); e && e->transient) {
        // Not matched right: kept, and matched again by the replay before the next block.
        log::Main()->error("mempool tx {}: cannot read a vault's registration ({}); matched again at the next block", tx.GetTxid().ToString(), e->message);
        if (m_mempool_ids.insert(tx.GetTxid()).second) m_mempool.emplace_back(tx.GetTxid(), tx);
        m_need_rebuild = true;
        return;
    } else if (e) {
        log::Main()->critical("engine: mempool tx {}: {} (the vault cannot be matched or recovered)", tx.GetTxid().ToString(), e->message);
    }
    const bool fee_coin = FeeWalletTouches(tx);
    if (events.empty() && !fee_coin) return;
    if (m_mempool_ids.insert(tx.GetTxid()).second) m_mempool.emplace_back(tx.GetTxid(), tx);
    store::StateChanges changes;
    m_hold_lines = true;
    Apply(tx, std::nullopt, &changes, events);
    ExtendFamilies(events, changes);
    if (fee_coin) m_fee_wallet->ApplyTx(tx, std::nullopt);
    Evaluate(changes);
    const bool planned = !changes.recoveries.empty();
    if (planned) {
        // A sweep planned at first sight goes to the node first: the broadcaster is woken, and
        // its record (with the trigger's events and sighting) is written by a handler queued
        // right behind that wake-up, before the node's answer is read, without waiting for the
        // disk (the broadcaster's commit after that answer syncs it). The commit was 0.25 ms of a
        // 0.75 ms answer. A kill between the send and the write loses the record of a sweep the
        // node has, as a power cut before the sync does: at restart the trigger is found again
        // and answered again (tests: engine_trigger_path.ATowerKilledBetweenASweepsSendAndIts...,
        // thief.AKillBetweenASweepsSendAndItsRecordLosesNoVault).
        changes.wait_for_disk = false;
        TimeReaction(changes, seen);
        m_unwritten.push_back(std::move(changes));
        KickBroadcaster(Send::NewOnly);
        if (m_unwritten.size() == 1) net::post(m_ex, [this] { WriteUnwritten(); });
    } else {
        PersistNow(changes);
    }
    m_hold_lines = false;
    // Queued behind the broadcaster's wake-up: the webhooks' poll, then the event lines.
    if (std::exchange(m_held_events_kick, false) && on_events) on_events();
    LogHeldLinesSoon();
}

void Engine::TimeReaction(const store::StateChanges& planned, chain::SeenAt seen)
{
    if (seen == chain::SeenAt{}) seen = std::chrono::steady_clock::now();
    for (const auto& r : planned.recoveries) {
        if (r.state != vault::RecoveryState::Planned) continue;
        // Bounded: a sweep merged away before it was sent is never timed, and never removed.
        if (m_reaction_from.size() >= 10'000) m_reaction_from.clear();
        m_reaction_from.emplace(r.txid, seen);
    }
}

void Engine::TxAnnounced(const Transaction& tx, chain::SeenAt seen)
{
    if (m_recent_confirmed_ids.contains(tx.GetTxid())) return TxAddedToMempool(tx, seen); // kept, never applied
    // Nothing is recorded, alerted or broadcast on ZMQ's word alone: a forged trigger would raise
    // false alarms and send sweeps the node refuses. The price is one RPC round trip, paid only by
    // transactions that touch the watch index or the fee wallet; the index lookups decide, so the
    // question goes out at once.
    if (!vault::TouchesIndex(tx, m_registry.index()) && !FeeWalletTouches(tx)) return;
    net::co_spawn(m_ex, ConfirmAnnounced(tx, seen), net::detached);
    // While the node answers: match it once, which reads the registrations of the vaults it
    // touches back from the store (kept until the block trims them), so that the answer finds
    // them in memory.
    net::post(m_ex, [this, tx] {
        if (m_stopping) return;
        (void)m_registry.TakeDetailError();
        (void)vault::MatchTx(tx, m_registry, std::nullopt, NodeMempoolTx());
        (void)m_registry.TakeDetailError(); // the answer's own match says it, if it persists
    });
}

net::awaitable<void> Engine::ConfirmAnnounced(Transaction tx, chain::SeenAt seen)
{
    const Txid txid = tx.GetTxid();
    auto wait = std::chrono::milliseconds{100};
    while (!m_stopping) {
        auto r = co_await m_announce_node->GetRawTransaction(txid);
        if (m_stopping) co_return;
        if (r) {
            if (r.value->GetWtxid() != tx.GetWtxid()) {
                log::Main()->warn("ZMQ announced {} with a witness the node does not have: the node's transaction is applied", txid.ToString());
            }
            TxAddedToMempool(*r.value, seen);
            co_return;
        }
        if (r.error->kind == RpcError::Kind::Rpc && r.error->code == -5) {
            // Forged, or gone already (mined: the block brings it; replaced: so is its effect).
            log::Main()->warn("ZMQ announced {}, which touches a vault, but the node does not have it: ignored", txid.ToString());
            if (on_zmq_contradicted) on_zmq_contradicted();
            co_return;
        }
        // The node cannot answer now: the transaction is not dropped, only delayed.
        net::steady_timer t{m_ex, wait};
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
        wait = std::min(wait * 2, std::chrono::milliseconds{5000});
    }
}

void Engine::TxRemovedFromMempool(const Txid& txid)
{
    if (m_recoveries.contains(txid)) KickBroadcaster(); // evicted or replaced: put it back, or learn it is dead
    if (!m_mempool_ids.erase(txid)) return;
    std::erase_if(m_mempool, [&](const auto& p) { return p.first == txid; });
    // The replay is O(stored history): a burst of removals (a thief RBF-cycling dust) costs one,
    // run once the burst's notifications are handled. Until then nothing is swept on the strength
    // of the removed transaction alone: sweeps take only confirmed outputs and trigger outputs,
    // and a recovery spending a vanished trigger output is refused and re-planned.
    m_need_rebuild = true;
    if (m_rebuild_posted || m_stopping) return;
    m_rebuild_posted = true;
    net::post(m_ex, [this] {
        m_rebuild_posted = false;
        if (!m_need_rebuild || m_stopping) return;
        if (auto r = Rebuild(PendingRebuildScope()); !r) {
            log::Main()->critical("{}", r.error());
            return;
        }
        store::StateChanges changes;
        Evaluate(changes);
        const bool planned = !changes.recoveries.empty();
        PersistNow(changes);
        if (planned) KickBroadcaster(Send::NewOnly);
    });
}

void Engine::BatchCommitted(int height)
{
    m_tip = height;
    m_batch_registered = false;
    // The CCV probe waits for a confirmed fee coin: one may have come with this block.
    if (!m_ccv_enforced && m_fee_wallet && m_fee_wallet->SpendableBalance() > Amount{0}) m_ccv_wake.cancel();
    m_registry.TrimDetails(m_opts.details_kept);
    if (m_need_rebuild) {
        if (auto r = Rebuild(PendingRebuildScope()); !r) {
            log::Main()->critical("{}", r.error());
            return;
        }
        store::StateChanges changes;
        Evaluate(changes);
        PersistNow(changes);
    }
    {
        store::StateChanges changes;
        BumpFees(changes);
        CheckFeeReserve(changes);
        PersistNow(changes);
    }
    if (!m_fee_refresh_running && !m_stopping) {
        m_fee_refresh_running = true;
        net::co_spawn(m_ex, RefreshFees(), [this](std::exception_ptr) { m_fee_refresh_running = false; });
    }
    KickBroadcaster(); // new intents, and a rebroadcast of everything unconfirmed, each block
    if (on_events) on_events(); // the block's events are committed now (cheap if there are none)
}

void Engine::BatchAborted()
{
    // The block's state was not stored: replay from the store before the next decision. Recovery
    // intents planned for it stay in memory and go out now (coins first: a full disk must not
    // delay a sweep by a retry's backoff), and are stored with the broadcaster's bookkeeping or
    // when the block comes again.
    m_need_rebuild = true;
    if (std::exchange(m_batch_registered, false)) m_rebuild_registrations = true;
    KickBroadcaster();
}

// --- broadcasting -----------------------------------------------------------------------------

} // namespace vw::daemon
