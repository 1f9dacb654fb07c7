// Registry loading: the cold start from the store (vault rows prepared on every core), and the
// rebuild of the chain state from the stored history after a reorg or a mempool removal.
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

Expected<void, std::string> Engine::Load()
{
    auto cur = m_store.LoadCursor();
    if (!cur) return Unexpected{cur.error().message};
    m_tip = cur->height;
    auto recs = m_store.LoadRecoveries();
    if (!recs) return Unexpected{recs.error().message};
    m_recoveries.clear();
    for (auto& r : *recs) m_recoveries.emplace(r.txid, std::move(r));
    auto apps = m_store.LoadApprovals();
    if (!apps) return Unexpected{apps.error().message};
    m_approvals = std::move(*apps);
    auto seen = m_store.LoadSightings();
    if (!seen) return Unexpected{seen.error().message};
    m_sightings.clear();
    for (const auto& s : *seen) m_sightings.emplace(s.txid, s.seen_at);
    std::vector<store::VaultRow> missing_cache;
    if (auto r = Rebuild(RebuildScope::Everything, &missing_cache); !r) return r;
    if (!missing_cache.empty()) {
        // Rows from before the cache existed: written once, so the next start skips the tweak.
        store::StateChanges changes;
        changes.vaults = std::move(missing_cache);
        if (auto r = m_store.Apply(changes); !r) log::Main()->warn("engine: cannot store the output-key cache: {}", r.error().message);
    }
    auto rescans = m_store.LoadRescans();
    if (!rescans) return Unexpected{rescans.error().message};
    m_rescans.clear();
    for (const auto& r : *rescans) {
        if (r.vault_idx && *r.vault_idx >= m_registry.size()) return Unexpected{"corrupt database: rescan " + std::to_string(r.id) + " names no vault"};
        m_rescans.emplace(r.id, r);
        m_last_rescan_id = std::max(m_last_rescan_id, r.id);
    }
    if (!m_rescans.empty()) log::Main()->info("engine: {} rescan(s) to resume", m_rescans.size());
    // Triggers in the store were alerted on when first seen (a sighting, or before sightings were kept).
    for (auto& [_, t] : m_triggers) t.alerted = true;
    log::Main()->info("engine: {} vault(s), {} open recoveries", m_registry.size(),
                      std::count_if(m_recoveries.begin(), m_recoveries.end(), [](const auto& kv) { return IsLive(kv.second); }));
    return {};
}

Expected<vault::Registry, std::string> Engine::LoadRegistry(std::vector<store::VaultRow>* missing_cache, std::unordered_map<uint32_t, MemberLink>* links) const
{
    // A cold start re-registers every stored vault. Decoding and validating a row is pure and the
    // costly part (JSON, taproot tree, hashes), so it is spread over every core in chunks of rows,
    // taken in order from a shared counter: this thread reads the chunks from the store, then
    // adds each prepared chunk to the registry in row order (slots and index follow registration
    // order), preparing chunks itself whenever the next one is not ready yet.
    auto slots = m_store.VaultSlots();
    if (!slots) return Unexpected{slots.error().message};
    const size_t n = *slots;
    constexpr size_t CHUNK = 256;
    const size_t chunks = (n + CHUNK - 1) / CHUNK;
    std::vector<std::vector<store::VaultRow>> row_chunks(chunks);
    auto row_at = [&](size_t i) -> const store::VaultRow& { return row_chunks[i / CHUNK][i % CHUNK]; };
    auto where = [&](size_t i) { return "corrupt database: vault " + row_at(i).vault_id + " (row " + std::to_string(i) + ")"; };

    struct Prepared {
        vault::PreparedVault vault;
        vault::Policy policy;
        bool had_cache{false};
    };
    std::vector<std::optional<Prepared>> prepared(n);
    auto prepare_row = [&](size_t i) -> std::optional<std::string> {
        const auto& row = row_at(i);
        // The JSON of one row lives in a stack buffer: no allocation per value.
        std::array<unsigned char, 4096> buf;
        json::monotonic_resource mr(buf.data(), buf.size());
        boost::system::error_code ec;
        auto jv = json::parse(row.registration, ec, &mr);
        if (ec || !jv.is_object()) return where(i) + ": registration is not a JSON object";
        if (jv.as_object().contains("recovery_auth")) return where(i) + ": registration holds a secret (recovery_auth belongs in its own column)";
        if (!row.recovery_auth.empty()) jv.as_object()["recovery_auth"] = row.recovery_auth;
        std::optional<crypto::TweakedKey> cached;
        if (!row.output_key_cache.empty()) {
            auto id = vault::VaultId::Parse(row.vault_id);
            if (id) cached = vault::DecodeOutputKeyCache(*id, row.output_key_cache);
            if (!cached) return where(i) + ": output_key_cache does not belong to the vault";
        }
        auto parsed = rpc::ParseRegisterVault(jv.as_object(), cached);
        if (!parsed) return where(i) + ": " + parsed.error();
        auto p = rpc::PrepareRegistration(std::move(*parsed));
        if (!p) return where(i) + ": " + p.error().message;
        auto pj = json::parse(row.policy, ec, &mr);
        if (ec) return where(i) + ": policy is not JSON";
        auto pol = rpc::ParsePolicy(pj);
        if (!pol) return where(i) + ": policy: " + pol.error();
        prepared[i] = Prepared{std::move(*p), *pol, cached.has_value()};
        return std::nullopt;
    };
    enum : uint8_t { UNREAD, READ, TAKEN, DONE };
    std::vector<std::atomic<uint8_t>> state(chunks);
    std::vector<std::optional<std::string>> chunk_error(chunks);
    std::vector<uint8_t> skipped(chunks, 0); // not prepared: something failed before
    std::atomic<size_t> next_chunk{0};
    std::atomic<bool> failed{false};
    // Takes the next chunk and prepares it once its rows are read. Returns: false if none is left.
    auto prepare_one = [&]() -> bool {
        const size_t c = next_chunk.fetch_add(1);
        if (c >= chunks) return false;
        while (state[c].load(std::memory_order_acquire) == UNREAD && !failed.load()) std::this_thread::yield();
        if (failed.load()) {
            skipped[c] = 1;
        } else {
            state[c].store(TAKEN);
            try {
                for (size_t i = c * CHUNK; i < std::min(n, (c + 1) * CHUNK) && !chunk_error[c]; ++i) chunk_error[c] = prepare_row(i);
            } catch (const std::exception& e) {
                chunk_error[c] = std::string{"cannot load the vaults: "} + e.what();
            }
            if (chunk_error[c]) failed.store(true);
        }
        state[c].store(DONE, std::memory_order_release);
        return true;
    };
    const size_t helpers = n < 4 * CHUNK ? 0 : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8) - 1;
    std::vector<std::jthread> workers;
    for (size_t t = 0; t < helpers; ++t) {
        workers.emplace_back([&] {
            while (prepare_one()) {
            }
        });
    }
    // On any failure: stop the helpers, then report the first row that failed.
    auto fail = [&](std::optional<std::string> mine) -> Unexpected<std::string> {
        failed.store(true);
        workers.clear();
        for (const auto& e : chunk_error) {
            if (e) return Unexpected{*e};
        }
        return Unexpected{mine.value_or("cannot load the vaults")};
    };
    for (size_t c = 0; c < chunks; ++c) {
        const size_t want = std::min(CHUNK, n - c * CHUNK);
        auto r = m_store.LoadVaults(static_cast<uint32_t>(c * CHUNK), want);
        if (!r) return fail(r.error().message);
        if (r->size() != want) return fail("corrupt database: vaults.idx has a gap below " + std::to_string(n));
        row_chunks[c] = std::move(*r);
        state[c].store(READ, std::memory_order_release);
    }

    vault::Registry reg;
    reg.Reserve(n);
    for (size_t c = 0; c < chunks; ++c) {
        while (state[c].load(std::memory_order_acquire) != DONE) {
            if (!prepare_one()) std::this_thread::yield(); // a helper has it: wait
        }
        if (chunk_error[c] || skipped[c]) return fail(std::nullopt);
        for (size_t i = c * CHUNK; i < std::min(n, (c + 1) * CHUNK); ++i) {
            const auto& row = row_at(i);
            auto added = reg.Add(std::move(prepared[i]->vault));
            if (!added) return fail(where(i) + ": " + added.error().message);
            // The id is recomputed from the content: it is what binds a cached output key to it.
            if (added->index != row.idx || added->id.str() != row.vault_id) {
                return fail(where(i) + " re-registers as " + added->id.str() + " at slot " + std::to_string(added->index));
            }
            reg.SetPolicy(row.idx, prepared[i]->policy);
            if (missing_cache && !prepared[i]->had_cache) {
                if (const auto& v = reg.Get(row.idx)->opvault) {
                    auto with = row;
                    with.output_key_cache = vault::EncodeOutputKeyCache(added->id, v->OutputKey());
                    missing_cache->push_back(std::move(with));
                }
            }
            if (row.removed) reg.Remove(added->id);
            if (links && !row.family_id.empty()) (*links)[row.idx] = MemberLink{row.family_id, row.family_index};
            prepared[i].reset();
        }
    }
    workers.clear();
    for (const auto& a : m_approvals) {
        if (a.vault_idx >= reg.size()) return Unexpected{"corrupt database: approval " + std::to_string(a.id) + " names no vault"};
        reg.AddApproval(a.vault_idx, ToApproval(a));
    }
    return reg;
}

Expected<void, std::string> Engine::Rebuild(RebuildScope scope, std::vector<store::VaultRow>* missing_cache)
{
    ++m_stats.rebuilds;
    if (scope == RebuildScope::Everything) {
        std::unordered_map<uint32_t, MemberLink> links;
        auto reg = LoadRegistry(missing_cache, &links);
        if (!reg) return Unexpected{reg.error()};
        m_registry = std::move(*reg);
        m_member_of = std::move(links);
        if (auto f = LoadFamilies(); !f) return f;
    } else {
        // The registrations in memory are the stored ones (every control change is stored
        // before it is applied): only what the chain did is replayed, not a million parses.
        m_registry.ResetChainState();
    }

    std::map<Txid, TriggerInfo> old = std::move(m_triggers);
    m_triggers.clear();
    auto txs = m_store.LoadVaultTxs();
    if (!txs) return Unexpected{txs.error().message};
    if (m_fee_wallet) m_fee_wallet->Clear();
    std::unordered_set<Txid, HashIdHasher> stored;
    for (const auto& row : *txs) {
        auto tx = DecodeTransaction(row.tx);
        if (!tx || tx->GetTxid() != row.txid) return Unexpected{"corrupt database: vault tx at height " + std::to_string(row.height) + " does not decode to its txid"};
        auto events = vault::MatchTx(*tx, m_registry, row.height);
        Apply(*tx, row.height, nullptr, events);
        if (m_fee_wallet) m_fee_wallet->ApplyTx(*tx, row.height);
        stored.insert(row.txid);
    }
    for (const auto& [txid, tx] : m_mempool) {
        if (stored.contains(txid)) continue; // confirmed on our chain: its late notification is not the truth
        auto events = vault::MatchTx(tx, m_registry, std::nullopt);
        Apply(tx, std::nullopt, nullptr, events);
        if (m_fee_wallet) m_fee_wallet->ApplyTx(tx, std::nullopt);
    }
    for (auto& [txid, t] : m_triggers) {
        t.alerted = m_sightings.contains(txid); // alerted on at first sight, before any restart
        if (auto it = old.find(txid); it != old.end()) {
            t.alerted = t.alerted || it->second.alerted;
            t.plan_failure_alerted = it->second.plan_failure_alerted;
            t.seen_at = std::min(t.seen_at, it->second.seen_at);
        }
    }
    // A vault with a recovery in flight is recovering, whatever the replay says.
    for (const auto& [_, r] : m_recoveries) {
        if (!IsLive(r)) continue;
        for (const auto& id : r.vault_ids) {
            if (auto vid = vault::VaultId::Parse(id)) {
                if (auto i = m_registry.Find(*vid); i && (m_registry.Get(*i)->state == VaultState::Triggered || m_registry.Get(*i)->state == VaultState::Active)) m_registry.SetState(*i, VaultState::Recovering);
            }
        }
    }
    m_need_rebuild = false;
    return {};
}

} // namespace vw::daemon
