#include "vault/planner.h"

#include "script/script.h"
#include "script/taproot.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>

namespace vw::vault {

std::string_view ToString(PlanError e)
{
    switch (e) {
    case PlanError::NotATrigger: return "not a trigger of a registered vault";
    case PlanError::Malformed: return "the trigger is malformed";
    case PlanError::NoAuthKey: return "no recovery_auth secret for an authorized recover leaf";
    case PlanError::NothingToSweep: return "nothing left to sweep";
    case PlanError::NoVariant: return "no pre-signed variant pays the required fee";
    case PlanError::BuildFailed: return "the recovery builder failed";
    case PlanError::NoSuchVault: return "no such vault (or it was removed)";
    case PlanError::NoDetails: return "a vault's registration could not be read from the store";
    }
    return "unknown";
}

namespace {

bool HasLiveUtxo(const VaultRecord& r)
{
    return std::any_of(r.utxos.begin(), r.utxos.end(), [](const TrackedUtxo& u) { return !u.spent_by; });
}

// Details, read on demand (Registry::Details): nullptr when the vault is not of that kind, not
// live, or its registration cannot be read (the registry keeps why).
const Vault* OpVaultOf(const Registry& reg, uint32_t v)
{
    const VaultRecord* r = reg.Get(v);
    if (!r || r->kind != VaultKind::OpVault || r->state == VaultState::Removed) return nullptr;
    const VaultDetails* d = reg.Details(v);
    return d && d->opvault ? &*d->opvault : nullptr;
}
const crypto::KeyPair* AuthKeyOf(const Registry& reg, uint32_t v)
{
    const VaultRecord* r = reg.Get(v);
    if (!r || !r->holds_recovery_auth || r->state == VaultState::Removed) return nullptr;
    const VaultDetails* d = reg.Details(v);
    return d && d->recovery_auth ? &*d->recovery_auth : nullptr;
}
const ccv::Vault* CcvOf(const Registry& reg, uint32_t v)
{
    const VaultRecord* r = reg.Get(v);
    if (!r || r->kind != VaultKind::Ccv || r->state == VaultState::Removed) return nullptr;
    const VaultDetails* d = reg.Details(v);
    return d && d->ccv ? &*d->ccv : nullptr;
}
const PresignedVault* PresignedOf(const Registry& reg, uint32_t v)
{
    const VaultRecord* r = reg.Get(v);
    if (!r || r->kind != VaultKind::Presigned || r->state == VaultState::Removed) return nullptr;
    const VaultDetails* d = reg.Details(v);
    return d && d->presigned ? &*d->presigned : nullptr;
}

} // namespace

void ApplyEvents(Registry& reg, std::span<const VaultEvent> events)
{
    for (const VaultEvent& e : events) {
        if (e.malformed()) {
            // In the mempool a flagged spend changes nothing. In a block it happened, whatever our
            // checks say: what it spent is gone (the engine alerts on it).
            if (e.height && e.kind != EventKind::Deposit && e.kind != EventKind::FeeWalletCoin) {
                for (uint32_t v : e.vaults) {
                    for (const auto& o : e.spent) reg.SpendUtxo(v, o, e.txid, e.height);
                }
            }
            continue;
        }
        switch (e.kind) {
        case EventKind::FeeWalletCoin: break;
        case EventKind::Deposit:
            for (uint32_t v : e.vaults) {
                TrackedUtxo u{e.outpoint, e.amount, e.spk, UtxoRole::Deposit, e.height, std::nullopt, std::nullopt};
                reg.TrackUtxo(v, std::move(u));
                const VaultRecord* r = reg.Get(v);
                if (r && (r->state == VaultState::Recovered || r->state == VaultState::Withdrawn)) reg.SetState(v, VaultState::Active);
            }
            break;
        case EventKind::Trigger:
            for (uint32_t v : e.vaults) {
                for (const auto& o : e.spent) reg.SpendUtxo(v, o, e.txid, e.height);
                if (e.presigned_trigger) {
                    for (size_t k = 0; k < e.presigned_outputs.size(); ++k) {
                        TriggerUtxoInfo info{e.txid, e.spend_delay.value_or(0), std::nullopt, std::nullopt, e.presigned_trigger, std::nullopt};
                        reg.TrackUtxo(v, TrackedUtxo{OutPoint{e.txid, e.presigned_outputs[k]}, e.presigned_txouts[k].value,
                                                     e.presigned_txouts[k].script_pubkey, UtxoRole::Trigger, e.height,
                                                     std::nullopt, std::move(info)});
                    }
                } else if (e.tree) {
                    TriggerUtxoInfo info{e.txid, e.spend_delay.value_or(0), e.ctv_hash, e.tree, std::nullopt, std::nullopt};
                    reg.TrackUtxo(v, TrackedUtxo{e.outpoint, e.amount, e.spk, UtxoRole::Trigger, e.height, std::nullopt, std::move(info)});
                } else if (e.ccv_data) {
                    // The unvaulting output: every vault that paid into it tracks it.
                    TriggerUtxoInfo info{e.txid, e.spend_delay.value_or(0), e.ctv_hash, std::nullopt, std::nullopt, e.ccv_data};
                    reg.TrackUtxo(v, TrackedUtxo{e.outpoint, e.amount, e.spk, UtxoRole::Trigger, e.height, std::nullopt, std::move(info)});
                }
                reg.SetState(v, VaultState::Triggered);
            }
            for (const auto& r : e.revaults) {
                const VaultRecord* rec = reg.Get(r.vault);
                if (!rec || (rec->kind != VaultKind::OpVault && rec->kind != VaultKind::Ccv)) continue;
                // The revault output pays the vault's own scriptPubKey (the matcher checked it).
                reg.TrackUtxo(r.vault, TrackedUtxo{r.outpoint, r.amount, r.spk, UtxoRole::Revault,
                                                   e.height, std::nullopt, std::nullopt});
            }
            break;
        case EventKind::Recovery:
        case EventKind::WithdrawalCompleted:
        case EventKind::UnexpectedSpend:
            for (uint32_t v : e.vaults) {
                for (const auto& o : e.spent) reg.SpendUtxo(v, o, e.txid, e.height);
                const VaultRecord* r = reg.Get(v);
                if (!r || !e.height) continue;
                if (e.kind == EventKind::Recovery && !HasLiveUtxo(*r)) reg.SetState(v, VaultState::Recovered);
                if (e.kind == EventKind::WithdrawalCompleted) {
                    const bool triggers_left = std::any_of(r->utxos.begin(), r->utxos.end(), [](const TrackedUtxo& u) {
                        return u.role == UtxoRole::Trigger && !u.spent_by;
                    });
                    if (!triggers_left) reg.SetState(v, HasLiveUtxo(*r) ? VaultState::Active : VaultState::Withdrawn);
                }
            }
            break;
        }
    }
}

namespace {

//! Live UTXOs of vault v as recovery inputs, sorted by outpoint; skips those already in `seen`.
void CollectInputs(const VaultRecord& rec, const Vault& v, std::set<OutPoint>& seen, std::vector<RecoveryInput>& out,
                   const std::function<bool(const TrackedUtxo&)>& want)
{
    std::vector<const TrackedUtxo*> us;
    for (const auto& u : rec.utxos) {
        if (u.spent_by || !want(u)) continue;
        if (u.role == UtxoRole::Trigger && !(u.trigger && u.trigger->tree)) continue;
        us.push_back(&u);
    }
    std::sort(us.begin(), us.end(), [](auto* a, auto* b) { return a->outpoint < b->outpoint; });
    const Bytes& leaf = v.tree().leaves()[v.recover_index()].script;
    for (const TrackedUtxo* u : us) {
        if (!seen.insert(u->outpoint).second) continue;
        const Bytes cb = u->role == UtxoRole::Trigger ? u->trigger->tree->recover_cb.Serialize()
                                                      : v.ControlBlockFor(v.recover_index()).Serialize();
        out.push_back(RecoveryInput{u->outpoint, TxOut{u->amount, u->spk}, leaf, cb, v.spec().recovery_spk});
    }
}

//! The same for a ccv vault: its deposits and revaults through the vault's recover clause (when
//! it has one), its unvaulting outputs through theirs.
void CollectCcvInputs(const VaultRecord& rec, const ccv::Vault& v, std::set<OutPoint>& seen, std::vector<RecoveryInput>& out,
                      const std::function<bool(const TrackedUtxo&)>& want)
{
    std::vector<const TrackedUtxo*> us;
    for (const auto& u : rec.utxos) {
        if (u.spent_by || !want(u)) continue;
        if (u.role == UtxoRole::Trigger ? !(u.trigger && u.trigger->ccv_data) : !v.LeafIndex(ccv::Clause::Recover)) continue;
        us.push_back(&u);
    }
    std::sort(us.begin(), us.end(), [](auto* a, auto* b) { return a->outpoint < b->outpoint; });
    for (const TrackedUtxo* u : us) {
        if (seen.count(u->outpoint)) continue;
        std::optional<Bytes> data;
        if (u->role == UtxoRole::Trigger) data = u->trigger->ccv_data;
        auto in = ccv::Resolve(ccv::RecoverInput{u->outpoint, TxOut{u->amount, u->spk}, &v, data});
        if (!in) continue; // not what its vault pays (the matcher tracked it from a flagged event): not ours to sweep
        seen.insert(u->outpoint);
        out.push_back(std::move(*in));
    }
}

} // namespace

namespace {
//! The options an authorized recovery is built with: no anchor. Only the unauthorized form needs
//! one (BIP-345 policy); on a node without -acceptnonstdtxn the OP_2 anchor is non-standard, and
//! an authorized sweep must relay wherever it can.
RecoveryOptions Authorized(RecoveryOptions o)
{
    o.anchor = false;
    return o;
}

//! Builds inputs as few transactions as fit max_weight each: k equal consecutive chunks (input
//! order kept, so the split is deterministic), k growing until every chunk fits. build(chunk,
//! first) returns the built tx and the options it used (for the spent outputs).
using ChunkBuild = std::function<std::pair<Expected<MutableTransaction, RecoveryError>, RecoveryOptions>(std::span<const RecoveryInput>, bool)>;
Expected<std::vector<PlannedRecovery>, PlanFailure> SplitByWeight(const std::vector<RecoveryInput>& inputs, const std::vector<uint32_t>& owners,
                                                                  size_t max_weight, const ChunkBuild& build)
{
    const size_t n = inputs.size();
    for (size_t k = 1; k <= n; ++k) {
        const size_t per = (n + k - 1) / k;
        std::vector<PlannedRecovery> out;
        bool fits = true;
        for (size_t at = 0; at < n && fits; at += per) {
            const size_t len = std::min(per, n - at);
            const std::span<const RecoveryInput> chunk{inputs.data() + at, len};
            auto [tx, o] = build(chunk, at == 0);
            if (!tx) return Unexpected{PlanFailure{PlanError::BuildFailed, tx.error()}};
            const Transaction t{*tx};
            if (max_weight && t.Weight() > max_weight && len > 1) {
                fits = false;
                // Jump straight to about the number of chunks the weight calls for.
                k = std::max(k, (k * t.Weight() + max_weight - 1) / max_weight - 1);
                break;
            }
            PlannedRecovery p;
            p.tx = std::move(*tx);
            p.spent = SpentOutputs(chunk, o);
            p.inputs.assign(chunk.begin(), chunk.end());
            std::set<uint32_t> vs(owners.begin() + static_cast<std::ptrdiff_t>(at), owners.begin() + static_cast<std::ptrdiff_t>(at + len));
            p.vaults.assign(vs.begin(), vs.end());
            out.push_back(std::move(p));
        }
        if (fits) return out;
    }
    return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
}
} // namespace

namespace {
//! ccv sweeps of inputs (owners aligned), split by weight; the fee inputs and change go with the first.
Expected<std::vector<PlannedRecovery>, PlanFailure> CcvPlans(const std::vector<RecoveryInput>& inputs, const std::vector<uint32_t>& owners,
                                                             const PlanOptions& opts)
{
    auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool first) {
        RecoveryOptions o = opts.recovery;
        if (!first) o.fee_inputs.clear();
        return std::pair{ccv::BuildRecoverTx(chunk, first ? opts.change : std::nullopt, o), o};
    });
    if (!built) return Unexpected{built.error()};
    for (auto& p : *built) p.kind = PlanKind::Ccv;
    return std::move(*built);
}
} // namespace

std::vector<Rung> PresignedLadder(const PresignedTrigger& trig, const std::function<std::optional<Amount>(const OutPoint&)>& value_of)
{
    std::vector<Rung> ladder;
    for (const Transaction& t : trig.recovery_txs) {
        std::vector<std::optional<Amount>> values;
        for (const auto& in : t.vin()) values.push_back(value_of(in.prevout));
        ladder.push_back(Rung{FeeOf(t, values), static_cast<int64_t>(t.VSize())});
    }
    return ladder;
}

namespace {
//! The variant PlanOptions ask for: by feerate when min_feerate is set (never fails for a
//! non-empty ladder: the best there is), else the first (cheapest) meeting min_fee.
std::optional<size_t> ChoosePresigned(std::span<const Rung> ladder, const PlanOptions& opts)
{
    if (opts.min_feerate) return ChooseRung(ladder, *opts.min_feerate);
    for (size_t k = 0; k < ladder.size(); ++k) {
        if (!ladder[k].fee || *ladder[k].fee >= opts.min_fee) return k;
    }
    return std::nullopt;
}

//! The value of a trigger output the registry tracks for vault rec.
std::optional<Amount> TrackedValue(const VaultRecord& rec, const OutPoint& o)
{
    const TrackedUtxo* u = rec.FindUtxo(o);
    if (!u) return std::nullopt;
    return u->amount;
}
} // namespace

Expected<std::vector<PlannedRecovery>, PlanFailure> PlanRecovery(const Registry& reg, const VaultEvent& ev, const PlanOptions& opts)
{
    if (ev.kind != EventKind::Trigger || ev.vaults.empty()) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    if (ev.malformed()) return Unexpected{PlanFailure{PlanError::Malformed, std::nullopt}};
    for (uint32_t v : ev.vaults) {
        const VaultRecord* r = reg.Get(v);
        if (!r || r->state == VaultState::Removed) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    }
    std::vector<PlannedRecovery> plans;

    if (ev.presigned_trigger) {
        const PresignedVault* pv = PresignedOf(reg, ev.vaults[0]);
        if (!pv) return Unexpected{PlanFailure{reg.Get(ev.vaults[0])->kind == VaultKind::Presigned ? PlanError::NoDetails : PlanError::NotATrigger, std::nullopt}};
        if (*ev.presigned_trigger >= pv->triggers.size()) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        const PresignedTrigger& trig = pv->triggers[*ev.presigned_trigger];
        // Fees are known when every input is an output of the trigger we saw.
        const auto ladder = PresignedLadder(trig, [&](const OutPoint& o) -> std::optional<Amount> {
            auto it = std::find(ev.presigned_outputs.begin(), ev.presigned_outputs.end(), o.n);
            if (!(o.txid == ev.txid) || it == ev.presigned_outputs.end()) return std::nullopt;
            return ev.presigned_txouts[static_cast<size_t>(it - ev.presigned_outputs.begin())].value;
        });
        auto k = ChoosePresigned(ladder, opts);
        if (!k) return Unexpected{PlanFailure{PlanError::NoVariant, std::nullopt}};
        PlannedRecovery p;
        p.kind = PlanKind::Presigned;
        p.tx = trig.recovery_txs[*k].mutable_copy();
        p.vaults = {ev.vaults[0]};
        p.variant = *k;
        plans.push_back(std::move(p));
        return plans;
    }

    if (reg.Get(ev.vaults[0])->kind == VaultKind::Ccv) {
        // The unvault key is in a thief's hands: everything the triggered vaults hold goes home,
        // the trigger's own outputs whether confirmed or not. Keyless, one output per recovery key.
        std::set<OutPoint> own{ev.outpoint};
        for (const auto& r : ev.revaults) own.insert(r.outpoint);
        const auto want = [&](const TrackedUtxo& u) {
            if (opts.exclude && opts.exclude(u.outpoint)) return false;
            return !opts.confirmed_only || u.height.has_value() || own.count(u.outpoint) > 0;
        };
        std::vector<RecoveryInput> inputs;
        std::vector<uint32_t> owners;
        std::set<OutPoint> seen;
        for (uint32_t v : ev.vaults) {
            const ccv::Vault* cv = CcvOf(reg, v);
            if (!cv) return Unexpected{PlanFailure{reg.Get(v)->kind == VaultKind::Ccv ? PlanError::NoDetails : PlanError::NotATrigger, std::nullopt}};
            CollectCcvInputs(*reg.Get(v), *cv, seen, inputs, want);
            owners.resize(inputs.size(), v);
        }
        if (inputs.empty()) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
        return CcvPlans(inputs, owners, opts);
    }

    // opvault. Partition the triggered vaults: unauthorized by recovery hash, authorized by auth key.
    std::map<Uint256, std::set<uint32_t>> unauth;  // hash -> vaults of the event
    std::map<std::array<uint8_t, 32>, std::set<uint32_t>> auth; // auth pubkey -> vaults of the event
    for (uint32_t v : ev.vaults) {
        const VaultRecord& r = *reg.Get(v);
        if (r.kind != VaultKind::OpVault) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        const Vault* ov = OpVaultOf(reg, v);
        if (!ov) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
        if (ov->recover_leaf().authorized) {
            if (!r.holds_recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
            const crypto::KeyPair* key = AuthKeyOf(reg, v);
            if (!key) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
            auth[key->PubKey().bytes()].insert(v);
        } else {
            unauth[ov->RecoverySpkHashValue()].insert(v);
        }
    }
    bool fees_used = false;
    auto finish = [&](PlanKind kind, std::vector<RecoveryInput> inputs, std::vector<uint32_t> owners,
                      const crypto::KeyPair* key) -> std::optional<PlanFailure> {
        if (inputs.empty()) return PlanFailure{PlanError::NothingToSweep, std::nullopt};
        auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool first) {
            const RecoveryOptions o = first && !fees_used ? opts.recovery : [&] {
                RecoveryOptions n = opts.recovery;
                n.fee_inputs.clear();
                return n;
            }();
            if (key) {
                const RecoveryOptions a = Authorized(o);
                return std::pair{BuildAuthorizedRecovery(chunk, *key, first && !fees_used ? opts.change : std::nullopt, a, opts.aux), a};
            }
            return std::pair{BuildUnauthorizedRecovery(chunk, o), o};
        });
        if (!built) return built.error();
        fees_used = true;
        for (auto& p : *built) {
            p.kind = kind;
            plans.push_back(std::move(p));
        }
        return std::nullopt;
    };
    // The trigger's own outputs are swept whether confirmed or not: they are what it threatens.
    std::set<OutPoint> own{ev.outpoint};
    for (const auto& r : ev.revaults) own.insert(r.outpoint);
    const auto all = [&](const TrackedUtxo& u) {
        if (opts.exclude && opts.exclude(u.outpoint)) return false;
        return !opts.confirmed_only || u.height.has_value() || own.count(u.outpoint) > 0;
    };
    for (const auto& [hash, _] : unauth) {
        std::vector<RecoveryInput> inputs;
        std::vector<uint32_t> owners;
        std::set<OutPoint> seen;
        for (uint32_t v : reg.RecoveryGroup(hash)) {
            const Vault* ov = OpVaultOf(reg, v);
            // A group mate whose registration cannot be read now is left out (its outputs are not
            // this trigger's, and the registry has said why): one corrupt row must not hold back
            // the sweep of every vault of its group. The event's own vaults were read above.
            if (!ov) continue;
            CollectInputs(*reg.Get(v), *ov, seen, inputs, all);
            owners.resize(inputs.size(), v);
        }
        if (auto f = finish(PlanKind::OpVaultUnauthorized, std::move(inputs), std::move(owners), nullptr)) return Unexpected{*f};
    }
    for (const auto& [pk, members] : auth) {
        std::vector<RecoveryInput> inputs;
        std::vector<uint32_t> owners;
        std::set<OutPoint> seen;
        std::set<OutPoint> targets{ev.outpoint};
        for (const auto& r : ev.revaults) targets.insert(r.outpoint);
        std::set<uint32_t> scope = members;
        if (opts.authorized_sweep_group) {
            for (uint32_t v : members) {
                for (uint32_t g : reg.RecoveryGroup(OpVaultOf(reg, v)->RecoverySpkHashValue())) {
                    if (!reg.Get(g)->holds_recovery_auth) continue;
                    const crypto::KeyPair* gk = AuthKeyOf(reg, g);
                    if (!gk) continue; // unreadable now: left out, as above
                    if (gk->PubKey().bytes() == pk) scope.insert(g);
                }
            }
        }
        for (uint32_t v : scope) {
            const bool member = members.count(v) > 0;
            const Vault* ov = OpVaultOf(reg, v);
            if (!ov) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
            CollectInputs(*reg.Get(v), *ov, seen, inputs, [&](const TrackedUtxo& u) {
                if (!all(u)) return false;
                return opts.authorized_sweep_group || (member && targets.count(u.outpoint) > 0);
            });
            owners.resize(inputs.size(), v);
        }
        const crypto::KeyPair& key = *AuthKeyOf(reg, *members.begin());
        if (auto f = finish(PlanKind::OpVaultAuthorized, std::move(inputs), std::move(owners), &key)) return Unexpected{*f};
    }
    return plans;
}

Expected<std::vector<PlannedRecovery>, PlanFailure> PlanVaultRecovery(const Registry& reg, uint32_t vault, const PlanOptions& opts)
{
    const VaultRecord* rec = reg.Get(vault);
    if (!rec || rec->state == VaultState::Removed) return Unexpected{PlanFailure{PlanError::NoSuchVault, std::nullopt}};
    std::vector<PlannedRecovery> plans;

    if (rec->kind == VaultKind::Presigned) {
        const PresignedVault* pvp = PresignedOf(reg, vault);
        if (!pvp) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
        const PresignedVault& pv = *pvp;
        // Live trigger outputs, by the trigger they belong to.
        std::map<size_t, std::map<OutPoint, TxOut>> live_triggers;
        std::set<OutPoint> live_watched;
        for (const auto& u : rec->utxos) {
            if (u.spent_by) continue;
            if (u.role == UtxoRole::Trigger && u.trigger && u.trigger->presigned_trigger) {
                live_triggers[*u.trigger->presigned_trigger].emplace(u.outpoint, TxOut{u.amount, u.spk});
            } else if (u.role == UtxoRole::Watched) {
                live_watched.insert(u.outpoint);
            }
        }
        for (const auto& entry : live_triggers) {
            // Named, not a structured binding: lambdas below capture it (clang 14 cannot capture bindings).
            const size_t ti = entry.first;
            const std::map<OutPoint, TxOut>& outs = entry.second;
            if (ti >= pv.triggers.size()) continue;
            const PresignedTrigger& trig = pv.triggers[ti];
            // Only variants whose trigger inputs are all still live can go through.
            std::vector<Rung> ladder = PresignedLadder(trig, [&](const OutPoint& o) -> std::optional<Amount> {
                auto it = outs.find(o);
                return it == outs.end() ? std::nullopt : std::optional<Amount>{it->second.value};
            });
            std::vector<size_t> usable;
            std::vector<Rung> usable_rungs;
            for (size_t k = 0; k < trig.recovery_txs.size(); ++k) {
                const auto& vin = trig.recovery_txs[k].vin();
                const bool live = std::all_of(vin.begin(), vin.end(), [&](const TxIn& in) { return !(in.prevout.txid == trig.txid) || outs.count(in.prevout); });
                const bool spends = std::any_of(vin.begin(), vin.end(), [&](const TxIn& in) { return outs.count(in.prevout) > 0; });
                if (live && spends) {
                    usable.push_back(k);
                    usable_rungs.push_back(ladder[k]);
                }
            }
            auto pick = ChoosePresigned(usable_rungs, opts);
            if (!pick) continue;
            PlannedRecovery p;
            p.kind = PlanKind::Presigned;
            p.tx = trig.recovery_txs[usable[*pick]].mutable_copy();
            p.vaults = {vault};
            p.variant = usable[*pick];
            plans.push_back(std::move(p));
        }
        std::set<OutPoint> taken;
        for (const Transaction& e : pv.emergency_txs) {
            bool ok = false;
            for (const auto& in : e.vin()) {
                const bool watched = std::find(pv.watch_outpoints.begin(), pv.watch_outpoints.end(), in.prevout) != pv.watch_outpoints.end();
                if (!watched) continue;
                if (!live_watched.count(in.prevout) || taken.count(in.prevout)) {
                    ok = false;
                    break;
                }
                ok = true;
            }
            if (!ok) continue;
            for (const auto& in : e.vin()) taken.insert(in.prevout);
            PlannedRecovery p;
            p.kind = PlanKind::PresignedEmergency;
            p.tx = e.mutable_copy();
            p.vaults = {vault};
            plans.push_back(std::move(p));
        }
        if (plans.empty()) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
        return plans;
    }

    if (rec->kind == VaultKind::Ccv) {
        const ccv::Vault* cv = CcvOf(reg, vault);
        if (!cv) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
        std::vector<RecoveryInput> inputs;
        std::set<OutPoint> seen;
        CollectCcvInputs(*rec, *cv, seen, inputs, [](const TrackedUtxo&) { return true; });
        if (inputs.empty()) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
        const std::vector<uint32_t> owners(inputs.size(), vault);
        return CcvPlans(inputs, owners, opts);
    }
    if (rec->kind != VaultKind::OpVault) return Unexpected{PlanFailure{PlanError::NoSuchVault, std::nullopt}};
    const Vault* ov = OpVaultOf(reg, vault);
    if (!ov) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
    std::vector<RecoveryInput> inputs;
    std::vector<uint32_t> owners;
    std::set<OutPoint> seen;
    const auto all = [](const TrackedUtxo&) { return true; };
    const bool authorized = ov->recover_leaf().authorized;
    const crypto::KeyPair* auth_key = nullptr;
    if (authorized) {
        if (!rec->holds_recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
        auth_key = AuthKeyOf(reg, vault);
        if (!auth_key) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
        CollectInputs(*rec, *ov, seen, inputs, all);
        owners.resize(inputs.size(), vault);
    } else {
        for (uint32_t v : reg.RecoveryGroup(ov->RecoverySpkHashValue())) {
            const Vault* gv = OpVaultOf(reg, v);
            if (!gv) continue; // a group mate that cannot be read now is left out, as in PlanRecovery
            CollectInputs(*reg.Get(v), *gv, seen, inputs, all);
            owners.resize(inputs.size(), v);
        }
    }
    if (inputs.empty()) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
    auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool first) {
        RecoveryOptions o = authorized ? Authorized(opts.recovery) : opts.recovery;
        if (!first) o.fee_inputs.clear();
        return std::pair{authorized ? BuildAuthorizedRecovery(chunk, *auth_key, first ? opts.change : std::nullopt, o, opts.aux)
                                    : BuildUnauthorizedRecovery(chunk, o),
                         o};
    });
    if (!built) return Unexpected{built.error()};
    for (auto& p : *built) p.kind = authorized ? PlanKind::OpVaultAuthorized : PlanKind::OpVaultUnauthorized;
    return std::move(*built);
}

Expected<std::vector<PlannedRecovery>, PlanFailure> MergeAuthorizedPlans(const Registry& reg, std::vector<PlannedRecovery> plans, const PlanOptions& opts)
{
    std::vector<PlannedRecovery> out;
    // auth pubkey -> indices of its plans, in order of first appearance
    std::vector<std::pair<std::array<uint8_t, 32>, std::vector<size_t>>> by_key;
    // ccv plans need no key: all of them go into one batch (one output per recovery key), under a
    // key no authorized plan has.
    constexpr std::array<uint8_t, 32> kCcvBatch{};
    for (size_t i = 0; i < plans.size(); ++i) {
        const crypto::KeyPair* key = plans[i].kind == PlanKind::OpVaultAuthorized && !plans[i].vaults.empty() ? AuthKeyOf(reg, plans[i].vaults.front()) : nullptr;
        if (!key && plans[i].kind != PlanKind::Ccv) {
            out.push_back(std::move(plans[i]));
            continue;
        }
        const auto pk = key ? key->PubKey().bytes() : kCcvBatch;
        auto it = std::find_if(by_key.begin(), by_key.end(), [&](const auto& e) { return e.first == pk; });
        if (it == by_key.end()) by_key.push_back({pk, {i}});
        else it->second.push_back(i);
    }
    for (const auto& [pk, idx] : by_key) {
        if (idx.size() == 1) {
            out.push_back(std::move(plans[idx[0]]));
            continue;
        }
        std::vector<RecoveryInput> inputs;
        std::vector<uint32_t> owners;
        std::set<OutPoint> seen;
        for (size_t i : idx) {
            for (const auto& in : plans[i].inputs) {
                if (!seen.insert(in.outpoint).second) continue;
                std::optional<uint32_t> owner;
                for (uint32_t v : plans[i].vaults) {
                    if (reg.Get(v) && reg.Get(v)->FindUtxo(in.outpoint)) owner = v;
                }
                inputs.push_back(in);
                owners.push_back(owner.value_or(plans[i].vaults.front()));
            }
        }
        RecoveryOptions o = Authorized(opts.recovery);
        o.fee_inputs.clear();
        if (plans[idx[0]].kind == PlanKind::Ccv) {
            auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool) {
                return std::pair{ccv::BuildRecoverTx(chunk, std::nullopt, o), o};
            });
            if (!built) return Unexpected{built.error()};
            for (auto& p : *built) {
                p.kind = PlanKind::Ccv;
                out.push_back(std::move(p));
            }
            continue;
        }
        const crypto::KeyPair& key = *AuthKeyOf(reg, plans[idx[0]].vaults.front());
        auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool) {
            return std::pair{BuildAuthorizedRecovery(chunk, key, std::nullopt, o, opts.aux), o};
        });
        if (!built) return Unexpected{built.error()};
        for (auto& p : *built) {
            p.kind = PlanKind::OpVaultAuthorized;
            out.push_back(std::move(p));
        }
    }
    return out;
}

Expected<PlannedRecovery, PlanFailure> PlanOfRecoveryTx(const Registry& reg, const Transaction& tx, std::span<const uint32_t> vaults)
{
    PlannedRecovery p;
    p.tx = tx.mutable_copy();
    bool authorized = false;
    bool ccv_plan = false;
    for (const auto& in : tx.vin()) {
        if (taproot::IsKeyPathSpend(in.witness)) continue; // a fee input (the fee wallet's key path)
        const auto sp = taproot::ScriptPathOf(in.witness);
        // A ccv recover: its owner's recover leaf, from the vault or an unvaulting output.
        const ccv::Vault* cowner = nullptr;
        const TrackedUtxo* cu = nullptr;
        for (uint32_t v : vaults) {
            const VaultRecord* rec = reg.Get(v);
            if (rec && rec->kind == VaultKind::Ccv && (cu = rec->FindUtxo(in.prevout))) {
                cowner = CcvOf(reg, v);
                if (!cowner) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
                break;
            }
        }
        if (cowner) {
            if (!sp || !Equal(*sp->script, ccv::MakeRecoverLeaf(cowner->params().recover_key))) {
                return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
            }
            ccv_plan = true;
            p.inputs.push_back(RecoveryInput{in.prevout, TxOut{cu->amount, cu->spk}, *sp->script, *sp->control, cowner->RecoverySpk()});
            continue;
        }
        auto leaf = sp ? ParseRecoverLeaf(*sp->script) : Unexpected{VaultError::NotRecoverLeaf};
        if (!leaf) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        const TrackedUtxo* u = nullptr;
        const Vault* owner = nullptr;
        for (uint32_t v : vaults) {
            const VaultRecord* rec = reg.Get(v);
            if (rec && rec->kind == VaultKind::OpVault && (u = rec->FindUtxo(in.prevout))) {
                owner = OpVaultOf(reg, v);
                if (!owner) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
                break;
            }
        }
        if (!u) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
        authorized = leaf->authorized;
        p.inputs.push_back(RecoveryInput{in.prevout, TxOut{u->amount, u->spk}, *sp->script, *sp->control, owner->spec().recovery_spk});
    }
    if (p.inputs.empty()) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    p.kind = ccv_plan ? PlanKind::Ccv : authorized ? PlanKind::OpVaultAuthorized : PlanKind::OpVaultUnauthorized;
    p.vaults.assign(vaults.begin(), vaults.end());
    std::sort(p.vaults.begin(), p.vaults.end());
    return p;
}

std::optional<PlannedRecovery> NextPresignedVariant(const Registry& reg, uint32_t vault, const Txid& trigger_txid, const Txid& current)
{
    const VaultRecord* rec = reg.Get(vault);
    const PresignedVault* pv = PresignedOf(reg, vault);
    if (!rec || !pv) return std::nullopt;
    for (const PresignedTrigger& trig : pv->triggers) {
        if (!(trig.txid == trigger_txid)) continue;
        const auto ladder = PresignedLadder(trig, [&](const OutPoint& o) { return TrackedValue(*rec, o); });
        for (size_t k = 0; k < trig.recovery_txs.size(); ++k) {
            if (!(trig.recovery_txs[k].GetTxid() == current)) continue;
            auto next = NextRung(ladder, k);
            if (!next) return std::nullopt;
            PlannedRecovery p;
            p.kind = PlanKind::Presigned;
            p.tx = trig.recovery_txs[*next].mutable_copy();
            p.vaults = {vault};
            p.variant = *next;
            return p;
        }
    }
    return std::nullopt;
}

Expected<PlannedRecovery, PlanFailure> WithFeeInput(const Registry& reg, const PlannedRecovery& plan, const FeeInput& fee,
                                                    const std::optional<TxOut>& change, const FeeSigner& signer, const RecoveryOptions& base,
                                                    const std::optional<Uint256>& aux)
{
    return WithFeeInputs(reg, plan, {fee}, change, signer, base, aux);
}

Expected<PlannedRecovery, PlanFailure> WithFeeInputs(const Registry& reg, const PlannedRecovery& plan, std::vector<FeeInput> fees,
                                                     const std::optional<TxOut>& change, const FeeSigner& signer, const RecoveryOptions& base,
                                                     const std::optional<Uint256>& aux)
{
    if (plan.kind != PlanKind::OpVaultUnauthorized && plan.kind != PlanKind::OpVaultAuthorized && plan.kind != PlanKind::Ccv) {
        return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    }
    RecoveryOptions o = base;
    o.fee_inputs = std::move(fees);
    o.fee_signer = signer;
    Expected<MutableTransaction, RecoveryError> tx = Unexpected{RecoveryError::NoInputs};
    if (plan.kind == PlanKind::Ccv) {
        tx = ccv::BuildRecoverTx(plan.inputs, change, o);
    } else if (plan.kind == PlanKind::OpVaultAuthorized) {
        const VaultRecord* rec = plan.vaults.empty() ? nullptr : reg.Get(plan.vaults.front());
        if (!rec || !rec->holds_recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
        const crypto::KeyPair* key = AuthKeyOf(reg, plan.vaults.front());
        if (!key) return Unexpected{PlanFailure{PlanError::NoDetails, std::nullopt}};
        o = Authorized(o);
        tx = BuildAuthorizedRecovery(plan.inputs, *key, change, o, aux);
    } else {
        if (change) return Unexpected{PlanFailure{PlanError::BuildFailed, std::nullopt}}; // policy: recovery + anchor only
        tx = BuildUnauthorizedRecovery(plan.inputs, o);
    }
    if (!tx) return Unexpected{PlanFailure{PlanError::BuildFailed, tx.error()}};
    PlannedRecovery out = plan;
    out.tx = std::move(*tx);
    out.spent = SpentOutputs(plan.inputs, o);
    return out;
}

} // namespace vw::vault
