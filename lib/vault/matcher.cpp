#include "vault/matcher.h"

#include "script/script.h"
#include "script/taproot.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>

namespace vw::vault {

std::string_view ToString(EventKind k)
{
    switch (k) {
    case EventKind::Deposit: return "deposit";
    case EventKind::Trigger: return "trigger";
    case EventKind::Recovery: return "recovery";
    case EventKind::WithdrawalCompleted: return "withdrawal_completed";
    case EventKind::UnexpectedSpend: return "unexpected_spend";
    case EventKind::FeeWalletCoin: return "feewallet_coin";
    }
    return "unknown";
}

std::string_view ToString(Flaw f)
{
    switch (f) {
    case Flaw::None: return "none";
    case Flaw::MalformedWitness: return "malformed witness";
    case Flaw::TriggerOutputMismatch: return "trigger output mismatch";
    case Flaw::CheckFailed: return "check failed";
    }
    return "unknown";
}

std::string_view ToString(PlanKind k)
{
    switch (k) {
    case PlanKind::OpVaultUnauthorized: return "opvault-unauthorized";
    case PlanKind::OpVaultAuthorized: return "opvault-authorized";
    case PlanKind::Presigned: return "presigned";
    case PlanKind::PresignedEmergency: return "presigned-emergency";
    }
    return "unknown";
}

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
    }
    return "unknown";
}

namespace {

//! Per-transaction lookups: refs per input (outpoint, leaf) and per output (spk).
struct Lookups {
    std::vector<std::vector<VaultRef>> in_outpoint;
    std::vector<std::vector<VaultRef>> in_leaf;
    std::vector<std::vector<VaultRef>> out_spk;
    explicit Lookups(const Transaction& tx)
        : in_outpoint(tx.vin().size()), in_leaf(tx.vin().size()), out_spk(tx.vout().size()) {}
};

//! The script-path part of a witness (annex stripped): leaf script and control block.
struct ScriptPath {
    const Bytes* script{nullptr};
    const Bytes* control{nullptr};
    size_t stack_items{0}; //!< items below the script
};

std::optional<ScriptPath> ScriptPathOfWitness(const std::vector<Bytes>& w)
{
    size_t n = w.size();
    if (n >= 2 && !w.back().empty() && w.back()[0] == taproot::ANNEX_TAG) --n;
    if (n < 2) return std::nullopt;
    const Bytes& cb = w[n - 1];
    if (cb.size() < taproot::CONTROL_BASE_SIZE || (cb.size() - taproot::CONTROL_BASE_SIZE) % taproot::CONTROL_NODE_SIZE != 0 ||
        (cb.size() - taproot::CONTROL_BASE_SIZE) / taproot::CONTROL_NODE_SIZE > taproot::MAX_TREE_DEPTH) {
        return std::nullopt;
    }
    return ScriptPath{&w[n - 2], &cb, n - 2};
}

bool IsKeyPath(const std::vector<Bytes>& w)
{
    size_t n = w.size();
    if (n >= 2 && !w.back().empty() && w.back()[0] == taproot::ANNEX_TAG) --n;
    return n == 1;
}

void SortUnique(std::vector<VaultRef>& v)
{
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

Lookups LookUp(const Transaction& tx, const WatchIndex& index)
{
    Lookups l(tx);
    for (size_t n = 0; n < tx.vin().size(); ++n) {
        const TxIn& in = tx.vin()[n];
        index.FindOutpoint(in.prevout.txid.span(), in.prevout.n, l.in_outpoint[n]);
        if (!index.HasLeaves()) continue;
        if (auto sp = ScriptPathOfWitness(in.witness)) {
            const uint8_t version = static_cast<uint8_t>((*sp->control)[0] & 0xfe);
            index.FindLeaf(version, *sp->script, l.in_leaf[n]);
        }
    }
    for (size_t n = 0; n < tx.vout().size(); ++n) index.FindSpk(tx.vout()[n].script_pubkey, l.out_spk[n]);
    return l;
}

Lookups FromMatches(const Transaction& tx, std::span<const vault::Match> matches)
{
    Lookups l(tx);
    for (const auto& m : matches) {
        if (!(m.txid == tx.GetTxid())) continue;
        switch (m.what) {
        case MatchWhat::InputOutpoint:
            if (m.io_index < l.in_outpoint.size()) l.in_outpoint[m.io_index].push_back(m.ref);
            break;
        case MatchWhat::InputLeaf:
            if (m.io_index < l.in_leaf.size()) l.in_leaf[m.io_index].push_back(m.ref);
            break;
        case MatchWhat::OutputSpk:
            if (m.io_index < l.out_spk.size()) l.out_spk[m.io_index].push_back(m.ref);
            break;
        }
    }
    return l;
}

bool IsAnchor(const TxOut& o) { return o.value == Amount{0} && o.script_pubkey.size() == 1 && o.script_pubkey[0] == script::OP_2; }

class Matcher
{
public:
    Matcher(const Transaction& tx, const Registry& reg, std::optional<int> height, const MatchOptions& opts)
        : m_tx(tx), m_reg(reg), m_height(height), m_opts(opts)
    {
    }

    std::vector<VaultEvent> Run(Lookups l)
    {
        for (auto& v : l.in_outpoint) SortUnique(v);
        for (auto& v : l.in_leaf) SortUnique(v);
        for (auto& v : l.out_spk) SortUnique(v);
        for (size_t n = 0; n < m_tx.vin().size(); ++n) {
            std::set<uint32_t> handled; // vaults whose leaf explained this input
            if (!l.in_leaf[n].empty()) LeafInput(n, l.in_leaf[n], l.in_outpoint[n], handled);
            for (const VaultRef& ref : l.in_outpoint[n]) {
                if (handled.count(ref.vault)) continue;
                OutpointInput(n, ref);
            }
        }
        FinishRecoveryChecks();
        FinishTriggerChecks();
        for (size_t n = 0; n < m_tx.vout().size(); ++n) {
            for (const VaultRef& ref : l.out_spk[n]) Output(n, ref);
        }
        if (m_opts.stats) m_opts.stats->events += m_events.size();
        return std::move(m_events);
    }

private:
    const VaultRecord* Live(uint32_t i) const
    {
        const VaultRecord* r = m_reg.Get(i);
        if (!r || r->state == VaultState::Removed) return nullptr;
        return r;
    }

    VaultEvent& NewEvent(EventKind k, uint32_t vault, size_t n_in)
    {
        VaultEvent e;
        e.kind = k;
        e.txid = m_tx.GetTxid();
        e.height = m_height;
        e.vaults = {vault};
        e.inputs = {static_cast<uint32_t>(n_in)};
        e.spent = {m_tx.vin()[n_in].prevout};
        e.outpoint = m_tx.vin()[n_in].prevout;
        if (const VaultRecord* r = Live(vault)) {
            if (const TrackedUtxo* u = r->FindUtxo(e.outpoint)) {
                e.amount = u->amount;
                e.spk = u->spk;
            }
        }
        m_events.push_back(std::move(e));
        return m_events.back();
    }

    static void Flag(VaultEvent& e, Flaw f, std::optional<VaultError> ve, std::optional<TxCheckError> ce)
    {
        if (e.flaw != Flaw::None) return; // keep the first reason
        e.flaw = f;
        e.vault_error = ve;
        e.check_error = ce;
    }

    //! Input n spends through a registered trigger/recover leaf (leaf_refs: its index hits). The
    //! index only says the leaf script is one of ours; which vault's output is being spent is
    //! decided by the output key the control block and leaf commit to, computed once and looked
    //! up (a leaf may be shared by thousands of vaults: one trigger key across a wallet's vaults,
    //! one recover leaf across a recovery group). handled: the vaults it explained.
    void LeafInput(size_t n, const std::vector<VaultRef>& leaf_refs, const std::vector<VaultRef>& outpoint_refs,
                   std::set<uint32_t>& handled)
    {
        bool recover_leaf = false, trigger_leaf = false;
        for (const auto& r : leaf_refs) {
            recover_leaf |= r.kind == RefKind::RecoverLeaf;
            trigger_leaf |= r.kind == RefKind::TriggerLeaf;
        }
        if (!recover_leaf && !trigger_leaf) return;
        if (m_opts.stats) ++m_opts.stats->leaf_matches;
        auto unconfirmed = [&] {
            if (m_opts.stats) ++m_opts.stats->unconfirmed_leaves;
        };
        const auto sp = ScriptPathOfWitness(m_tx.vin()[n].witness);
        if (!sp) return unconfirmed();
        auto cb = taproot::ParseControlBlock(*sp->control);
        if (!cb) return unconfirmed();
        const auto q = taproot::ScriptPathOutputKey(*cb, *sp->script);
        if (!q) return unconfirmed();
        // The vault's own output (deposit or revault): its scriptPubKey is indexed.
        Bytes spk{0x51, 0x20};
        spk.insert(spk.end(), q->begin(), q->end());
        std::vector<VaultRef> owners;
        m_reg.index().FindSpk(spk, owners);
        SortUnique(owners);
        for (const auto& o : owners) {
            if (o.kind != RefKind::VaultSpk) continue;
            const VaultRecord* rec = Live(o.vault);
            if (!rec || !rec->opvault) continue;
            const Vault& v = *rec->opvault;
            const auto li = v.FindLeaf(*sp->script);
            if (!li || v.tree().leaves()[*li].version != cb->leaf_version) continue;
            if (*li == v.recover_index()) {
                RecoveryInput(n, o.vault, *rec, nullptr);
                handled.insert(o.vault);
            } else if (std::find(v.trigger_indices().begin(), v.trigger_indices().end(), *li) != v.trigger_indices().end()) {
                TriggerInput(n, o.vault, *rec);
                handled.insert(o.vault);
            }
        }
        // A tracked trigger output, swept through the recover leaf of its tree.
        if (recover_leaf) {
            const OutPoint& prev = m_tx.vin()[n].prevout;
            for (const auto& o : outpoint_refs) {
                if (o.kind != RefKind::TriggerOutpoint || handled.count(o.vault)) continue;
                const VaultRecord* rec = Live(o.vault);
                if (!rec || !rec->opvault) continue;
                const TrackedUtxo* u = rec->FindUtxo(prev);
                if (!u || u->role != UtxoRole::Trigger || !u->trigger || !u->trigger->tree) continue;
                if (u->trigger->tree->output_key.xonly != *q) continue;
                const Vault& v = *rec->opvault;
                if (!Equal(*sp->script, v.tree().leaves()[v.recover_index()].script)) continue;
                RecoveryInput(n, o.vault, *rec, u);
                handled.insert(o.vault);
            }
        }
        if (handled.empty()) unconfirmed();
    }

    void TriggerInput(size_t n, uint32_t vi, const VaultRecord& rec)
    {
        const Vault& v = *rec.opvault;
        const auto sp = ScriptPathOfWitness(m_tx.vin()[n].witness);
        const auto leaf_index = v.FindLeaf(*sp->script);
        const auto& tidx = v.trigger_indices();
        const auto pos = leaf_index ? std::find(tidx.begin(), tidx.end(), *leaf_index) : tidx.end();
        auto malformed = [&](VaultError e) {
            VaultEvent& ev = NewEvent(EventKind::Trigger, vi, n);
            Flag(ev, Flaw::MalformedWitness, e, std::nullopt);
        };
        if (pos == tidx.end()) return malformed(VaultError::NotTriggerLeaf);
        const TriggerLeaf& leaf = v.trigger_leaf(static_cast<size_t>(pos - tidx.begin()));
        auto tw = ParseTriggerWitness(m_tx.vin()[n].witness, leaf, m_tx.vout().size());
        if (!tw) return malformed(tw.error());
        auto update = BuildLeafUpdateScript(leaf, tw->leaf_update_items);
        if (!update) return malformed(update.error());
        auto tree = v.TriggerOutput(*leaf_index, *update);
        if (!tree) return malformed(tree.error());
        const uint32_t tvout = tw->trigger_vout_idx;
        const TxOut& out = m_tx.vout()[tvout];
        const bool matches = Equal(tree->script_pubkey, out.script_pubkey);

        // Inputs committing to the same (correct) trigger output form one event.
        VaultEvent* ev = nullptr;
        if (matches) {
            if (auto it = m_trigger_events.find(tvout); it != m_trigger_events.end()) ev = &m_events[it->second];
        }
        if (ev) {
            if (std::find(ev->vaults.begin(), ev->vaults.end(), vi) == ev->vaults.end()) {
                ev->vaults.insert(std::upper_bound(ev->vaults.begin(), ev->vaults.end(), vi), vi);
            }
            ev->inputs.push_back(static_cast<uint32_t>(n));
            ev->spent.push_back(m_tx.vin()[n].prevout);
        } else {
            VaultEvent& e = NewEvent(EventKind::Trigger, vi, n);
            e.outpoint = OutPoint{m_tx.GetTxid(), tvout};
            e.amount = out.value;
            e.spk = out.script_pubkey;
            if (auto w = ParseWithdrawLeaf(*update)) {
                e.ctv_hash = w->ctv_hash;
                e.spend_delay = w->spend_delay;
            } else {
                e.spend_delay = leaf.spend_delay;
            }
            e.tree = std::move(*tree);
            if (!matches) {
                Flag(e, Flaw::TriggerOutputMismatch, VaultError::TriggerOutputMismatch, std::nullopt);
            } else {
                m_trigger_events[tvout] = m_events.size() - 1;
            }
            ev = &e;
        }
        if (tw->revault_vout_idx >= 0) {
            const auto ridx = static_cast<uint32_t>(tw->revault_vout_idx);
            const TxOut& r = m_tx.vout()[ridx];
            ev->revaults.push_back(RevaultOutput{OutPoint{m_tx.GetTxid(), ridx}, r.value, vi});
            m_revault_vouts.insert(ridx);
            if (!Equal(r.script_pubkey, v.ScriptPubKey()) || r.value.sats() < tw->revault_amount) {
                Flag(*ev, Flaw::CheckFailed, std::nullopt, TxCheckError::BadRevault);
            }
        }
        m_trigger_inputs.push_back(n);
    }

    void RecoveryInput(size_t n, uint32_t vi, const VaultRecord& rec, const TrackedUtxo* from_trigger)
    {
        const Vault& v = *rec.opvault;
        const OutPoint& prev = m_tx.vin()[n].prevout;
        const TrackedUtxo* u = from_trigger ? from_trigger : rec.FindUtxo(prev);
        TxOut prevout{u ? u->amount : Amount{0}, from_trigger ? from_trigger->spk : v.ScriptPubKey()};
        VaultEvent& e = NewEvent(EventKind::Recovery, vi, n);
        e.from_trigger_output = from_trigger != nullptr;
        e.authorized = v.recover_leaf().authorized;
        if (u && u->outpoint == prev) {
            e.amount = u->amount;
            e.spk = u->spk;
        }
        auto c = ClassifyInput(m_tx, n, prevout, v);
        if (!c) return Flag(e, Flaw::MalformedWitness, c.error(), std::nullopt);
        if (c->kind != SpendKind::Recovery || !c->recovery) return Flag(e, Flaw::MalformedWitness, VaultError::NotRecoverLeaf, std::nullopt);
        const uint32_t idx = c->recovery->recovery_vout_idx;
        e.recovery_vout = idx;
        // The checks that need no unknown amount, in the node's order.
        const TxOut& out = m_tx.vout()[idx];
        if (RecoverySpkHash(out.script_pubkey) != v.RecoverySpkHashValue()) {
            return Flag(e, Flaw::CheckFailed, std::nullopt, TxCheckError::RecoverySpkMismatch);
        }
        const bool known = u && u->outpoint == prev && u->role != UtxoRole::Watched;
        if (known && out.value < u->amount) return Flag(e, Flaw::CheckFailed, std::nullopt, TxCheckError::RecoveryValueTooLow);
        // Replaceable inputs and the unauthorized output shape are the node's mempool policy, not
        // consensus: a block may carry a recovery without them, and it is a recovery all the same.
        if (!m_height && m_tx.vin()[n].sequence > MAX_BIP125_RBF_SEQUENCE) {
            return Flag(e, Flaw::CheckFailed, std::nullopt, TxCheckError::RecoveryNotReplaceable);
        }
        if (!m_height && !e.authorized) {
            const bool ok = m_tx.vout().size() == 2 && IsAnchor(m_tx.vout()[idx == 0 ? 1 : 0]);
            if (!ok) return Flag(e, Flaw::CheckFailed, std::nullopt, TxCheckError::UnauthorizedBadStructure);
        }
        m_recovery_sums[idx].push_back(known ? std::optional<Amount>{u->amount} : std::nullopt);
    }

    void FinishRecoveryChecks()
    {
        std::optional<TxCheckError> fail;
        if (m_opts.prevouts.size() == m_tx.vin().size() && !m_opts.prevouts.empty()) {
            if (auto r = CheckRecoveryTx(m_tx, m_opts.prevouts); !r) {
                const bool policy_only = r.error().error == TxCheckError::RecoveryNotReplaceable || r.error().error == TxCheckError::UnauthorizedBadStructure;
                if (!(m_height && policy_only)) fail = r.error().error; // a block is consensus
            }
        } else {
            // Deferred per-output sum, when every recovered amount is known.
            for (const auto& [idx, amounts] : m_recovery_sums) {
                Amount sum{0};
                bool all = true;
                for (const auto& a : amounts) {
                    if (!a) all = false;
                    else sum += *a;
                }
                if (all && m_tx.vout()[idx].value < sum) fail = TxCheckError::InsufficientRecoveryValue;
            }
        }
        if (!fail) return;
        for (auto& e : m_events) {
            if (e.kind == EventKind::Recovery && !e.emergency && e.recovery_vout) Flag(e, Flaw::CheckFailed, std::nullopt, *fail);
        }
    }

    void FinishTriggerChecks()
    {
        if (m_trigger_inputs.empty()) return;
        if (m_opts.prevouts.size() != m_tx.vin().size() || m_opts.prevouts.empty()) return;
        auto r = CheckTriggerTx(m_tx, m_opts.prevouts);
        if (r) return;
        for (auto& e : m_events) {
            if (e.kind == EventKind::Trigger && !e.presigned_trigger) Flag(e, Flaw::CheckFailed, std::nullopt, r.error().error);
        }
    }

    void OutpointInput(size_t n, const VaultRef& ref)
    {
        if (ref.kind != RefKind::VaultOutpoint && ref.kind != RefKind::TriggerOutpoint) return;
        const VaultRecord* rec = Live(ref.vault);
        if (!rec) return;
        const OutPoint& prev = m_tx.vin()[n].prevout;
        const TrackedUtxo* u = rec->FindUtxo(prev);
        if (!u) return;
        const Txid& txid = m_tx.GetTxid();
        if (rec->presigned) {
            const PresignedVault& pv = *rec->presigned;
            if (u->role == UtxoRole::Watched) {
                for (const auto& t : m_reg.FindPresignedTrigger(txid)) {
                    if (t.vault != ref.vault) continue;
                    return OnPresignedTrigger(n, ref.vault, t.trigger, pv);
                }
                for (const auto& em : pv.emergency_txs) {
                    if (em.GetTxid() == txid) {
                        NewEvent(EventKind::Recovery, ref.vault, n).emergency = true;
                        return;
                    }
                }
                NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = IsKeyPath(m_tx.vin()[n].witness);
                return;
            }
            if (u->role == UtxoRole::Trigger && u->trigger && u->trigger->presigned_trigger &&
                *u->trigger->presigned_trigger < pv.triggers.size()) {
                const auto& variants = pv.triggers[*u->trigger->presigned_trigger].recovery_txs;
                const bool ours = std::any_of(variants.begin(), variants.end(), [&](const Transaction& t) { return t.GetTxid() == txid; });
                VaultEvent& e = NewEvent(ours ? EventKind::Recovery : EventKind::WithdrawalCompleted, ref.vault, n);
                e.from_trigger_output = true;
                return;
            }
            NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = IsKeyPath(m_tx.vin()[n].witness);
            return;
        }
        // opvault: a trigger output spent through its withdraw leaf completes the withdrawal.
        if (u->role == UtxoRole::Trigger && u->trigger && u->trigger->tree) {
            const TriggerOutputTree& tree = *u->trigger->tree;
            const auto sp = ScriptPathOfWitness(m_tx.vin()[n].witness);
            const Bytes& withdraw = tree.tree.leaves().at(tree.withdraw_index).script;
            if (sp && Equal(*sp->script, withdraw)) {
                auto cb = taproot::ParseControlBlock(*sp->control);
                if (cb && taproot::VerifyScriptPath(*cb, *sp->script, tree.output_key.xonly)) {
                    VaultEvent& e = NewEvent(EventKind::WithdrawalCompleted, ref.vault, n);
                    e.from_trigger_output = true;
                    e.ctv_hash = u->trigger->ctv_hash;
                    e.spend_delay = u->trigger->spend_delay;
                    if (u->trigger->ctv_hash) {
                        // BIP-68 maturity only in a block whose trigger height we know.
                        std::optional<int64_t> trig_h{0};
                        int64_t next = INT64_MAX / 4;
                        if (m_height && u->height) {
                            trig_h = *u->height;
                            next = *m_height;
                        }
                        auto r = CheckWithdrawalTx(m_tx, n, *u->trigger->ctv_hash, u->trigger->spend_delay, trig_h, next);
                        if (!r) Flag(e, Flaw::CheckFailed, std::nullopt, r.error().error);
                    }
                    return;
                }
            }
            VaultEvent& e = NewEvent(EventKind::UnexpectedSpend, ref.vault, n);
            e.from_trigger_output = true;
            e.key_path = IsKeyPath(m_tx.vin()[n].witness);
            return;
        }
        NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = IsKeyPath(m_tx.vin()[n].witness);
    }

    void OnPresignedTrigger(size_t n, uint32_t vi, size_t t, const PresignedVault& pv)
    {
        const auto key = std::make_pair(vi, t);
        if (auto it = m_presigned_events.find(key); it != m_presigned_events.end()) {
            VaultEvent& e = m_events[it->second];
            e.inputs.push_back(static_cast<uint32_t>(n));
            e.spent.push_back(m_tx.vin()[n].prevout);
            return;
        }
        VaultEvent& e = NewEvent(EventKind::Trigger, vi, n);
        const PresignedTrigger& trig = pv.triggers[t];
        e.presigned_trigger = t;
        e.spend_delay = trig.spend_delay;
        std::set<uint32_t> vouts;
        for (const auto& r : trig.recovery_txs) {
            for (const auto& in : r.vin()) {
                if (in.prevout.txid == trig.txid && in.prevout.n < m_tx.vout().size()) vouts.insert(in.prevout.n);
            }
        }
        for (uint32_t o : vouts) {
            e.presigned_outputs.push_back(o);
            e.presigned_txouts.push_back(m_tx.vout()[o]);
        }
        if (!vouts.empty()) {
            e.outpoint = OutPoint{m_tx.GetTxid(), *vouts.begin()};
            e.amount = m_tx.vout()[*vouts.begin()].value;
            e.spk = m_tx.vout()[*vouts.begin()].script_pubkey;
        }
        m_presigned_events[key] = m_events.size() - 1;
    }

    void Output(size_t n, const VaultRef& ref)
    {
        const TxOut& out = m_tx.vout()[n];
        VaultEvent e;
        e.txid = m_tx.GetTxid();
        e.height = m_height;
        e.outpoint = OutPoint{m_tx.GetTxid(), static_cast<uint32_t>(n)};
        e.amount = out.value;
        e.spk = out.script_pubkey;
        if (ref == Registry::FeeWalletRef()) {
            e.kind = EventKind::FeeWalletCoin;
            m_events.push_back(std::move(e));
            return;
        }
        if (ref.kind != RefKind::VaultSpk) return;
        const VaultRecord* rec = Live(ref.vault);
        if (!rec || !rec->opvault) return;
        if (m_revault_vouts.count(static_cast<uint32_t>(n))) return; // reported as the trigger's revault
        e.kind = EventKind::Deposit;
        e.vaults = {ref.vault};
        m_events.push_back(std::move(e));
    }

    const Transaction& m_tx;
    const Registry& m_reg;
    std::optional<int> m_height;
    const MatchOptions& m_opts;
    std::vector<VaultEvent> m_events;
    std::map<uint32_t, size_t> m_trigger_events;                      //!< trigger vout -> event
    std::map<std::pair<uint32_t, size_t>, size_t> m_presigned_events;  //!< (vault, trigger) -> event
    std::set<uint32_t> m_revault_vouts;
    std::vector<size_t> m_trigger_inputs;
    std::map<uint32_t, std::vector<std::optional<Amount>>> m_recovery_sums;
};

} // namespace

std::vector<VaultEvent> MatchTx(const Transaction& tx, const Registry& registry, std::optional<int> block_height,
                                const MatchOptions& opts)
{
    return Matcher(tx, registry, block_height, opts).Run(LookUp(tx, registry.index()));
}

std::vector<VaultEvent> MatchTx(const Transaction& tx, const Registry& registry, std::optional<int> block_height,
                                std::span<const vault::Match> matches, const MatchOptions& opts)
{
    return Matcher(tx, registry, block_height, opts).Run(FromMatches(tx, matches));
}

namespace {

bool HasLiveUtxo(const VaultRecord& r)
{
    return std::any_of(r.utxos.begin(), r.utxos.end(), [](const TrackedUtxo& u) { return !u.spent_by; });
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
                        TriggerUtxoInfo info{e.txid, e.spend_delay.value_or(0), std::nullopt, std::nullopt, e.presigned_trigger};
                        reg.TrackUtxo(v, TrackedUtxo{OutPoint{e.txid, e.presigned_outputs[k]}, e.presigned_txouts[k].value,
                                                     e.presigned_txouts[k].script_pubkey, UtxoRole::Trigger, e.height,
                                                     std::nullopt, std::move(info)});
                    }
                } else if (e.tree) {
                    TriggerUtxoInfo info{e.txid, e.spend_delay.value_or(0), e.ctv_hash, e.tree, std::nullopt};
                    reg.TrackUtxo(v, TrackedUtxo{e.outpoint, e.amount, e.spk, UtxoRole::Trigger, e.height, std::nullopt, std::move(info)});
                }
                reg.SetState(v, VaultState::Triggered);
            }
            for (const auto& r : e.revaults) {
                const VaultRecord* rec = reg.Get(r.vault);
                if (!rec || !rec->opvault) continue;
                reg.TrackUtxo(r.vault, TrackedUtxo{r.outpoint, r.amount, rec->opvault->ScriptPubKey(), UtxoRole::Revault, e.height,
                                                   std::nullopt, std::nullopt});
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
void CollectInputs(const VaultRecord& rec, std::set<OutPoint>& seen, std::vector<RecoveryInput>& out,
                   const std::function<bool(const TrackedUtxo&)>& want)
{
    const Vault& v = *rec.opvault;
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
        const VaultRecord& rec = *reg.Get(ev.vaults[0]);
        if (!rec.presigned || *ev.presigned_trigger >= rec.presigned->triggers.size()) {
            return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        }
        const PresignedTrigger& trig = rec.presigned->triggers[*ev.presigned_trigger];
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

    // opvault. Partition the triggered vaults: unauthorized by recovery hash, authorized by auth key.
    std::map<Uint256, std::set<uint32_t>> unauth;  // hash -> vaults of the event
    std::map<std::array<uint8_t, 32>, std::set<uint32_t>> auth; // auth pubkey -> vaults of the event
    for (uint32_t v : ev.vaults) {
        const VaultRecord& r = *reg.Get(v);
        if (!r.opvault) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        if (r.opvault->recover_leaf().authorized) {
            if (!r.recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
            auth[r.recovery_auth->PubKey().bytes()].insert(v);
        } else {
            unauth[r.opvault->RecoverySpkHashValue()].insert(v);
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
        if (opts.exclude && opts.exclude->count(u.outpoint)) return false;
        return !opts.confirmed_only || u.height.has_value() || own.count(u.outpoint) > 0;
    };
    for (const auto& [hash, _] : unauth) {
        std::vector<RecoveryInput> inputs;
        std::vector<uint32_t> owners;
        std::set<OutPoint> seen;
        for (uint32_t v : reg.RecoveryGroup(hash)) {
            CollectInputs(*reg.Get(v), seen, inputs, all);
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
                for (uint32_t g : reg.RecoveryGroup(reg.Get(v)->opvault->RecoverySpkHashValue())) {
                    const VaultRecord* gr = reg.Get(g);
                    if (gr->recovery_auth && gr->recovery_auth->PubKey().bytes() == pk) scope.insert(g);
                }
            }
        }
        for (uint32_t v : scope) {
            const bool member = members.count(v) > 0;
            CollectInputs(*reg.Get(v), seen, inputs, [&](const TrackedUtxo& u) {
                if (!all(u)) return false;
                return opts.authorized_sweep_group || (member && targets.count(u.outpoint) > 0);
            });
            owners.resize(inputs.size(), v);
        }
        const crypto::KeyPair& key = *reg.Get(*members.begin())->recovery_auth;
        if (auto f = finish(PlanKind::OpVaultAuthorized, std::move(inputs), std::move(owners), &key)) return Unexpected{*f};
    }
    return plans;
}

Expected<std::vector<PlannedRecovery>, PlanFailure> PlanVaultRecovery(const Registry& reg, uint32_t vault, const PlanOptions& opts)
{
    const VaultRecord* rec = reg.Get(vault);
    if (!rec || rec->state == VaultState::Removed) return Unexpected{PlanFailure{PlanError::NoSuchVault, std::nullopt}};
    std::vector<PlannedRecovery> plans;

    if (rec->presigned) {
        const PresignedVault& pv = *rec->presigned;
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

    if (!rec->opvault) return Unexpected{PlanFailure{PlanError::NoSuchVault, std::nullopt}};
    std::vector<RecoveryInput> inputs;
    std::vector<uint32_t> owners;
    std::set<OutPoint> seen;
    const auto all = [](const TrackedUtxo&) { return true; };
    const bool authorized = rec->opvault->recover_leaf().authorized;
    if (authorized) {
        if (!rec->recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
        CollectInputs(*rec, seen, inputs, all);
        owners.resize(inputs.size(), vault);
    } else {
        for (uint32_t v : reg.RecoveryGroup(rec->opvault->RecoverySpkHashValue())) {
            CollectInputs(*reg.Get(v), seen, inputs, all);
            owners.resize(inputs.size(), v);
        }
    }
    if (inputs.empty()) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
    auto built = SplitByWeight(inputs, owners, opts.max_weight, [&](std::span<const RecoveryInput> chunk, bool first) {
        RecoveryOptions o = authorized ? Authorized(opts.recovery) : opts.recovery;
        if (!first) o.fee_inputs.clear();
        return std::pair{authorized ? BuildAuthorizedRecovery(chunk, *rec->recovery_auth, first ? opts.change : std::nullopt, o, opts.aux)
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
    for (size_t i = 0; i < plans.size(); ++i) {
        const VaultRecord* rec = plans[i].kind == PlanKind::OpVaultAuthorized && !plans[i].vaults.empty() ? reg.Get(plans[i].vaults.front()) : nullptr;
        if (!rec || !rec->recovery_auth) {
            out.push_back(std::move(plans[i]));
            continue;
        }
        const auto pk = rec->recovery_auth->PubKey().bytes();
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
        const crypto::KeyPair& key = *reg.Get(plans[idx[0]].vaults.front())->recovery_auth;
        RecoveryOptions o = Authorized(opts.recovery);
        o.fee_inputs.clear();
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
    for (const auto& in : tx.vin()) {
        if (IsKeyPath(in.witness)) continue; // a fee input (the fee wallet's key path)
        const auto sp = ScriptPathOfWitness(in.witness);
        auto leaf = sp ? ParseRecoverLeaf(*sp->script) : Unexpected{VaultError::NotRecoverLeaf};
        if (!leaf) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
        const TrackedUtxo* u = nullptr;
        const VaultRecord* owner = nullptr;
        for (uint32_t v : vaults) {
            const VaultRecord* rec = reg.Get(v);
            if (rec && rec->opvault && (u = rec->FindUtxo(in.prevout))) {
                owner = rec;
                break;
            }
        }
        if (!u) return Unexpected{PlanFailure{PlanError::NothingToSweep, std::nullopt}};
        authorized = leaf->authorized;
        p.inputs.push_back(RecoveryInput{in.prevout, TxOut{u->amount, u->spk}, *sp->script, *sp->control, owner->opvault->spec().recovery_spk});
    }
    if (p.inputs.empty()) return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    p.kind = authorized ? PlanKind::OpVaultAuthorized : PlanKind::OpVaultUnauthorized;
    p.vaults.assign(vaults.begin(), vaults.end());
    std::sort(p.vaults.begin(), p.vaults.end());
    return p;
}

std::optional<PlannedRecovery> NextPresignedVariant(const Registry& reg, uint32_t vault, const Txid& trigger_txid, const Txid& current)
{
    const VaultRecord* rec = reg.Get(vault);
    if (!rec || rec->state == VaultState::Removed || !rec->presigned) return std::nullopt;
    for (const PresignedTrigger& trig : rec->presigned->triggers) {
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
    if (plan.kind != PlanKind::OpVaultUnauthorized && plan.kind != PlanKind::OpVaultAuthorized) {
        return Unexpected{PlanFailure{PlanError::NotATrigger, std::nullopt}};
    }
    RecoveryOptions o = base;
    o.fee_inputs = std::move(fees);
    o.fee_signer = signer;
    Expected<MutableTransaction, RecoveryError> tx = Unexpected{RecoveryError::NoInputs};
    if (plan.kind == PlanKind::OpVaultAuthorized) {
        const VaultRecord* rec = plan.vaults.empty() ? nullptr : reg.Get(plan.vaults.front());
        if (!rec || !rec->recovery_auth) return Unexpected{PlanFailure{PlanError::NoAuthKey, std::nullopt}};
        o = Authorized(o);
        tx = BuildAuthorizedRecovery(plan.inputs, *rec->recovery_auth, change, o, aux);
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
