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
    m_recoveries.Reset(std::move(*recs));
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
    if (auto it = m_ahead.find(i); it != m_ahead.end()) {
        const bool same = it->second.vault_id == id.str();
        vault::VaultDetails d = std::move(it->second.details);
        m_ahead.erase(it);
        if (same) return d;
    }
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
    // (written before it existed, presigned, or one whose form does not decode) is read whole
    // and parsed in full: JSON, taproot tree, hashes.
    // Rows go in chunks through three steps, pipelined: a helper scans a chunk from the store
    // (a few chunks ahead, no more: memory stays that of the registry) and decodes the compact
    // forms as it goes; any helper parses the rows read whole; this thread adds the chunks to the
    // registry in row order (slots and index follow registration order). The store is one
    // connection: one helper reads. Without helpers (a small book) this thread does it all.
    auto slots = m_store.VaultSlots();
    if (!slots) return Unexpected{slots.error().message};
    const size_t n = *slots;
    constexpr size_t CHUNK = 1024;
    constexpr size_t AHEAD = 8; // chunks read beyond the one being added
    const size_t chunks = (n + CHUNK - 1) / CHUNK;
    struct Prepared {
        uint32_t idx{0};
        bool removed{false};
        std::string family_id;
        uint32_t family_index{0};
        vault::Policy policy;
        std::optional<vault::CompactVault> compact;
        std::unique_ptr<store::VaultRow> whole;     //!< read whole: no compact form that decodes
        std::unique_ptr<vault::PreparedVault> full; //!< whole, parsed
    };
    std::vector<std::vector<Prepared>> prepared(chunks);
    auto where = [&](uint32_t idx, std::string_view id) { return "corrupt database: vault " + std::string(id) + " (row " + std::to_string(idx) + ")"; };

    enum : uint8_t { UNREAD, READ, TAKEN, DONE };
    std::vector<std::atomic<uint8_t>> state(chunks);
    std::vector<std::optional<std::string>> chunk_error(chunks);
    std::atomic<size_t> next_read{0}; // the next chunk to read (one reader at a time)
    std::atomic<size_t> added{0};     // chunks added to the registry
    std::atomic<size_t> freed{0};     // chunks whose memory is given back
    std::atomic<bool> failed{false};
    // The reader's memo of policy texts (a book has few distinct policies).
    std::string last_policy_text;
    vault::Policy last_policy;
    // Gives back the memory of the chunks added so far, on the thread that allocated most of it
    // (a free from another thread contends for the allocating thread's malloc arena).
    auto free_added = [&] {
        for (size_t c = freed.load(); c < added.load(); ++c) {
            std::vector<Prepared>{}.swap(prepared[c]);
            freed.store(c + 1);
        }
    };
    // Scans the next chunk, unless it is more than AHEAD chunks beyond the one being added; the
    // compact forms are decoded here, the rows without one read whole. Called by one thread
    // only. Returns: whether it read one.
    auto read_one = [&]() -> bool {
        free_added();
        const size_t c = next_read.load();
        if (c >= chunks || c >= added.load() + AHEAD || failed.load()) return false;
        const size_t want = std::min(CHUNK, n - c * CHUNK);
        auto& out = prepared[c];
        out.reserve(want);
        std::optional<std::string> error;
        bool any_whole = false;
        auto seen = m_store.ScanVaults(static_cast<uint32_t>(c * CHUNK), want, [&](const store::VaultRowView& v) {
            Prepared& p = out.emplace_back();
            p.idx = v.idx;
            p.removed = v.removed;
            p.family_id = v.family_id;
            p.family_index = v.family_index;
            if (v.policy != last_policy_text) {
                boost::system::error_code ec;
                auto pj = json::parse(v.policy, ec);
                auto pol = ec ? Unexpected{std::string("policy is not JSON")} : rpc::ParsePolicy(pj);
                if (!pol) {
                    if (!error) error = where(v.idx, v.vault_id) + ": policy: " + pol.error();
                    return;
                }
                last_policy_text = v.policy;
                last_policy = *pol;
            }
            p.policy = last_policy;
            if (v.kind == "opvault" && !v.compact.empty()) {
                if (auto id = vault::VaultId::Parse(v.vault_id)) p.compact = vault::DecodeCompactVault(*id, v.compact);
                if (!p.compact) {
                    log::Main()->warn("engine: vault {}: its compact form does not decode; reading its registration", v.vault_id);
                } else if (p.compact->keys.recovery_spk.empty()) {
                    // A form of the first version lacks the recovery scriptPubKey that answers a
                    // trigger from memory: read whole once, and written back in the current one.
                    p.compact.reset();
                } else {
                    p.compact->holds_recovery_auth = v.has_recovery_auth; // its own column is the truth
                    return;
                }
            }
            any_whole = true;
        });
        if (!seen) error = seen.error().message;
        else if (*seen != want) error = "corrupt database: vaults.idx has a gap below " + std::to_string(n);
        for (auto& p : out) {
            if (error || p.compact) continue;
            auto w = m_store.LoadVault(p.idx);
            if (!w || !*w) {
                error = w ? where(p.idx, "?") + ": cannot read it again" : w.error().message;
                break;
            }
            p.whole = std::make_unique<store::VaultRow>(std::move(**w));
        }
        if (error) {
            chunk_error[c] = std::move(error);
            failed.store(true);
        }
        state[c].store(any_whole && !chunk_error[c] ? READ : DONE, std::memory_order_release);
        next_read.store(c + 1);
        return true;
    };
    // Parses the rows read whole of the first chunk that is read and not taken. Returns: whether
    // it took one. Chunks are read in order, so one that is not read ends the search.
    auto prepare_one = [&]() -> bool {
        for (size_t c = added.load(); c < chunks && !failed.load(); ++c) {
            uint8_t st = state[c].load(std::memory_order_acquire);
            if (st == UNREAD) return false;
            if (st != READ || !state[c].compare_exchange_strong(st, TAKEN)) continue;
            try {
                for (auto& p : prepared[c]) {
                    if (!p.whole) continue;
                    auto full = PrepareRow(*p.whole);
                    if (!full) {
                        chunk_error[c] = where(p.idx, p.whole->vault_id) + ": " + full.error();
                        break;
                    }
                    p.full = std::make_unique<vault::PreparedVault>(std::move(*full));
                }
            } catch (const std::exception& e) {
                chunk_error[c] = std::string{"cannot load the vaults: "} + e.what();
            }
            if (chunk_error[c]) failed.store(true);
            state[c].store(DONE, std::memory_order_release);
            return true;
        }
        return false;
    };
    const size_t helpers = n < 4 * CHUNK ? 0 : std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 8) - 1;
    std::vector<std::jthread> workers;
    for (size_t t = 0; t < helpers; ++t) {
        workers.emplace_back([&, reader = t == 0] {
            while (added.load() < chunks && !failed.load()) {
                const bool did = (reader && read_one()) | prepare_one();
                if (!did) std::this_thread::yield();
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
    for (size_t c = 0; c < chunks; ++c) {
        while (state[c].load(std::memory_order_acquire) != DONE) {
            if (failed.load()) return fail(std::nullopt);
            const bool did = helpers == 0 && (read_one() || prepare_one());
            if (!did) std::this_thread::yield();
        }
        if (chunk_error[c]) return fail(std::nullopt);
        for (auto& p : prepared[c]) {
            Expected<vault::AddResult, vault::AddError> added_one = Unexpected{vault::AddError{}};
            std::optional<vault::VaultId> id;
            if (p.compact) {
                id = p.compact->id;
                added_one = reg.AddCompact(*p.compact, p.policy, p.removed);
            } else {
                const store::VaultRow& row = *p.whole;
                id = vault::VaultId::Parse(row.vault_id);
                vault::PreparedVault& pv = *p.full;
                std::optional<store::VaultRow> with;
                if (missing_cache && pv.details.opvault) {
                    // Rows from before the cache / the compact form, or with a damaged one:
                    // written once, so the next start reads them instead of recomputing them.
                    Bytes compact = vault::EncodeCompactVault(*vault::CompactOf(pv.record, pv.details));
                    if (row.output_key_cache.empty() || row.compact != compact) {
                        with = row;
                        with->output_key_cache = vault::EncodeOutputKeyCache(pv.record.id, pv.details.opvault->OutputKey());
                        with->compact = std::move(compact);
                    }
                }
                added_one = reg.Add(std::move(pv));
                if (added_one && with) missing_cache->push_back(std::move(*with));
                if (added_one) reg.SetPolicy(p.idx, p.policy);
                if (added_one && p.removed) reg.Remove(added_one->id);
            }
            const std::string id_text = id ? id->str() : p.whole ? p.whole->vault_id : "?";
            if (!added_one) return fail(where(p.idx, id_text) + ": " + added_one.error().message);
            if (added_one->index != p.idx || !id || added_one->id != *id) {
                return fail(where(p.idx, id_text) + " re-registers as " + added_one->id.str() + " at slot " + std::to_string(added_one->index));
            }
            if (links && !p.family_id.empty()) (*links)[p.idx] = MemberLink{p.family_id, p.family_index};
        }
        added.store(c + 1); // the reader gives the chunk's memory back
        if (helpers == 0) free_added();
    }
    workers.clear();
    free_added();
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
    auto rows = m_store.LoadVaults(from, count);
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
        if (stored->keys.recovery_spk.empty()) want->keys.recovery_spk.clear(); // a form of the first version
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
    // 16 rows (about 0.2 ms of the io thread at 1,000,000 vaults), then half a millisecond for
    // the rest: a trigger arriving meanwhile waits for one slice at most. With 64-row slices
    // and 1 ms pauses the answers of the first half minute after a start took up to 25 ms
    // (vw_bench_firehose over TCP: each answer crosses the io thread several times).
    constexpr size_t SLICE = 16;
    const size_t n = m_registry.size();
    uint32_t from = 0;
    size_t corrupt = 0;
    while (from < n && !m_stopping) {
        std::vector<std::string> problems;
        auto next = VerifyRegistrations(from, SLICE, problems);
        net::steady_timer pause{m_ex, next ? std::chrono::microseconds{500} : std::chrono::microseconds{5'000'000}};
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
    m_evaluate_all = true; // the replay sets alerted anew: every trigger is looked at again
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
        auto events = vault::MatchTx(tx, m_registry, std::nullopt, NodeMempoolTx());
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
