// Registry loading: the cold start from the store (compact forms, or whole rows prepared on every
// core), the details read back when a transaction touches a vault, the background check of the
// stored registrations, and the rebuild of the chain state from the stored history.
#include "engine.h"
#include "engine_internal.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

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
#ifdef __GLIBC__
    // The start's rows and parses are freed: give their pages back (the registry stays).
    malloc_trim(0);
#endif
    // Triggers in the store were alerted on when first seen (a sighting, or before sightings were kept).
    for (auto& [_, t] : m_triggers) t.alerted = true;
    log::Main()->info("engine: {} vault(s), {} open recoveries", m_registry.size(),
                      std::count_if(m_recoveries.begin(), m_recoveries.end(), [](const auto& kv) { return IsLive(kv.second); }));
    return {};
}

Expected<vault::PreparedVault, std::string> Engine::PrepareRow(const store::VaultRow& row) const
{
    // The JSON of one row lives in a stack buffer: no allocation per value.
    std::array<unsigned char, 4096> buf;
    json::monotonic_resource mr(buf.data(), buf.size());
    boost::system::error_code ec;
    auto jv = json::parse(row.registration, ec, &mr);
    if (ec || !jv.is_object()) return Unexpected{std::string("registration is not a JSON object")};
    if (jv.as_object().contains("recovery_auth")) return Unexpected{std::string("registration holds a secret (recovery_auth belongs in its own column)")};
    if (!row.recovery_auth.empty()) jv.as_object()["recovery_auth"] = row.recovery_auth;
    std::optional<crypto::TweakedKey> cached;
    if (!row.output_key_cache.empty()) {
        auto id = vault::VaultId::Parse(row.vault_id);
        if (id) cached = vault::DecodeOutputKeyCache(*id, row.output_key_cache);
        if (!cached) return Unexpected{std::string("output_key_cache does not belong to the vault")};
    }
    auto parsed = rpc::ParseRegisterVault(jv.as_object(), cached);
    if (!parsed) return Unexpected{parsed.error()};
    auto p = rpc::PrepareRegistration(std::move(*parsed));
    if (!p) return Unexpected{p.error().message};
    // The id is recomputed from the content: it is what binds the cached forms to it.
    if (p->record.id.str() != row.vault_id) return Unexpected{"re-registers as " + p->record.id.str()};
    return std::move(*p);
}

Expected<vault::VaultDetails, vault::DetailError> Engine::StoreDetails::LoadDetails(uint32_t i, const vault::VaultId& id)
{
    auto row = m_e.m_store.LoadVault(i);
    if (!row) {
        const bool transient = row.error().kind != store::StoreError::Kind::Corrupt;
        return Unexpected{vault::DetailError{"cannot read its registration: " + row.error().message, transient}};
    }
    if (!*row || (*row)->vault_id != id.str()) return Unexpected{vault::DetailError{"its registration is not in the store at its slot", false}};
    auto p = m_e.PrepareRow(**row);
    if (!p) return Unexpected{vault::DetailError{"corrupt registration: " + p.error(), false}};
    return std::move(p->details);
}

Expected<vault::Registry, std::string> Engine::LoadRegistry(std::vector<store::VaultRow>* missing_cache, std::unordered_map<uint32_t, MemberLink>* links) const
{
    // A cold start re-registers every stored vault. An opvault row normally carries its compact
    // form (index keys, delay, label: vault::EncodeCompactVault), decoded and added without its
    // details, which stay in the store until a transaction touches the vault. A row without one
    // (written before it existed, or presigned) is parsed in full: JSON, taproot tree, hashes.
    // Rows go in chunks through three steps: this thread reads a chunk from the store (a few
    // chunks ahead, no more: memory stays that of the registry), any thread prepares it (every
    // core; this one too when the next chunk is not ready), and this thread adds the prepared
    // chunks to the registry in row order (slots and index follow registration order).
    auto slots = m_store.VaultSlots();
    if (!slots) return Unexpected{slots.error().message};
    const size_t n = *slots;
    constexpr size_t CHUNK = 1024;
    constexpr size_t AHEAD = 8; // chunks read beyond the one being added
    const size_t chunks = (n + CHUNK - 1) / CHUNK;
    struct Prepared {
        std::optional<vault::CompactVault> compact;
        std::unique_ptr<vault::PreparedVault> full; //!< no compact form
        vault::Policy policy;
        bool reread{false};                         //!< the compact form did not decode: read the row whole
    };
    std::vector<std::vector<store::VaultRow>> row_chunks(chunks);
    std::vector<std::vector<Prepared>> prepared(chunks);
    auto where = [&](const store::VaultRow& row) { return "corrupt database: vault " + row.vault_id + " (row " + std::to_string(row.idx) + ")"; };

    using PolicyMemo = std::unordered_map<std::string, vault::Policy>;
    auto prepare_row = [&](const store::VaultRow& row, Prepared& out, PolicyMemo& memo) -> std::optional<std::string> {
        if (auto it = memo.find(row.policy); it != memo.end()) {
            out.policy = it->second;
        } else {
            boost::system::error_code ec;
            auto pj = json::parse(row.policy, ec);
            if (ec) return where(row) + ": policy is not JSON";
            auto pol = rpc::ParsePolicy(pj);
            if (!pol) return where(row) + ": policy: " + pol.error();
            out.policy = *pol;
            if (memo.size() < 64) memo.emplace(row.policy, *pol);
        }
        if (!row.compact.empty()) {
            auto id = vault::VaultId::Parse(row.vault_id);
            if (id && row.kind == "opvault") out.compact = vault::DecodeCompactVault(*id, row.compact);
            if (out.compact) {
                out.compact->holds_recovery_auth = !row.recovery_auth.empty(); // its own column is the truth
                return std::nullopt;
            }
            out.reread = true; // came without its registration
            return std::nullopt;
        }
        auto p = PrepareRow(row);
        if (!p) return where(row) + ": " + p.error();
        out.full = std::make_unique<vault::PreparedVault>(std::move(*p));
        return std::nullopt;
    };
    enum : uint8_t { UNREAD, READ, TAKEN, DONE };
    std::vector<std::atomic<uint8_t>> state(chunks);
    std::vector<std::optional<std::string>> chunk_error(chunks);
    std::atomic<size_t> prepared_count{0};
    std::atomic<bool> failed{false};
    // Prepares the first chunk that is read and not taken. Returns: whether it prepared one.
    // Chunks are read in order, so one that is not read ends the search: no thread ever waits
    // for a read this thread has not done.
    auto prepare_one = [&]() -> bool {
        for (size_t c = 0; c < chunks && !failed.load(); ++c) {
            uint8_t st = state[c].load(std::memory_order_acquire);
            if (st == UNREAD) return false;
            if (st != READ || !state[c].compare_exchange_strong(st, TAKEN)) continue;
            try {
                PolicyMemo memo;
                prepared[c].resize(row_chunks[c].size());
                for (size_t k = 0; k < row_chunks[c].size() && !chunk_error[c]; ++k) chunk_error[c] = prepare_row(row_chunks[c][k], prepared[c][k], memo);
            } catch (const std::exception& e) {
                chunk_error[c] = std::string{"cannot load the vaults: "} + e.what();
            }
            if (chunk_error[c]) failed.store(true);
            state[c].store(DONE, std::memory_order_release);
            ++prepared_count;
            return true;
        }
        return false;
    };
    const size_t helpers = n < 4 * CHUNK ? 0 : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8) - 1;
    std::vector<std::jthread> workers;
    for (size_t t = 0; t < helpers; ++t) {
        workers.emplace_back([&] {
            while (prepared_count.load() < chunks && !failed.load()) {
                if (!prepare_one()) std::this_thread::yield();
            }
        });
    }
    // On any failure: stop the helpers, then report the first chunk that failed.
    auto fail = [&](std::optional<std::string> mine) -> Unexpected<std::string> {
        failed.store(true);
        workers.clear();
        for (const auto& e : chunk_error) {
            if (e) return Unexpected{*e};
        }
        return Unexpected{mine.value_or("cannot load the vaults")};
    };

    vault::Registry reg;
    reg.SetDetailSource(&m_detail_source);
    reg.Reserve(n);
    size_t next_read = 0;
    for (size_t c = 0; c < chunks; ++c) {
        while (next_read < chunks && next_read < c + AHEAD) {
            const size_t want = std::min(CHUNK, n - next_read * CHUNK);
            auto r = m_store.LoadVaults(static_cast<uint32_t>(next_read * CHUNK), want, /*registrations=*/false);
            if (!r) return fail(r.error().message);
            if (r->size() != want) return fail("corrupt database: vaults.idx has a gap below " + std::to_string(n));
            row_chunks[next_read] = std::move(*r);
            state[next_read].store(READ, std::memory_order_release);
            ++next_read;
        }
        while (state[c].load(std::memory_order_acquire) != DONE) {
            if (failed.load()) return fail(std::nullopt);
            if (!prepare_one()) std::this_thread::yield(); // a helper has it: wait
        }
        if (chunk_error[c]) return fail(std::nullopt);
        for (size_t k = 0; k < row_chunks[c].size(); ++k) {
            auto& row = row_chunks[c][k];
            Prepared& p = prepared[c][k];
            if (p.reread) {
                log::Main()->warn("engine: vault {}: its compact form does not decode; reading its registration", row.vault_id);
                auto whole = m_store.LoadVault(row.idx);
                if (!whole || !*whole) return fail(where(row) + ": cannot read it again");
                row.registration = std::move((*whole)->registration);
                row.compact.clear();
                auto full = PrepareRow(row);
                if (!full) return fail(where(row) + ": " + full.error());
                p.full = std::make_unique<vault::PreparedVault>(std::move(*full));
            }
            Expected<vault::AddResult, vault::AddError> added = Unexpected{vault::AddError{}};
            if (p.compact) {
                added = reg.AddCompact(*p.compact, p.policy, row.removed);
            } else {
                vault::PreparedVault& pv = *p.full;
                std::optional<store::VaultRow> with;
                if (missing_cache && pv.details.opvault && (row.output_key_cache.empty() || row.compact.empty())) {
                    // Rows from before the cache / the compact form: written once, so the next
                    // start reads them instead of recomputing them.
                    with = row;
                    with->output_key_cache = vault::EncodeOutputKeyCache(pv.record.id, pv.details.opvault->OutputKey());
                    with->compact = vault::EncodeCompactVault(*vault::CompactOf(pv.record, pv.details));
                }
                added = reg.Add(std::move(pv));
                if (added && with) missing_cache->push_back(std::move(*with));
                if (added) reg.SetPolicy(row.idx, p.policy);
                if (added && row.removed) reg.Remove(added->id);
            }
            if (!added) return fail(where(row) + ": " + added.error().message);
            if (added->index != row.idx || added->id.str() != row.vault_id) {
                return fail(where(row) + " re-registers as " + added->id.str() + " at slot " + std::to_string(added->index));
            }
            if (links && !row.family_id.empty()) (*links)[row.idx] = MemberLink{row.family_id, row.family_index};
        }
        std::vector<store::VaultRow>{}.swap(row_chunks[c]);
        std::vector<Prepared>{}.swap(prepared[c]);
    }
    workers.clear();
    // What a cold start parsed in full it does not keep: only the details a trigger needs stay.
    reg.TrimDetails(0);
    for (const auto& a : m_approvals) {
        if (a.vault_idx >= reg.size()) return Unexpected{"corrupt database: approval " + std::to_string(a.id) + " names no vault"};
        reg.AddApproval(a.vault_idx, ToApproval(a));
    }
    return reg;
}

Expected<uint32_t, std::string> Engine::VerifyRegistrations(uint32_t from, size_t count, std::vector<std::string>& problems) const
{
    auto rows = m_store.LoadVaults(from, count, /*registrations=*/true);
    if (!rows) return Unexpected{rows.error().message};
    for (const auto& row : *rows) {
        auto problem = [&](const std::string& what) { problems.push_back("vault " + row.vault_id + " (row " + std::to_string(row.idx) + "): " + what); };
        auto p = PrepareRow(row);
        if (!p) {
            problem(p.error());
            continue;
        }
        const vault::VaultRecord* rec = m_registry.Get(row.idx);
        if (!rec || rec->id != p->record.id) {
            problem("is not the vault the registry holds at its slot");
            continue;
        }
        if (row.compact.empty()) continue; // loaded from the registration itself
        const auto id = vault::VaultId::Parse(row.vault_id);
        auto stored = id ? vault::DecodeCompactVault(*id, row.compact) : std::nullopt;
        auto want = vault::CompactOf(p->record, p->details);
        if (!stored || !want) {
            problem("its compact form does not decode");
            continue;
        }
        stored->holds_recovery_auth = want->holds_recovery_auth = !row.recovery_auth.empty();
        if (vault::EncodeCompactVault(*stored) != vault::EncodeCompactVault(*want)) problem("its compact form is not its registration's");
    }
    return rows->empty() ? from : rows->back().idx + 1;
}

net::awaitable<void> Engine::VerifyStoredRegistrations()
{
    // The cold start trusts each row's compact form (bound to the vault id by a check, so a
    // misplaced or damaged one is caught there); the registration it stands for is read whole
    // here, in slices between the tower's own work, so a corrupt row is said within minutes of
    // the start rather than when a thief triggers that vault.
    constexpr size_t SLICE = 256;
    const size_t n = m_registry.size();
    uint32_t from = 0;
    size_t corrupt = 0;
    while (from < n && !m_stopping) {
        std::vector<std::string> problems;
        auto next = VerifyRegistrations(from, SLICE, problems);
        net::steady_timer pause{m_ex, std::chrono::milliseconds{next ? 1 : 5000}};
        if (!next) {
            log::Main()->warn("engine: cannot read the stored registrations to verify them: {}; trying again", next.error());
        } else {
            m_stats.registrations_verified += *next - from;
            for (const auto& p : problems) log::Main()->critical("engine: corrupt registration: {} (see docs/operations.md, 'A corrupt registration')", p);
            corrupt += problems.size();
            m_stats.registrations_corrupt += problems.size();
            if (*next == from) break;
            from = *next;
        }
        co_await pause.async_wait(net::as_tuple(net::use_awaitable));
    }
    if (from >= n) log::Main()->info("engine: {} stored registration(s) verified, {} corrupt", n, corrupt);
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
    if (auto e = m_registry.TakeDetailError(); e && e->transient) {
        return Unexpected{"cannot replay the vaults' history: cannot read a vault's registration: " + e->message};
    } else if (e) {
        log::Main()->critical("engine: {} (the vault cannot be matched or recovered; see docs/operations.md, 'A corrupt registration')", e->message);
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
