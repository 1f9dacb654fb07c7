// The vault control methods behind the RPC table (registervault, getvault, setpolicy,
// approvals, recoveries, events, recovervault).
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

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

Engine::Registered Engine::RegisterInto(const json::array& requests, store::StateChanges& changes, const std::vector<MemberLink>* links)
{
    Registered out;
    out.results.resize(requests.size());
    out.added.resize(requests.size());
    out.birth.resize(requests.size());
    auto fail = [&](size_t i, int code, std::string msg) {
        out.results[i] = json::object{{"error", json::object{{"code", code}, {"message", std::move(msg)}}}};
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
        const bool is_ccv = kind && kind->is_string() && kind->as_string() == "ccv";
        if (is_ccv && !m_opts.allow_unenforced_ccv && m_ccv_enforced != true) {
            if (!m_ccv_enforced) {
                fail(i, rpc::RPC_NODE_ERROR, "cannot register a ccv vault yet: the node has not been shown to enforce "
                                             "OP_CHECKCONTRACTVERIFY (" + m_ccv_probe_note + "); try again");
            } else {
                fail(i, rpc::RPC_INVALID_PARAMETER,
                     "refusing to register a ccv vault: the node does not enforce OP_CHECKCONTRACTVERIFY (it did not accept a "
                     "valid spend of a CCV-locked output and refuse a violating one for the CCV rule), so on this chain the "
                     "vault's output would be anyone-can-spend. Use a presigned vault.");
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
                auto v = GetVault(*added.error().existing);
                if (v && v->is_object()) v->as_object()["already_registered"] = true;
                out.results[i] = v ? std::move(*v) : json::value(nullptr);
                continue;
            }
            fail(i, rpc::RPC_INVALID_PARAMETER, added.error().message);
            continue;
        }
        const auto* rec = m_registry.Get(added->index);
        const auto* details = m_registry.Details(added->index); // held: it was just added
        store::VaultRow row{added->index, added->id.str(), std::string(vault::ToString(rec->kind)), json::serialize(stored),
                            json::serialize(rpc::PolicyJson(policy)), false, Now(),
                            details->opvault ? vault::EncodeOutputKeyCache(added->id, details->opvault->OutputKey()) : Bytes{},
                            std::move(recovery_auth)};
        if (auto c = vault::CompactOf(*rec, *details)) row.compact = vault::EncodeCompactVault(*c);
        if (links) {
            row.family_id = (*links)[i].family;
            row.family_index = (*links)[i].index;
            m_member_of[added->index] = (*links)[i];
        }
        changes.vaults.push_back(std::move(row));
        Event(changes, "vault.registered", added->id.str(), "", std::nullopt, {{"kind", std::string(vault::ToString(rec->kind))}});
        out.added[i] = added->index;
        out.birth[i] = birth;
        if (birth && *birth <= m_tip) {
            // Stored with the vault: a restart before the rescan is done resumes it.
            const int64_t id = std::max(NextRescanId(), changes.rescans.empty() ? 0 : changes.rescans.back().id + 1);
            changes.rescans.push_back({id, added->index, std::max(0, *birth), Now()});
        }
    }
    return out;
}

Expected<json::value, EngineError> Engine::RegisterVaults(const json::array& requests)
{
    store::StateChanges changes;
    Registered reg = RegisterInto(requests, changes);
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
        if (!reg.added[i]) continue;
        const auto* d = m_registry.Details(*reg.added[i]);
        auto out = d ? rpc::VaultDetailJson(*m_registry.Get(*reg.added[i]), *d, Hrp(m_opts.chain))
                     : json::object{{"vault_id", m_registry.Get(*reg.added[i])->id.str()}};
        if (reg.birth[i] && *reg.birth[i] <= m_tip) out["rescan_from"] = std::max(0, *reg.birth[i]);
        reg.results[i] = std::move(out);
    }
    // Their answers are written: what a trigger will need is read back from the store then.
    m_registry.TrimDetails(m_opts.details_kept);
    StartRescans();
    json::array arr;
    for (auto& r : reg.results) arr.push_back(std::move(r));
    return json::value(json::object{{"results", std::move(arr)}});
}

Expected<json::value, EngineError> Engine::GetVault(const vault::VaultId& id) const
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
    if (!i) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    const auto* rec = m_registry.Get(*i);
    const auto* details = m_registry.Details(*i);
    if (!details) {
        return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot read vault " + vault_id + ": " + m_registry.TakeDetailError().value_or(vault::DetailError{"its registration is unreadable"}).message}};
    }
    auto out = rpc::VaultDetailJson(*rec, *details, Hrp(m_opts.chain));
    json::array triggers;
    for (const auto& [txid, t] : m_triggers) {
        if (std::find(t.event.vaults.begin(), t.event.vaults.end(), *i) == t.event.vaults.end()) continue;
        vault::TriggerFacts facts{t.event.ctv_hash, txid, t.event.height, static_cast<int>(t.event.spend_delay.value_or(0))};
        const auto d = vault::Decide(rec->policy, rec->approvals(), facts, m_tip);
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
        json::object v = rpc::VaultSummaryJson(*rec);
        if (auto m = m_member_of.find(i); m != m_member_of.end()) {
            v["family_id"] = m->second.family;
            v["family_index"] = m->second.index;
        }
        vaults.push_back(std::move(v));
    }
    return json::object{{"vaults", std::move(vaults)}};
}

Expected<json::value, EngineError> Engine::RemoveVault(const vault::VaultId& id)
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
    if (!i || m_registry.Get(*i)->state == VaultState::Removed) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no vault " + vault_id}};
    auto stored = m_store.LoadVault(*i); // one row, not the whole table
    if (!stored || !*stored) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot read the vault from the store"}};
    // Its index keys come from its details: read them before anything is stored.
    if (!m_registry.Details(*i)) {
        return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot read vault " + vault_id + ": " + m_registry.TakeDetailError().value_or(vault::DetailError{"?"}).message}};
    }
    store::StateChanges changes;
    auto row = std::move(**stored);
    row.removed = true;
    changes.vaults.push_back(row);
    Event(changes, "vault.removed", vault_id, "", std::nullopt, {});
    if (auto r = m_store.Apply(changes); !r) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store: " + r.error().message}};
    m_registry.Remove(id);
    return json::value(json::object{{"vault_id", vault_id}, {"removed", true}});
}

Expected<json::value, EngineError> Engine::SetPolicy(const vault::VaultId& id, const json::value& policy)
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
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
    if (planned) KickBroadcaster(Send::NewOnly);
    return json::value(json::object{{"vault_id", vault_id}, {"policy", rpc::PolicyJson(*p)}});
}

Expected<json::value, EngineError> Engine::ApproveTrigger(const vault::VaultId& id, const json::object& approval)
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
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

Expected<json::value, EngineError> Engine::ListApprovals(const vault::VaultId& id) const
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
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
    if (planned) KickBroadcaster(Send::NewOnly);
    return json::value(json::object{{"approval_id", approval_id}, {"revoked", true}});
}

json::value Engine::ListRecoveries(const std::optional<vault::VaultId>& vault_id) const
{
    json::array out;
    const std::string wanted = vault_id ? vault_id->str() : std::string{};
    for (const auto& [_, r] : m_recoveries) {
        if (vault_id && std::find(r.vault_ids.begin(), r.vault_ids.end(), wanted) == r.vault_ids.end()) continue;
        out.push_back(RecoveryJson(r, false));
    }
    return json::object{{"recoveries", std::move(out)}};
}

Expected<json::value, EngineError> Engine::GetRecovery(const Txid& txid) const
{
    auto it = m_recoveries.find(txid);
    if (it == m_recoveries.end()) return Unexpected{EngineError{rpc::RPC_NOT_FOUND, "no recovery " + txid.ToString()}};
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

Expected<json::value, EngineError> Engine::RecoverVault(const vault::VaultId& id)
{
    const std::string vault_id = id.str();
    auto i = m_registry.Find(id);
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
        row.kind = p.kind;
        for (auto v : p.vaults) row.vault_ids.push_back(VaultIdOf(v));
        row.tx = SerializeTransaction(tx);
        row.state = vault::RecoveryState::Planned; // a new row
        row.deadline_height = deadline;
        row.created_at = Now();
        for (const auto& vid : row.vault_ids) {
            Event(changes, "recovery.planned", vid, row.txid.ToString(), std::nullopt,
                  {{"trigger_txid", nullptr}, {"kind", vault::ToString(row.kind)}, {"requested_by", "operator"}});
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
        log::Main()->warn("recovervault {}: sweeping with {} ({})", vault_id, row.txid.ToString(), vault::ToString(row.kind));
        m_recoveries.Insert(std::move(row));
    }
    KickBroadcaster();
    return json::value(json::object{{"vault_id", vault_id}, {"recoveries", in_flight()}});
}

// --- fees -------------------------------------------------------------------------------------

} // namespace vw::daemon
