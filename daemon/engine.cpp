#include "engine.h"

#include "chain/rpc_replies.h"
#include "log.h"
#include "rpc/table.h"
#include "rpc/vault_json.h"
#include "util/hex.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <set>
#include <thread>
#include <ctime>

namespace vw::daemon {
namespace net = boost::asio;
namespace json = boost::json;
using vault::EventKind;
using vault::VaultState;

namespace {

std::string_view Hrp(const std::string& chain) { return rpc::HrpForChain(chain).value_or("bc"); }

std::string PlanKindName(vault::PlanKind k)
{
    switch (k) {
    case vault::PlanKind::OpVaultUnauthorized: return "opvault_unauthorized";
    case vault::PlanKind::OpVaultAuthorized: return "opvault_authorized";
    case vault::PlanKind::Presigned: return "presigned";
    case vault::PlanKind::PresignedEmergency: return "presigned_emergency";
    }
    return "unknown";
}

//! A live recovery may still confirm as it is: planned, or in the node's hands. A dead one (failed:
//! the node refused it for a reason that stays; conflicted: another confirmed transaction spent
//! one of its inputs; replaced: a fee bump of ours took its place) holds no fee coin and answers
//! no trigger: the trigger is planned again with what the chain holds then.
bool IsLive(const store::RecoveryRow& r) { return r.state == "planned" || r.state == "broadcast"; }

//! A recovery the operator asked for (recovervault) answers no trigger: its trigger_txid is null.
json::value TriggerTxidJson(const Txid& t) { return t.IsNull() ? json::value(nullptr) : json::value(t.ToString()); }

json::object RecoveryJson(const store::RecoveryRow& r, bool with_hex)
{
    json::array ids;
    for (const auto& v : r.vault_ids) ids.emplace_back(v);
    json::object o{{"txid", r.txid.ToString()},
                   {"kind", r.kind},
                   {"trigger_txid", TriggerTxidJson(r.trigger_txid)},
                   {"vault_ids", std::move(ids)},
                   {"state", r.state},
                   {"deadline_height", r.deadline_height ? json::value(*r.deadline_height) : json::value(nullptr)},
                   {"confirmed_height", r.confirmed_height ? json::value(*r.confirmed_height) : json::value(nullptr)},
                   {"attempts", r.attempts},
                   {"last_error", r.last_error},
                   {"created_at", r.created_at}};
    if (with_hex) o["hex"] = HexStr(r.tx);
    return o;
}

vault::Approval ToApproval(const store::ApprovalRow& r)
{
    vault::Approval a;
    a.kind = r.kind == "ctv_hash" ? vault::Approval::Kind::CtvHash : vault::Approval::Kind::TriggerTxid;
    a.value = r.value;
    a.expiry_height = r.expiry_height;
    a.revoked = r.revoked;
    return a;
}


} // namespace

Engine::Engine(net::any_io_executor ex, NodePort& node, store::Store& store, EngineOptions opts)
    : m_ex(ex), m_node(node), m_store(store), m_opts(std::move(opts)), m_bcast_wake(ex)
{
}

int64_t Engine::Now() const { return m_opts.now ? m_opts.now() : static_cast<int64_t>(std::time(nullptr)); }

std::string Engine::VaultIdOf(uint32_t idx) const
{
    const auto* r = m_registry.Get(idx);
    return r ? r->id.str() : std::string{};
}

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

Expected<vault::Registry, std::string> Engine::LoadRegistry(std::vector<store::VaultRow>* missing_cache) const
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
        auto reg = LoadRegistry(missing_cache);
        if (!reg) return Unexpected{reg.error()};
        m_registry = std::move(*reg);
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
        if (r.state != "planned" && r.state != "broadcast") continue;
        for (const auto& id : r.vault_ids) {
            if (auto vid = vault::VaultId::Parse(id)) {
                if (auto i = m_registry.Find(*vid); i && (m_registry.Get(*i)->state == VaultState::Triggered || m_registry.Get(*i)->state == VaultState::Active)) m_registry.SetState(*i, VaultState::Recovering);
            }
        }
    }
    m_need_rebuild = false;
    return {};
}

void Engine::Event(store::StateChanges& changes, std::string type, const std::string& vault_id, const std::string& txid,
                   std::optional<int> height, json::object data)
{
    if (!vault_id.empty()) data["vault_id"] = vault_id;
    if (!txid.empty()) data["txid"] = txid;
    log::Main()->info("{} {} {} {}", type, vault_id, txid, json::serialize(data));
    changes.events.push_back({0, Now(), std::move(type), vault_id, txid, height, json::serialize(data)});
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
            it->second.seen_at = std::min(it->second.seen_at, seen_at);
            if (inserted) ++m_stats.triggers_seen;
        }
        if (ev.kind == EventKind::UnexpectedSpend && !ev.malformed()) {
            // A watched outpoint of a pre-signed vault spent by something unknown: the emergency
            // transactions that still apply (sweeping the outputs the spender left) go out.
            for (auto v : ev.vaults) {
                if (const auto* r = m_registry.Get(v); r && r->presigned) m_unexpected[v] = txid;
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
    auto ours = m_recoveries.find(txid);
    if (ours != m_recoveries.end() && height && ours->second.state != "confirmed") {
        ours->second.state = "confirmed";
        ours->second.confirmed_height = *height;
        if (changes) {
            changes->recoveries.push_back(ours->second);
            for (const auto& id : ours->second.vault_ids) Event(*changes, "recovery.confirmed", id, txid.ToString(), height, {});
        }
    }
    if (height && changes) {
        // A live recovery one of whose inputs this confirmed transaction spends can never confirm:
        // ours (another rung, a fee bump) replaced it; anyone else's conflicted it. Its fee coins
        // are free again and its trigger is planned anew. (Chunks of a split sweep spend other
        // outputs: they stay.)
        std::set<Txid> dead;
        for (const auto& in : tx.vin()) {
            auto r = m_live_inputs.equal_range(in.prevout);
            for (auto k = r.first; k != r.second; ++k) {
                if (k->second != txid) dead.insert(k->second);
            }
        }
        for (const auto& d : dead) {
            auto it = m_recoveries.find(d);
            if (it == m_recoveries.end() || !IsLive(it->second)) continue;
            it->second.state = ours != m_recoveries.end() ? "replaced" : "conflicted";
            it->second.last_error = (ours != m_recoveries.end() ? "replaced by our " : "conflicted by ") + txid.ToString();
            changes->recoveries.push_back(it->second);
            log::Main()->warn("recovery {}: {} (confirmed at height {}); its trigger is planned again", d.ToString(), it->second.last_error, *height);
        }
    }
}

void Engine::IndexLiveInputs()
{
    m_live_inputs.clear();
    for (const auto& [txid, r] : m_recoveries) {
        if (!IsLive(r)) continue;
        auto tx = DecodeTransaction(r.tx);
        if (!tx) continue;
        for (const auto& in : tx->vin()) m_live_inputs.emplace(in.prevout, txid);
    }
}

void Engine::Evaluate(store::StateChanges& changes)
{
    // A trigger is answered by a live or confirmed recovery that names it, or that sweeps its
    // output (a group sweep answers every trigger of the group at once). Dead recoveries answer
    // nothing: their triggers are planned again here, with what the chain holds now.
    std::set<Txid> answered_triggers;
    std::set<OutPoint> covered; // what the live recoveries sweep: never planned twice
    for (const auto& [_, r] : m_recoveries) {
        if (r.state != "confirmed" && !IsLive(r)) continue;
        if (!r.trigger_txid.IsNull()) answered_triggers.insert(r.trigger_txid);
        if (r.state == "confirmed") continue;
        if (auto tx = DecodeTransaction(r.tx)) {
            for (const auto& in : tx->vin()) covered.insert(in.prevout);
        }
    }
    // An approved withdrawal's outputs are the owner's: no sweep takes them, not even a group
    // sweep answering another vault's trigger.
    std::set<OutPoint> keep_out = covered;
    auto decide = [&](const TriggerInfo& t, uint32_t v) {
        vault::TriggerFacts facts;
        facts.ctv_hash = t.event.ctv_hash;
        facts.txid = t.event.txid;
        facts.confirmed_height = t.event.height;
        facts.first_seen_height = t.seen_at;
        facts.spend_delay = static_cast<int>(t.event.spend_delay.value_or(0));
        const auto* rec = m_registry.Get(v);
        return vault::Decide(rec->policy, rec->approvals, facts, m_tip);
    };
    for (const auto& [_, t] : m_triggers) {
        if (t.closed || t.event.presigned_trigger) continue;
        const bool approved = std::all_of(t.event.vaults.begin(), t.event.vaults.end(), [&](uint32_t v) {
            const auto* rec = m_registry.Get(v);
            return rec && rec->state != VaultState::Removed && decide(t, v).approved;
        });
        if (!approved) continue;
        keep_out.insert(t.event.outpoint);
        for (const auto& r : t.event.revaults) keep_out.insert(r.outpoint);
    }
    struct Authorized {
        vault::PlannedRecovery plan;
        Txid trigger;
        std::optional<int> deadline;
        std::set<OutPoint> sweeps; //!< the plan's recovery inputs
    };
    std::vector<Authorized> authorized;
    std::map<uint32_t, Txid> trigger_of; // vault -> the trigger its authorized sweep answers
    // Fee coins held by live sweeps, computed once for the pass and kept up to date by AttachFees.
    std::optional<std::set<OutPoint>> held_coins;
    auto held = [&] {
        if (!held_coins) held_coins = ReservedFeeCoins();
        return &*held_coins;
    };
    auto record = [&](vault::PlannedRecovery& p, const Txid& ttxid, std::optional<int> deadline) {
        const Transaction tx{p.tx};
        const Txid txid = tx.GetTxid();
        if (auto it = m_recoveries.find(txid); it != m_recoveries.end()) {
            // The same transaction as before (plans are deterministic). A dead one goes out again
            // once a block (and at start): what made the node refuse it may have changed.
            auto& old = it->second;
            if (IsLive(old) || old.state == "confirmed") return;
            auto [tried, fresh] = m_tried_at.try_emplace(txid, m_tip);
            if (!fresh && tried->second >= m_tip) return;
            tried->second = m_tip;
            old.state = "planned";
            if (deadline) old.deadline_height = deadline;
            for (auto v : p.vaults) m_registry.SetState(v, VaultState::Recovering);
            for (const auto& in : tx.vin()) {
                covered.insert(in.prevout);
                keep_out.insert(in.prevout);
            }
            changes.recoveries.push_back(old);
            log::Main()->info("recovery {} tried again ({})", txid.ToString(), old.last_error);
            return;
        }
        store::RecoveryRow row;
        row.txid = txid;
        row.kind = PlanKindName(p.kind);
        row.trigger_txid = ttxid;
        for (auto v : p.vaults) row.vault_ids.push_back(VaultIdOf(v));
        row.tx = SerializeTransaction(tx);
        row.state = "planned";
        row.deadline_height = deadline;
        row.created_at = Now();
        ++m_stats.recoveries_planned;
        for (auto v : p.vaults) m_registry.SetState(v, VaultState::Recovering);
        for (size_t k = 0; k < p.vaults.size(); ++k) {
            auto t = trigger_of.find(p.vaults[k]);
            Event(changes, "recovery.planned", row.vault_ids[k], row.txid.ToString(), std::nullopt,
                  {{"trigger_txid", (t != trigger_of.end() ? t->second : ttxid).ToString()}, {"kind", row.kind}});
        }
        for (const auto& in : tx.vin()) {
            covered.insert(in.prevout);
            keep_out.insert(in.prevout);
        }
        changes.recoveries.push_back(row);
        m_recoveries.emplace(row.txid, std::move(row));
    };
    for (auto& [ttxid, t] : m_triggers) {
        const auto& ev = t.event;
        const bool answered = answered_triggers.count(ttxid) > 0 || (!ev.presigned_trigger && covered.count(ev.outpoint) > 0);
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
        po.exclude = &keep_out;
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
        // batched across triggers (one transaction, one output per recovery group).
        for (auto& p : *plans) {
            if (p.kind == vault::PlanKind::OpVaultAuthorized) {
                for (auto v : p.vaults) trigger_of.try_emplace(v, ttxid);
                std::set<OutPoint> sweeps;
                for (const auto& in : p.inputs) sweeps.insert(in.outpoint);
                for (const auto& o : sweeps) {
                    covered.insert(o);
                    keep_out.insert(o);
                }
                authorized.push_back({std::move(p), ttxid, deadline, std::move(sweeps)});
            } else {
                std::vector<vault::PlannedRecovery> one;
                one.push_back(std::move(p));
                AttachFees(one, deadline, held());
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
                if (std::any_of(etx.vin().begin(), etx.vin().end(), [&](const TxIn& in) { return covered.count(in.prevout) > 0; })) continue;
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
    for (auto& p : *merged) {
        // Its trigger (the first of those it answers) and the earliest deadline among them.
        std::optional<Txid> ttxid;
        std::optional<int> deadline;
        for (const auto& a : authorized) {
            if (std::none_of(p.inputs.begin(), p.inputs.end(), [&](const auto& in) { return a.sweeps.count(in.outpoint) > 0; })) continue;
            if (!ttxid) ttxid = a.trigger;
            if (a.deadline) deadline = deadline ? std::min(*deadline, *a.deadline) : *a.deadline;
        }
        std::vector<vault::PlannedRecovery> one;
        one.push_back(std::move(p));
        AttachFees(one, deadline, held());
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

void Engine::PersistNow(store::StateChanges& changes)
{
    if (changes.empty()) return;
    const bool events = !changes.events.empty();
    auto r = m_store.Apply(changes);
    if (r && events && on_events) on_events();
    if (!r) {
        // Nothing was committed; the in-memory view is ahead of the store. Rebuild from the store
        // at the next opportunity so that what we act on is what we can prove later.
        log::Store()->critical("cannot persist vault state: {}", r.error().message);
        m_need_rebuild = true;
    }
    changes = {};
}

// --- ChainListener --------------------------------------------------------------------------

void Engine::BlockConnected(const Block& block, int height, store::BlockBatch& batch)
{
    if (m_need_rebuild) {
        // A queued replay (mempool removals, an aborted batch) first, on what the store holds:
        // the block's decisions must not rest on a transaction that left the mempool.
        if (auto r = Rebuild(RebuildScope::ChainState); !r) log::Main()->critical("{}", r.error());
    }
    m_tip = height;
    IndexLiveInputs();
    const BlockHash bh = block.header.GetHash();
    for (uint32_t pos = 0; pos < block.txs.size(); ++pos) {
        const auto& tx = block.txs[pos];
        if (m_mempool_ids.erase(tx.GetTxid())) {
            std::erase_if(m_mempool, [&](const auto& p) { return p.first == tx.GetTxid(); });
        }
        auto events = vault::MatchTx(tx, m_registry, height);
        const bool fee_coin = FeeWalletTouches(tx);
        if (events.empty() && !m_recoveries.contains(tx.GetTxid()) && !fee_coin) continue;
        if (m_recent_confirmed_ids.insert(tx.GetTxid()).second) m_recent_confirmed[height].push_back(tx.GetTxid());
        batch.state.vault_txs.push_back({height, pos, bh, tx.GetTxid(), SerializeTransaction(tx)});
        Apply(tx, height, &batch.state, events);
        if (fee_coin) m_fee_wallet->ApplyTx(tx, height);
    }
    // A late notification comes within a few blocks at most; keep a day of them.
    while (!m_recent_confirmed.empty() && m_recent_confirmed.begin()->first < height - 144) {
        for (const auto& t : m_recent_confirmed.begin()->second) m_recent_confirmed_ids.erase(t);
        m_recent_confirmed.erase(m_recent_confirmed.begin());
    }
    Evaluate(batch.state);
}

void Engine::BlockDisconnected(const BlockHash& hash, int height, store::BlockBatch& batch)
{
    m_tip = height - 1;
    for (auto it = m_recent_confirmed.lower_bound(height); it != m_recent_confirmed.end(); it = m_recent_confirmed.erase(it)) {
        for (const auto& t : it->second) m_recent_confirmed_ids.erase(t);
    }
    for (auto& [_, r] : m_recoveries) {
        if (r.state == "confirmed" && r.confirmed_height && *r.confirmed_height >= height) {
            // Our recovery left the chain: it is broadcast again after this batch commits.
            r.state = "broadcast";
            r.confirmed_height.reset();
            batch.state.recoveries.push_back(r);
        }
    }
    Event(batch.state, "chain.reorg", "", "", height, {{"disconnected_hash", hash.ToString()}});
    m_need_rebuild = true; // the block's vault txs are deleted with the batch; replay without them
}

void Engine::TxAddedToMempool(const Transaction& tx)
{
    if (m_recent_confirmed_ids.contains(tx.GetTxid())) {
        // In a block of our chain: either a notification late for that block (not applied: it
        // would bring spent outputs back), or the node has already disconnected the block and
        // we have not yet: kept, so the replay after our disconnect applies it.
        if (m_mempool_ids.insert(tx.GetTxid()).second) m_mempool.emplace_back(tx.GetTxid(), tx);
        log::Main()->debug("mempool notification of {}, confirmed on our chain: kept, not applied", tx.GetTxid().ToString());
        return;
    }
    auto events = vault::MatchTx(tx, m_registry, std::nullopt);
    const bool fee_coin = FeeWalletTouches(tx);
    if (events.empty() && !fee_coin) return;
    if (m_mempool_ids.insert(tx.GetTxid()).second) m_mempool.emplace_back(tx.GetTxid(), tx);
    store::StateChanges changes;
    Apply(tx, std::nullopt, &changes, events);
    if (fee_coin) m_fee_wallet->ApplyTx(tx, std::nullopt);
    Evaluate(changes);
    const bool planned = !changes.recoveries.empty();
    PersistNow(changes);
    if (planned) KickBroadcaster();
}

void Engine::TxAnnounced(const Transaction& tx)
{
    if (m_recent_confirmed_ids.contains(tx.GetTxid())) return TxAddedToMempool(tx); // kept, never applied
    // Nothing is recorded, alerted or broadcast on ZMQ's word alone: a forged trigger would raise
    // false alarms and send sweeps the node refuses. The price is one RPC round trip, paid only by
    // transactions that touch a vault or the fee wallet.
    if (vault::MatchTx(tx, m_registry, std::nullopt).empty() && !FeeWalletTouches(tx)) return;
    net::co_spawn(m_ex, ConfirmAnnounced(tx), net::detached);
}

net::awaitable<void> Engine::ConfirmAnnounced(Transaction tx)
{
    const Txid txid = tx.GetTxid();
    auto wait = std::chrono::milliseconds{100};
    while (!m_stopping) {
        auto r = co_await m_node.GetRawTransaction(txid);
        if (m_stopping) co_return;
        if (r) {
            if (r.value->GetWtxid() != tx.GetWtxid()) {
                log::Main()->warn("ZMQ announced {} with a witness the node does not have: the node's transaction is applied", txid.ToString());
            }
            TxAddedToMempool(*r.value);
            co_return;
        }
        if (r.error->kind == RpcError::Kind::Rpc && r.error->code == -5) {
            // Forged, or gone already (mined: the block brings it; replaced: so is its effect).
            log::Main()->warn("ZMQ announced {}, which touches a vault, but the node does not have it: ignored", txid.ToString());
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
        if (auto r = Rebuild(RebuildScope::ChainState); !r) {
            log::Main()->critical("{}", r.error());
            return;
        }
        store::StateChanges changes;
        Evaluate(changes);
        const bool planned = !changes.recoveries.empty();
        PersistNow(changes);
        if (planned) KickBroadcaster();
    });
}

void Engine::BatchCommitted(int height)
{
    m_tip = height;
    if (m_need_rebuild) {
        if (auto r = Rebuild(RebuildScope::ChainState); !r) {
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
    KickBroadcaster();
}

// --- broadcasting -----------------------------------------------------------------------------

void Engine::Start()
{
    net::co_spawn(m_ex, CheckDeployment(), net::detached);
    KickBroadcaster();
    StartRescans();
}

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

void Engine::Stop()
{
    m_stopping = true;
    m_bcast_wake.cancel();
}

void Engine::KickBroadcaster()
{
    if (m_stopping) return;
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
        for (const auto& [txid, r] : m_recoveries) {
            // Live ones only: a dead one comes back through Evaluate, re-planned. Past the deadline
            // too: the thief may not have withdrawn yet, and a sweep that confirms first still wins.
            if (IsLive(r)) todo.push_back(txid);
        }
        for (const auto& txid : todo) {
            if (m_stopping) break;
            auto it = m_recoveries.find(txid);
            if (it == m_recoveries.end() || !IsLive(it->second)) continue;
            // Read before the call: a block applied while we wait may confirm it, and the operator
            // must still hear that it went out.
            const std::string before = it->second.state;
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
                if (IsLive(row)) row.state = "broadcast";
                row.last_error.clear();
                if (before == "planned") { // first accepted (or accepted again after a refusal)
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
                    row.state = "failed";
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

Expected<json::value, EngineError> Engine::RegisterVault(const json::object& params)
{
    json::array one;
    one.push_back(params);
    auto r = RegisterVaults(one);
    if (!r) return r;
    auto& item = r->as_object().at("results").as_array().at(0).as_object();
    if (const auto* err = item.if_contains("error")) {
        return Unexpected{EngineError{static_cast<int>(err->at("code").as_int64()), std::string(err->at("message").as_string())}};
    }
    return json::value(std::move(item));
}

Expected<json::value, EngineError> Engine::RegisterVaults(const json::array& requests)
{
    struct Done {
        uint32_t index;
        std::optional<int> birth;
    };
    std::vector<std::optional<Done>> done(requests.size());
    std::vector<json::value> results(requests.size());
    store::StateChanges changes;
    auto fail = [&](size_t i, int code, std::string msg) {
        results[i] = json::object{{"error", json::object{{"code", code}, {"message", std::move(msg)}}}};
    };
    for (size_t i = 0; i < requests.size(); ++i) {
        if (!requests[i].is_object()) {
            fail(i, rpc::RPC_TYPE_ERROR, "a vault registration must be a JSON object");
            continue;
        }
        const auto& params = requests[i].as_object();
        // Refuse before looking further: on a chain that does not enforce OP_VAULT nothing about
        // the vault matters.
        const auto* kind = params.if_contains("kind");
        const bool is_opvault = kind && kind->is_string() && kind->as_string() == "opvault";
        if (is_opvault && !m_opts.allow_unenforced_opvault && m_vault_enforced != true) {
            if (!m_vault_enforced) {
                fail(i, rpc::RPC_NODE_ERROR, "cannot register an opvault vault yet: the node has not said whether it enforces "
                                             "OP_VAULT (getdeploymentinfo); try again when it is reachable");
            } else {
                fail(i, rpc::RPC_INVALID_PARAMETER,
                     "refusing to register an opvault vault: the node does not enforce OP_VAULT (getdeploymentinfo shows no "
                     "active 'vault' deployment), so on this chain the vault's output would be anyone-can-spend. Use a "
                     "presigned vault.");
            }
            continue;
        }
        auto parsed = rpc::ParseRegisterVault(params);
        if (!parsed) {
            fail(i, rpc::RPC_INVALID_PARAMETER, parsed.error());
            continue;
        }
        // The secret, if any, is stored in a column of its own, never inside the registration.
        json::object stored = rpc::ToJson(*parsed, /*include_secret=*/true);
        std::string recovery_auth;
        if (const auto* a = stored.if_contains("recovery_auth"); a && a->is_string()) recovery_auth = std::string(a->as_string());
        stored.erase("recovery_auth");
        std::optional<int> birth;
        vault::Policy policy;
        std::visit([&](const auto& r) { birth = r.birth_height; policy = r.policy; }, *parsed);
        auto added = rpc::AddToRegistry(m_registry, std::move(*parsed));
        if (!added) {
            if (added.error().code == vault::RegistryError::AlreadyRegistered && added.error().existing) {
                auto v = GetVault(added.error().existing->str());
                if (v && v->is_object()) v->as_object()["already_registered"] = true;
                results[i] = v ? std::move(*v) : json::value(nullptr);
                continue;
            }
            fail(i, rpc::RPC_INVALID_PARAMETER, added.error().message);
            continue;
        }
        const auto* rec = m_registry.Get(added->index);
        changes.vaults.push_back({added->index, added->id.str(), std::string(vault::ToString(rec->kind)), json::serialize(stored),
                                  json::serialize(rpc::PolicyJson(policy)), false, Now(),
                                  rec->opvault ? vault::EncodeOutputKeyCache(added->id, rec->opvault->OutputKey()) : Bytes{},
                                  std::move(recovery_auth)});
        Event(changes, "vault.registered", added->id.str(), "", std::nullopt, {{"kind", std::string(vault::ToString(rec->kind))}});
        done[i] = Done{added->index, birth};
        if (birth && *birth <= m_tip) {
            // Stored with the vault: a restart before the rescan is done resumes it.
            const int64_t id = std::max(NextRescanId(), changes.rescans.empty() ? 0 : changes.rescans.back().id + 1);
            changes.rescans.push_back({id, added->index, std::max(0, *birth), Now()});
        }
    }
    if (!changes.empty()) {
        // One transaction for the whole batch: registering many vaults costs one fsync.
        if (auto r = m_store.Apply(changes); !r) {
            if (auto rb = Rebuild(); !rb) log::Main()->critical("{}", rb.error());
            return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store the vaults: " + r.error().message}};
        }
    }
    for (const auto& r : changes.rescans) {
        m_rescans.emplace(r.id, r);
        m_last_rescan_id = std::max(m_last_rescan_id, r.id);
    }
    for (size_t i = 0; i < requests.size(); ++i) {
        if (!done[i]) continue;
        auto out = rpc::VaultDetailJson(*m_registry.Get(done[i]->index), Hrp(m_opts.chain));
        if (done[i]->birth && *done[i]->birth <= m_tip) out["rescan_from"] = std::max(0, *done[i]->birth);
        results[i] = std::move(out);
    }
    StartRescans();
    json::array arr;
    for (auto& r : results) arr.push_back(std::move(r));
    return json::value(json::object{{"results", std::move(arr)}});
}

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

Expected<json::value, EngineError> Engine::Rescan(int from_height, const std::optional<std::string>& vault_id)
{
    std::optional<uint32_t> idx;
    if (vault_id) {
        auto id = vault::VaultId::Parse(*vault_id);
        auto i = id ? m_registry.Find(*id) : std::nullopt;
        if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + *vault_id}};
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
                                    {"vault_id", vault_id ? json::value(*vault_id) : json::value(nullptr)}});
}

json::value Engine::RescanStatus() const
{
    if (m_rescans.empty()) return nullptr;
    return json::object{{"pending", m_rescans.size()}, {"height", m_rescan_height ? json::value(*m_rescan_height) : json::value(nullptr)}};
}

Expected<json::value, EngineError> Engine::GetVault(const std::string& vault_id) const
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    const auto* rec = m_registry.Get(*i);
    auto out = rpc::VaultDetailJson(*rec, Hrp(m_opts.chain));
    json::array triggers;
    for (const auto& [txid, t] : m_triggers) {
        if (std::find(t.event.vaults.begin(), t.event.vaults.end(), *i) == t.event.vaults.end()) continue;
        vault::TriggerFacts facts{t.event.ctv_hash, txid, t.event.height, static_cast<int>(t.event.spend_delay.value_or(0))};
        const auto d = vault::Decide(rec->policy, rec->approvals, facts, m_tip);
        triggers.push_back(json::object{{"txid", txid.ToString()},
                                        {"height", t.event.height ? json::value(*t.event.height) : json::value(nullptr)},
                                        {"ctv_hash", t.event.ctv_hash ? json::value(HexStr(t.event.ctv_hash->span())) : json::value(nullptr)},
                                        {"approved", d.approved},
                                        {"action", std::string(vault::ToString(d.action))},
                                        {"deadline_height", d.deadline_height ? json::value(*d.deadline_height) : json::value(nullptr)}});
    }
    out["triggers"] = std::move(triggers);
    json::array recs;
    for (const auto& [_, r] : m_recoveries) {
        if (std::find(r.vault_ids.begin(), r.vault_ids.end(), vault_id) != r.vault_ids.end()) recs.push_back(RecoveryJson(r, false));
    }
    out["recoveries"] = std::move(recs);
    return json::value(std::move(out));
}

json::value Engine::ListVaults(const std::optional<std::string>& state) const
{
    json::array vaults;
    for (uint32_t i = 0; i < m_registry.size(); ++i) {
        const auto* rec = m_registry.Get(i);
        if (state ? vault::ToString(rec->state) != *state : rec->state == VaultState::Removed) continue;
        vaults.push_back(rpc::VaultSummaryJson(*rec));
    }
    return json::object{{"vaults", std::move(vaults)}};
}

Expected<json::value, EngineError> Engine::RemoveVault(const std::string& vault_id)
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    auto stored = m_store.LoadVault(*i); // one row, not the whole table
    if (!stored || !*stored) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot read the vault from the store"}};
    store::StateChanges changes;
    auto row = std::move(**stored);
    row.removed = true;
    changes.vaults.push_back(row);
    Event(changes, "vault.removed", vault_id, "", std::nullopt, {});
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    m_registry.Remove(*id);
    return json::value(json::object{{"vault_id", vault_id}, {"removed", true}});
}

Expected<json::value, EngineError> Engine::SetPolicy(const std::string& vault_id, const json::value& policy)
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    auto p = rpc::ParsePolicy(policy);
    if (!p) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, p.error()}};
    if (auto why = vault::CheckPolicy(*p, static_cast<int>(m_registry.Get(*i)->MinSpendDelay()))) {
        return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, *why}};
    }
    auto stored = m_store.LoadVault(*i);
    if (!stored || !*stored) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot read the vault from the store"}};
    store::StateChanges changes;
    auto row = std::move(**stored);
    row.policy = json::serialize(rpc::PolicyJson(*p));
    changes.vaults.push_back(row);
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    m_registry.SetPolicy(*i, *p);
    store::StateChanges after;
    Evaluate(after);
    const bool planned = !after.recoveries.empty();
    PersistNow(after);
    if (planned) KickBroadcaster();
    return json::value(json::object{{"vault_id", vault_id}, {"policy", rpc::PolicyJson(*p)}});
}

Expected<json::value, EngineError> Engine::ApproveTrigger(const std::string& vault_id, const json::object& approval)
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    auto a = rpc::ParseApproval(approval);
    if (!a) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, a.error()}};
    if (auto why = rpc::CheckApprovalFor(m_registry.Get(*i)->kind, *a)) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, *why}};
    store::ApprovalRow row;
    row.id = 1;
    for (const auto& r : m_approvals) row.id = std::max(row.id, r.id + 1);
    row.vault_idx = *i;
    row.kind = a->kind == vault::Approval::Kind::CtvHash ? "ctv_hash" : "trigger_txid";
    row.value = a->value;
    row.expiry_height = a->expiry_height;
    store::StateChanges changes;
    changes.approvals.push_back(row);
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    m_approvals.push_back(row);
    m_registry.AddApproval(*i, *a);
    auto out = rpc::ApprovalJson(*a);
    out["approval_id"] = row.id;
    out["vault_id"] = vault_id;
    return json::value(std::move(out));
}

Expected<json::value, EngineError> Engine::ListApprovals(const std::string& vault_id) const
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    json::array out;
    for (const auto& r : m_approvals) {
        if (r.vault_idx != *i) continue;
        auto o = rpc::ApprovalJson(ToApproval(r));
        o["approval_id"] = r.id;
        out.push_back(std::move(o));
    }
    return json::value(json::object{{"approvals", std::move(out)}});
}

Expected<json::value, EngineError> Engine::RevokeApproval(int64_t approval_id)
{
    auto it = std::find_if(m_approvals.begin(), m_approvals.end(), [&](const auto& r) { return r.id == approval_id; });
    if (it == m_approvals.end()) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no approval " + std::to_string(approval_id)}};
    auto row = *it;
    row.revoked = true;
    store::StateChanges changes;
    changes.approvals.push_back(row);
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    *it = row;
    if (auto* apps = m_registry.MutableApprovals(row.vault_idx)) {
        apps->clear();
        for (const auto& r : m_approvals) {
            if (r.vault_idx == row.vault_idx) apps->push_back(ToApproval(r));
        }
    }
    store::StateChanges after;
    Evaluate(after);
    const bool planned = !after.recoveries.empty();
    PersistNow(after);
    if (planned) KickBroadcaster();
    return json::value(json::object{{"approval_id", approval_id}, {"revoked", true}});
}

json::value Engine::ListRecoveries(const std::optional<std::string>& vault_id) const
{
    json::array out;
    for (const auto& [_, r] : m_recoveries) {
        if (vault_id && std::find(r.vault_ids.begin(), r.vault_ids.end(), *vault_id) == r.vault_ids.end()) continue;
        out.push_back(RecoveryJson(r, false));
    }
    return json::object{{"recoveries", std::move(out)}};
}

Expected<json::value, EngineError> Engine::GetRecovery(const std::string& txid) const
{
    auto t = Txid::FromHex(txid);
    auto it = t ? m_recoveries.find(*t) : m_recoveries.end();
    if (it == m_recoveries.end()) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no recovery " + txid}};
    return json::value(RecoveryJson(it->second, true));
}

Expected<json::value, EngineError> Engine::ListEvents(int64_t after_seq, size_t limit) const
{
    auto rows = m_store.LoadEvents(after_seq, std::min<size_t>(limit, 1000));
    if (!rows) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, rows.error().message}};
    json::array out;
    for (const auto& e : *rows) {
        boost::system::error_code ec;
        auto data = json::parse(e.data, ec);
        out.push_back(json::object{{"seq", e.seq},
                                   {"type", e.type},
                                   {"created_at", e.created_at},
                                   {"vault_id", e.vault_id.empty() ? json::value(nullptr) : json::value(e.vault_id)},
                                   {"txid", e.txid.empty() ? json::value(nullptr) : json::value(e.txid)},
                                   {"height", e.height ? json::value(*e.height) : json::value(nullptr)},
                                   {"data", ec ? json::value(nullptr) : data}});
    }
    return json::value(json::object{{"events", std::move(out)}});
}

Expected<json::value, EngineError> Engine::RecoverVault(const std::string& vault_id)
{
    auto id = vault::VaultId::Parse(vault_id);
    auto i = id ? m_registry.Find(*id) : std::nullopt;
    if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    // Pressing the button twice is harmless: what is already being swept is reported again.
    auto in_flight = [&] {
        json::array out;
        for (const auto& [_, r] : m_recoveries) {
            if (IsLive(r) && std::find(r.vault_ids.begin(), r.vault_ids.end(), vault_id) != r.vault_ids.end()) out.push_back(RecoveryJson(r, false));
        }
        return out;
    };
    vault::PlanOptions po;
    po.min_feerate = CurrentFeeRate();
    auto plans = vault::PlanVaultRecovery(m_registry, *i, po);
    if (!plans) {
        if (plans.error().error == vault::PlanError::NothingToSweep) {
            json::array already = in_flight();
            if (!already.empty()) return json::value(json::object{{"vault_id", vault_id}, {"recoveries", std::move(already)}});
            return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "nothing to sweep: vault " + vault_id + " has no unspent output that a recovery can spend"}};
        }
        std::string why{vault::ToString(plans.error().error)};
        if (plans.error().build_error) why += std::string(": ") + std::string(vault::ToString(*plans.error().build_error));
        return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot plan a recovery of " + vault_id + ": " + why}};
    }
    // The earliest deadline among the vault's open triggers, if any: the sweep must beat it.
    std::optional<int> deadline;
    for (const auto& [_, t] : m_triggers) {
        if (t.closed || !t.event.height || !t.event.spend_delay) continue;
        if (std::find(t.event.vaults.begin(), t.event.vaults.end(), *i) == t.event.vaults.end()) continue;
        const int d = vault::DeadlineHeight(*t.event.height, static_cast<int>(*t.event.spend_delay));
        deadline = deadline ? std::min(*deadline, d) : d;
    }
    AttachFees(*plans, deadline);
    store::StateChanges changes;
    for (auto& p : *plans) {
        store::RecoveryRow row;
        const Transaction tx{p.tx};
        row.txid = tx.GetTxid();
        if (m_recoveries.contains(row.txid)) continue; // the same pre-signed tx is already ours
        row.kind = PlanKindName(p.kind);
        for (auto v : p.vaults) row.vault_ids.push_back(VaultIdOf(v));
        row.tx = SerializeTransaction(tx);
        row.state = "planned";
        row.deadline_height = deadline;
        row.created_at = Now();
        for (const auto& vid : row.vault_ids) {
            Event(changes, "recovery.planned", vid, row.txid.ToString(), std::nullopt,
                  {{"trigger_txid", nullptr}, {"kind", row.kind}, {"requested_by", "operator"}});
        }
        changes.recoveries.push_back(row);
    }
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    if (on_events) on_events();
    for (auto& row : changes.recoveries) {
        ++m_stats.recoveries_planned;
        for (const auto& vid : row.vault_ids) {
            if (auto v = vault::VaultId::Parse(vid)) {
                if (auto k = m_registry.Find(*v)) m_registry.SetState(*k, VaultState::Recovering);
            }
        }
        log::Main()->warn("recovervault {}: sweeping with {} ({})", vault_id, row.txid.ToString(), row.kind);
        m_recoveries.emplace(row.txid, std::move(row));
    }
    KickBroadcaster();
    return json::value(json::object{{"vault_id", vault_id}, {"recoveries", in_flight()}});
}

// --- fees -------------------------------------------------------------------------------------

void Engine::SetFeeWallet(vault::FeeWallet wallet) { m_fee_wallet = std::move(wallet); }

vault::FeeRate Engine::CurrentFeeRate() const { return vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, std::nullopt, m_tip); }

void Engine::CheckFeeReserve(store::StateChanges& changes)
{
    // Low: below feewalletreserve, or unable to pay one recovery per sweepable vault at the rate a
    // recovery pays now (the reserve getfeewallet reports).
    if (!m_fee_wallet) return;
    const Amount balance = m_fee_wallet->SpendableBalance();
    const vault::FeeRate rate = CurrentFeeRate();
    const auto need = NeededReserve(rate);
    const auto cov = vault::ComputeCoverage(m_fee_wallet->Coins(), rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const bool below_config = m_opts.fee_reserve > Amount{0} && balance < m_opts.fee_reserve;
    const bool below_need = cov.recoveries < need.recoveries;
    if (!below_config && !below_need) {
        m_fee_low_reported = false;
        return;
    }
    if (m_fee_low_reported) return;
    m_fee_low_reported = true;
    Event(changes, "feewallet.low", "", "", std::nullopt,
          {{"balance", balance.sats()},
           {"reserve", m_opts.fee_reserve.sats()},
           {"reserve_needed", need.total.sats()},
           {"recoveries_needed", need.recoveries},
           {"address", m_fee_wallet->Address(Hrp(m_opts.chain))},
           {"recoveries_covered", cov.recoveries}});
}

void Engine::BumpFees(store::StateChanges& changes)
{
    // Every recovery a new block went by without is replaced by one paying more: a pre-signed one
    // by the next variant up its ladder, an OP_VAULT one by the same sweep paid by a bigger
    // fee-wallet coin (RBF). Only a block found after the node had it could have confirmed it:
    // not the old blocks of a catch-up, not the block whose trigger it answers.
    std::vector<Txid> due;
    for (const auto& [txid, r] : m_recoveries) {
        if (!IsLive(r) || r.state == "planned" || r.vault_ids.empty()) continue;
        if (r.kind == "presigned" && r.trigger_txid.IsNull()) continue; // an emergency tx: no ladder
        if (r.kind == "presigned_emergency") continue;                    // pre-signed: nothing to bump
        auto sent = m_sent_at.find(txid);
        if (sent == m_sent_at.end() || m_tip <= sent->second) continue;
        due.push_back(txid);
    }
    for (const auto& txid : due) {
        auto& row = m_recoveries.at(txid);
        std::optional<MutableTransaction> next;
        json::object detail{{"replaces", txid.ToString()}, {"trigger_txid", TriggerTxidJson(row.trigger_txid)}};
        if (row.kind == "presigned") {
            auto vid = vault::VaultId::Parse(row.vault_ids.front());
            auto idx = vid ? m_registry.Find(*vid) : std::nullopt;
            auto variant = idx ? vault::NextPresignedVariant(m_registry, *idx, row.trigger_txid, txid) : std::nullopt;
            if (!variant) continue; // the top of the ladder: keep rebroadcasting it
            detail["variant"] = variant->variant ? json::value(*variant->variant) : json::value(nullptr);
            next = std::move(variant->tx);
        } else {
            next = PlanRbf(row);
        }
        if (!next) continue;
        const Transaction tx{*next};
        if (m_recoveries.contains(tx.GetTxid())) continue;
        store::RecoveryRow bumped = row;
        bumped.txid = tx.GetTxid();
        bumped.tx = SerializeTransaction(tx);
        bumped.state = "planned";
        bumped.attempts = 0;
        bumped.last_error.clear();
        bumped.confirmed_height.reset();
        bumped.created_at = Now();
        row.state = "replaced";
        changes.recoveries.push_back(row);
        changes.recoveries.push_back(bumped);
        ++m_stats.fee_bumps;
        for (const auto& id : row.vault_ids) Event(changes, "recovery.fee_bumped", id, bumped.txid.ToString(), std::nullopt, detail);
        log::Main()->warn("recovery {} unconfirmed after a block: replaced by {} paying more ({})", txid.ToString(), bumped.txid.ToString(),
                          row.kind == "presigned" ? "the next pre-signed variant" : "a bigger fee coin");
        m_recoveries.emplace(bumped.txid, std::move(bumped));
    }
}

std::optional<MutableTransaction> Engine::PlanRbf(const store::RecoveryRow& row) const
{
    if (!m_fee_wallet) return std::nullopt;
    auto tx = DecodeTransaction(row.tx);
    if (!tx) return std::nullopt;
    std::vector<uint32_t> vaults;
    for (const auto& id : row.vault_ids) {
        if (auto vid = vault::VaultId::Parse(id)) {
            if (auto i = m_registry.Find(*vid)) vaults.push_back(*i);
        }
    }
    auto plan = vault::PlanOfRecoveryTx(m_registry, *tx, vaults);
    if (!plan) {
        log::Main()->warn("recovery {}: cannot be bumped: {}", row.txid.ToString(), vault::ToString(plan.error().error));
        return std::nullopt;
    }
    // What it pays now: the swept value and its fee coins in, the outputs out.
    const auto coins = m_fee_wallet->Coins();
    Amount in{0}, at_risk{0}, out{0};
    std::set<OutPoint> own;
    for (const auto& i : plan->inputs) at_risk += i.prevout.value;
    in = at_risk;
    for (const auto& txin : tx->vin()) {
        if (std::any_of(plan->inputs.begin(), plan->inputs.end(), [&](const auto& r) { return r.outpoint == txin.prevout; })) continue;
        auto c = std::find_if(coins.begin(), coins.end(), [&](const auto& k) { return k.outpoint == txin.prevout; });
        if (c == coins.end()) return std::nullopt; // a fee input we cannot value
        in += c->amount;
        own.insert(c->outpoint);
    }
    for (const auto& o : tx->vout()) out += o.value;
    const Amount old_fee = in - out;
    const int64_t vsize = static_cast<int64_t>(tx->VSize());
    const auto sent = m_sent_at.find(row.txid);
    const int waited = sent == m_sent_at.end() ? 1 : std::max(1, m_tip - sent->second);
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, waited, row.deadline_height, m_tip);
    // BIP-125: more than the replaced fee by at least the relay fee of the replacement; and the
    // escalation schedule's step over what it paid.
    Amount need = std::max({rate.FeeFor(vsize), old_fee + m_opts.fees.min_relay.FeeFor(vsize),
                            Amount{old_fee.sats() * (100 + m_opts.fees.escalate_percent) / 100}});
    const bool authorized = plan->kind == vault::PlanKind::OpVaultAuthorized;
    const Amount cap = authorized ? MAX_MONEY : vault::MaxFee(m_opts.fees, at_risk, vsize);
    if (need > cap) need = cap;
    if (need <= old_fee) return std::nullopt; // at the cap already: keep rebroadcasting it
    // An authorized sweep keeps its coin when it covers more (less change); an unauthorized one
    // spends a coin whole, so only a bigger one pays more.
    Expected<vault::FeeCoin, vault::SelectError> coin = Unexpected{vault::SelectError::NoCoins};
    if (authorized && own.size() == 1) {
        auto c = std::find_if(coins.begin(), coins.end(), [&](const auto& k) { return k.outpoint == *own.begin(); });
        if (c->amount >= need) coin = *c;
    }
    if (!coin) coin = vault::SelectExactCoin(coins, need, cap, ReservedFeeCoins());
    if (!coin) {
        log::Main()->warn("recovery {} cannot be bumped to {} sat: {} (fund the fee wallet: getfeewallet)", row.txid.ToString(), need.sats(),
                          vault::ToString(coin.error()));
        return std::nullopt;
    }
    const Bytes& spk = m_fee_wallet->ScriptPubKey();
    std::optional<TxOut> change;
    if (authorized && coin->amount - need >= Amount{330}) change = TxOut{coin->amount - need, spk};
    const vault::FeeSigner signer = [w = &*m_fee_wallet](const MutableTransaction& t, std::span<const TxOut> spent, size_t n) {
        return w->SignKeyPath(t, spent, n, std::nullopt);
    };
    auto funded = vault::WithFeeInput(m_registry, *plan, vault::FeeInput{coin->outpoint, TxOut{coin->amount, spk}, {}}, change, signer);
    if (!funded) return std::nullopt;
    return std::move(funded->tx);
}

net::awaitable<void> Engine::RefreshFees()
{
    auto est = co_await m_node.EstimateSmartFee(vault::ConfTarget(std::nullopt, m_tip));
    if (est) m_fee_estimate = *est.value;
    auto mp = co_await m_node.GetMempoolInfo();
    if (mp && mp.value->floor) m_opts.fees.min_relay = *mp.value->floor;
    // Fee coins ready ahead of need, at the rate just refreshed.
    if (m_fee_wallet && m_opts.fee_coins > 0 && !m_stopping) {
        const vault::FeeRate rate = CurrentFeeRate();
        auto split = vault::BuildSplit(*m_fee_wallet, m_fee_wallet->Coins(), ReservedFeeCoins(), vault::SplitUnit(rate), m_opts.fee_coins, rate);
        if (split) {
            const Transaction tx{*split};
            auto r = co_await m_node.SendRawTransaction(tx);
            if (chain::IsAccepted(r.outcome)) {
                m_fee_wallet->ApplyTx(tx, std::nullopt);
                log::Main()->info("fee wallet: split {}:{} into {} coins of {} sat for recoveries (tx {})", tx.vin()[0].prevout.txid.ToString(), tx.vin()[0].prevout.n,
                                  tx.vout().size() - 1, tx.vout()[0].value.sats(), tx.GetTxid().ToString());
            } else {
                log::Main()->warn("fee wallet: the split {} was refused: {}", tx.GetTxid().ToString(), r.Message());
            }
        }
    }
}

Expected<json::value, EngineError> Engine::GetFeeWallet(std::optional<int64_t> feerate_sat_per_kvb) const
{
    if (!m_fee_wallet) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "no fee wallet in this process"}};
    const auto holders = FeeCoinHolders();
    json::array utxos;
    for (const auto& c : m_fee_wallet->Coins()) {
        auto h = holders.find(c.outpoint);
        utxos.push_back(json::object{{"txid", c.outpoint.txid.ToString()},
                                     {"vout", c.outpoint.n},
                                     {"amount", c.amount.sats()},
                                     {"height", c.height ? json::value(*c.height) : json::value(nullptr)},
                                     {"spent_by", c.spent_by ? json::value(c.spent_by->ToString()) : json::value(nullptr)},
                                     {"held_by", h != holders.end() ? json::value(h->second.ToString()) : json::value(nullptr)}});
    }
    const vault::FeeRate rate = CurrentFeeRate();
    const auto cov = vault::ComputeCoverage(m_fee_wallet->Coins(), rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const Amount balance = m_fee_wallet->SpendableBalance();
    const auto need = NeededReserve(feerate_sat_per_kvb ? vault::FeeRate{*feerate_sat_per_kvb} : rate);
    const auto need_cov = vault::ComputeCoverage(m_fee_wallet->Coins(), need.rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const bool low = (m_opts.fee_reserve > Amount{0} && balance < m_opts.fee_reserve) || need_cov.recoveries < need.recoveries;
    return json::value(json::object{
        {"address", m_fee_wallet->Address(Hrp(m_opts.chain))},
        {"script_pubkey", HexStr(m_fee_wallet->ScriptPubKey())},
        {"balance", balance.sats()},
        {"pending_balance", m_fee_wallet->PendingBalance().sats()},
        {"reserve", m_opts.fee_reserve.sats()},
        {"reserve_needed", json::object{{"feerate_sat_per_kvb", need.rate.sat_per_kvb()},
                                        {"recoveries", need.recoveries},
                                        {"fee_per_recovery", need.fee_per_recovery.sats()},
                                        {"coin", need.coin.sats()},
                                        {"amount", need.total.sats()}}},
        {"low", low},
        {"utxos", std::move(utxos)},
        {"coverage", json::object{{"feerate_sat_per_kvb", rate.sat_per_kvb()},
                                  {"feerate_source", m_fee_estimate ? "estimatesmartfee" : "fallbackfeerate"},
                                  {"fee_per_recovery", cov.fee_per_recovery.sats()},
                                  {"recoveries", cov.recoveries}}}});
}

vault::Reserve Engine::NeededReserve(vault::FeeRate rate) const
{
    // Vaults whose trigger the tower answers with a sweep paid by the fee wallet: OP_VAULT ones it
    // can sign for (pre-signed recoveries carry their own fees).
    size_t n = 0;
    bool authorized = false;
    for (uint32_t i = 0; i < m_registry.size(); ++i) {
        const auto* r = m_registry.Get(i);
        if (r->state == VaultState::Removed || r->policy.mode == vault::Mode::Alert || !r->opvault) continue;
        if (r->opvault->recover_leaf().authorized) {
            if (!r->recovery_auth) continue;
            authorized = true;
        }
        ++n;
    }
    return vault::NeededReserve(n, authorized, rate);
}

std::map<OutPoint, Txid> Engine::FeeCoinHolders() const
{
    std::map<OutPoint, Txid> out;
    if (!m_fee_wallet) return out;
    std::set<OutPoint> mine;
    for (const auto& c : m_fee_wallet->Coins()) mine.insert(c.outpoint);
    for (const auto& [txid, r] : m_recoveries) {
        if (!IsLive(r)) continue; // a dead recovery's coins are free again
        auto tx = DecodeTransaction(r.tx);
        if (!tx) continue;
        for (const auto& in : tx->vin()) {
            if (mine.count(in.prevout)) out.emplace(in.prevout, txid);
        }
    }
    return out;
}

std::set<OutPoint> Engine::ReservedFeeCoins() const
{
    std::set<OutPoint> out;
    for (const auto& [o, _] : FeeCoinHolders()) out.insert(o);
    return out;
}

void Engine::AttachFees(std::vector<vault::PlannedRecovery>& plans, std::optional<int> deadline, std::set<OutPoint>* held)
{
    // OP_VAULT recoveries preserve the vault's value, so their fee comes from a fee-wallet input:
    // unauthorized ones spend one coin entirely (no change allowed), authorized ones may take
    // change. Signatures use zero aux randomness (BIP-340 nonces stay secret-derived), so the
    // same plan gives the same txid after a restart. With no coin to use the plan stays
    // zero-fee (relayed only by a node with -minrelaytxfee=0) and the operator is told.
    if (!m_fee_wallet) return;
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, deadline, m_tip);
    std::set<OutPoint> local;
    if (!held) local = ReservedFeeCoins();
    std::set<OutPoint>& reserved = held ? *held : local;
    const auto coins = m_fee_wallet->Coins();
    const Bytes& spk = m_fee_wallet->ScriptPubKey();
    const vault::FeeSigner signer = [w = &*m_fee_wallet](const MutableTransaction& tx, std::span<const TxOut> spent, size_t n) {
        return w->SignKeyPath(tx, spent, n, std::nullopt);
    };
    for (auto& p : plans) {
        if (p.kind != vault::PlanKind::OpVaultUnauthorized && p.kind != vault::PlanKind::OpVaultAuthorized) continue;
        const bool authorized = p.kind == vault::PlanKind::OpVaultAuthorized;
        // Size it with a placeholder fee input (a 64-byte key-path signature) and change.
        const vault::FeeInput probe{OutPoint{}, TxOut{Amount{0}, spk}, {Bytes(64, 0)}};
        std::optional<TxOut> probe_change;
        if (authorized) probe_change = TxOut{Amount{0}, spk};
        auto sized = vault::WithFeeInput(m_registry, p, probe, probe_change, nullptr);
        if (!sized) continue;
        const int64_t vsize = static_cast<int64_t>(Transaction{sized->tx}.VSize());
        Amount at_risk{0};
        for (const auto& in : p.inputs) at_risk += in.prevout.value;
        // Each coin beyond the first adds a key-path input.
        auto need_for = [&](size_t n) { return rate.FeeFor(vsize + static_cast<int64_t>(n - 1) * vault::KEY_PATH_INPUT_VSIZE); };
        const Amount need = need_for(1);
        const Amount cap = authorized ? MAX_MONEY : vault::MaxFee(m_opts.fees, at_risk, vsize);
        auto picked = vault::SelectWholeCoins(coins, need_for, cap, reserved);
        if (!picked) {
            log::Main()->warn("recovery of {} input(s) goes without a fee input: {} (needs {} sat at {} sat/kvB; fund the fee wallet: getfeewallet)",
                              p.inputs.size(), vault::ToString(picked.error()), need.sats(), rate.sat_per_kvb());
            continue;
        }
        Amount total{0};
        std::vector<vault::FeeInput> fees;
        for (const auto& c : *picked) {
            total += c.amount;
            fees.push_back(vault::FeeInput{c.outpoint, TxOut{c.amount, spk}, {}});
        }
        const Amount paid = need_for(picked->size());
        std::optional<TxOut> change;
        // Change only when it is worth an output (P2TR dust is 330 sat at the default dust relay fee).
        if (authorized && total - paid >= Amount{330}) change = TxOut{total - paid, spk};
        auto funded = vault::WithFeeInputs(m_registry, p, std::move(fees), change, signer);
        if (!funded) continue;
        for (const auto& c : *picked) reserved.insert(c.outpoint);
        p = std::move(*funded);
    }
}

std::optional<MutableTransaction> Engine::PlanCpfp(const store::RecoveryRow& row) const
{
    if (!m_fee_wallet) return std::nullopt;
    auto parent = DecodeTransaction(row.tx);
    if (!parent) return std::nullopt;
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, row.deadline_height, m_tip);
    // The parent's own fee is not counted (pre-signed inputs are not always valued): the child
    // may overpay by that much, never underpay.
    // Through the unauthorized recovery's OP_2 anchor too, where the node allows its spend.
    auto child = vault::BuildCpfpChild(*m_fee_wallet, *parent, Amount{0}, rate, m_fee_wallet->Coins(), ReservedFeeCoins(), /*use_anchor=*/true);
    if (!child) {
        log::Main()->warn("recovery {} pays too little and no CPFP child can be built: {}", row.txid.ToString(), vault::ToString(child.error()));
        return std::nullopt;
    }
    return std::move(*child);
}

size_t Engine::LiveVaultCount() const
{
    size_t n = 0;
    for (uint32_t i = 0; i < m_registry.size(); ++i) n += m_registry.Get(i)->state != VaultState::Removed;
    return n;
}

} // namespace vw::daemon
