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

namespace {

//! Per-transaction lookups: refs per input (outpoint, leaf) and per output (spk).
struct Lookups {
    std::vector<std::vector<VaultRef>> in_outpoint;
    std::vector<std::vector<VaultRef>> in_leaf;
    std::vector<std::vector<VaultRef>> out_spk;
    explicit Lookups(const Transaction& tx)
        : in_outpoint(tx.vin().size()), in_leaf(tx.vin().size()), out_spk(tx.vout().size()) {}
};


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
        if (auto sp = taproot::ScriptPathOf(in.witness)) {
            const uint8_t version = static_cast<uint8_t>((*sp->control)[0] & 0xfe);
            index.FindLeaf(version, *sp->script, l.in_leaf[n]);
        }
    }
    for (size_t n = 0; n < tx.vout().size(); ++n) index.FindSpk(tx.vout()[n].script_pubkey, l.out_spk[n]);
    return l;
}

bool AnyRefs(const Lookups& l)
{
    auto any = [](const std::vector<std::vector<VaultRef>>& v) { return std::any_of(v.begin(), v.end(), [](const auto& x) { return !x.empty(); }); };
    return any(l.in_outpoint) || any(l.in_leaf) || any(l.out_spk);
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
        FinishCcvChecks();
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

    //! The opvault of a live vault, read from the store if it is not in memory (a failure is kept
    //! in the registry for the caller: Registry::TakeDetailError).
    //! trigger_witness: the witness of an input spending it through what the index says is a
    //! trigger leaf; its details are then rebuilt from it when they can be, not read.
    //! spent_key: the key of the output it spends, when the node checked the spend (see LeafInput).
    const Vault* OpVaultOf(const VaultRecord* r, uint32_t i, const std::vector<Bytes>* trigger_witness = nullptr,
                           const crypto::TweakedKey* spent_key = nullptr) const
    {
        if (!r || r->kind != VaultKind::OpVault) return nullptr;
        const VaultDetails* d = trigger_witness ? m_reg.DetailsForTrigger(i, *trigger_witness, spent_key) : m_reg.Details(i);
        return d && d->opvault ? &*d->opvault : nullptr;
    }

    const ccv::Vault* CcvOf(const VaultRecord* r, uint32_t i) const
    {
        if (!r || r->kind != VaultKind::Ccv) return nullptr;
        const VaultDetails* d = m_reg.Details(i);
        return d && d->ccv ? &*d->ccv : nullptr;
    }

    static void FlagCcv(VaultEvent& e, Flaw f, std::optional<ccv::CcvError> ce, std::optional<ccv::TxRule> rule)
    {
        if (e.flaw != Flaw::None) return;
        e.flaw = f;
        e.ccv_error = ce;
        e.ccv_rule = rule;
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
        const auto sp = taproot::ScriptPathOf(m_tx.vin()[n].witness);
        if (!sp) return unconfirmed();
        const uint8_t leaf_version = static_cast<uint8_t>((*sp->control)[0] & 0xfe);
        // Whose output is spent. In a block (or a node's mempool, MatchOptions::spends_checked) the
        // node has checked that the control block commits to the spent output's key, so a tracked
        // UTXO (a vault's, or a trigger output) names its vaults and no EC tweak is paid: a mass
        // exit of 10,000 triggers, and the sweeps that answer it, save 10,000 each. Otherwise the
        // key is recovered from the control block and looked up, as it is for an output we do not
        // track yet (a deposit seen late).
        const bool tracked = (m_height || m_opts.spends_checked) && std::any_of(outpoint_refs.begin(), outpoint_refs.end(), [](const VaultRef& o) {
                                 return o.kind == RefKind::VaultOutpoint || o.kind == RefKind::TriggerOutpoint;
                             });
        std::vector<VaultRef> owners;
        if (tracked) {
            for (const auto& o : outpoint_refs) {
                if (o.kind == RefKind::VaultOutpoint) owners.push_back({o.vault, RefKind::VaultSpk});
            }
        }
        std::optional<std::array<uint8_t, 32>> q;
        if (!tracked) {
            auto cb = taproot::ParseControlBlock(*sp->control);
            if (!cb) return unconfirmed();
            q = taproot::ScriptPathOutputKey(*cb, *sp->script);
            if (m_opts.stats) ++m_opts.stats->output_keys_derived;
            if (!q) return unconfirmed();
            // The vault's own output (deposit or revault): its scriptPubKey is indexed.
            Bytes spk{0x51, 0x20};
            spk.insert(spk.end(), q->begin(), q->end());
            m_reg.index().FindSpk(spk, owners);
        }
        SortUnique(owners);
        for (const auto& o : owners) {
            if (o.kind != RefKind::VaultSpk) continue;
            const VaultRecord* rec = Live(o.vault);
            if (const ccv::Vault* cv = CcvOf(rec, o.vault)) {
                const auto c = cv->VaultClauseOf(*sp->script);
                if (!c || leaf_version != taproot::LEAF_VERSION_TAPSCRIPT) continue;
                if (*c == ccv::Clause::Recover) CcvRecoveryInput(n, o.vault, *rec, *cv, nullptr);
                else CcvTriggerInput(n, o.vault, *cv);
                handled.insert(o.vault);
                continue;
            }
            // A tracked spend names a vault output the node checked the witness against: its key is
            // the UTXO's, with the parity the control block gives.
            std::optional<crypto::TweakedKey> spent_key;
            if (tracked && rec) {
                const TrackedUtxo* u = rec->FindUtxo(m_tx.vin()[n].prevout);
                if (u && u->role != UtxoRole::Trigger && u->spk.size() == 34 && u->spk[0] == 0x51 && u->spk[1] == 0x20) {
                    spent_key.emplace();
                    std::copy(u->spk.begin() + 2, u->spk.end(), spent_key->xonly.begin());
                    spent_key->parity = (*sp->control)[0] & 1;
                }
            }
            const Vault* vp = OpVaultOf(rec, o.vault, trigger_leaf ? &m_tx.vin()[n].witness : nullptr, spent_key ? &*spent_key : nullptr);
            if (!vp) continue;
            const Vault& v = *vp;
            const auto li = v.FindLeaf(*sp->script);
            if (!li || v.tree().leaves()[*li].version != leaf_version) continue;
            if (*li == v.recover_index()) {
                RecoveryInput(n, o.vault, *rec, v, nullptr);
                handled.insert(o.vault);
            } else if (std::find(v.trigger_indices().begin(), v.trigger_indices().end(), *li) != v.trigger_indices().end()) {
                TriggerInput(n, o.vault, v);
                handled.insert(o.vault);
            }
        }
        // A tracked trigger output, swept through the recover leaf of its tree.
        if (recover_leaf) {
            const OutPoint& prev = m_tx.vin()[n].prevout;
            for (const auto& o : outpoint_refs) {
                if (o.kind != RefKind::TriggerOutpoint || handled.count(o.vault)) continue;
                const VaultRecord* rec = Live(o.vault);
                if (rec && rec->kind == VaultKind::Ccv) {
                    // An unvaulting output, swept through the recover leaf of its tree.
                    const TrackedUtxo* u = rec->FindUtxo(prev);
                    if (!u || u->role != UtxoRole::Trigger || !u->trigger || !u->trigger->ccv_data) continue;
                    if (q && (u->spk.size() != 34 || !std::equal(q->begin(), q->end(), u->spk.begin() + 2))) continue;
                    const ccv::Vault* cv = CcvOf(rec, o.vault);
                    if (!cv || cv->UnvaultingClauseOf(*sp->script) != ccv::Clause::Recover) continue;
                    CcvRecoveryInput(n, o.vault, *rec, *cv, u);
                    handled.insert(o.vault);
                    continue;
                }
                if (!rec || rec->kind != VaultKind::OpVault) continue;
                const TrackedUtxo* u = rec->FindUtxo(prev);
                if (!u || u->role != UtxoRole::Trigger || !u->trigger || !u->trigger->tree) continue;
                if (q && u->trigger->tree->output_key.xonly != *q) continue;
                const Vault* vp = OpVaultOf(rec, o.vault);
                if (!vp) continue;
                const Vault& v = *vp;
                if (!Equal(*sp->script, v.tree().leaves()[v.recover_index()].script)) continue;
                RecoveryInput(n, o.vault, *rec, v, u);
                handled.insert(o.vault);
            }
        }
        if (handled.empty()) unconfirmed();
    }

    void TriggerInput(size_t n, uint32_t vi, const Vault& v)
    {
        const auto sp = taproot::ScriptPathOf(m_tx.vin()[n].witness);
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
        auto tree = v.TriggerOutput(*leaf_index, *update, m_opts.output_keys);
        if (!tree) return malformed(tree.error());
        const uint32_t tvout = tw->trigger_vout_idx;
        const TxOut& out = m_tx.vout()[tvout];
        const bool matches = Equal(tree->script_pubkey, out.script_pubkey);

        // Inputs committing to the same (correct) trigger output form one event.
        VaultEvent* ev = matches ? JoinTriggerEvent(tvout, vi, n) : nullptr;
        if (!ev) {
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
            ev->revaults.push_back(RevaultOutput{OutPoint{m_tx.GetTxid(), ridx}, r.value, vi, r.script_pubkey});
            m_revault_vouts.insert(ridx);
            if (!Equal(r.script_pubkey, v.ScriptPubKey()) || r.value.sats() < tw->revault_amount) {
                Flag(*ev, Flaw::CheckFailed, std::nullopt, TxCheckError::BadRevault);
            }
        }
        m_trigger_inputs.push_back(n);
    }

    //! Input n of vault vi commits to the trigger output at vout that an earlier input already
    //! made an event of: it joins that event (inputs paying one output are one trigger).
    //! Returns: the event, or nullptr if there is none yet.
    VaultEvent* JoinTriggerEvent(uint32_t vout, uint32_t vi, size_t n)
    {
        auto it = m_trigger_events.find(vout);
        if (it == m_trigger_events.end()) return nullptr;
        VaultEvent& ev = m_events[it->second];
        if (std::find(ev.vaults.begin(), ev.vaults.end(), vi) == ev.vaults.end()) {
            ev.vaults.insert(std::upper_bound(ev.vaults.begin(), ev.vaults.end(), vi), vi);
        }
        ev.inputs.push_back(static_cast<uint32_t>(n));
        ev.spent.push_back(m_tx.vin()[n].prevout);
        return &ev;
    }

    //! A ccv trigger or trigger_and_revault spend: the unvaulting output is where the witness
    //! says, committing to its data; inputs paying the same unvaulting output form one event.
    void CcvTriggerInput(size_t n, uint32_t vi, const ccv::Vault& v)
    {
        auto sp = ccv::ClassifyVaultSpend(m_tx.vin()[n].witness, v, m_tx.vout().size(), n);
        if (!sp || !sp->trigger) {
            VaultEvent& ev = NewEvent(EventKind::Trigger, vi, n);
            return FlagCcv(ev, Flaw::MalformedWitness, sp ? ccv::CcvError::UnknownLeaf : sp.error(), std::nullopt);
        }
        const ccv::TriggerArgs& a = *sp->trigger;
        const TxOut& out = m_tx.vout()[a.out_i];
        auto u = v.UnvaultingFor(a.data);
        const bool matches = u && Equal(u->spk, out.script_pubkey);
        VaultEvent* ev = matches ? JoinTriggerEvent(a.out_i, vi, n) : nullptr;
        if (!ev) {
            VaultEvent& e = NewEvent(EventKind::Trigger, vi, n);
            e.outpoint = OutPoint{m_tx.GetTxid(), a.out_i};
            e.amount = out.value;
            e.spk = out.script_pubkey;
            e.ccv_data = a.data;
            e.spend_delay = v.params().spend_delay;
            // What the withdrawal is bound to, as approvals name it: the CTV hash, or the
            // withdrawal key. Data of another size binds nothing (ccv::WithdrawUnconstrained).
            if (a.data.size() == 32) e.ctv_hash = Uint256::FromSpan(a.data);
            if (!matches) FlagCcv(e, Flaw::TriggerOutputMismatch, std::nullopt, ccv::TxRule::ContractMismatch);
            else m_trigger_events[a.out_i] = m_events.size() - 1;
            ev = &e;
        }
        if (a.revault_out_i) {
            const TxOut& r = m_tx.vout()[*a.revault_out_i];
            ev->revaults.push_back(RevaultOutput{OutPoint{m_tx.GetTxid(), *a.revault_out_i}, r.value, vi, r.script_pubkey});
            m_revault_vouts.insert(*a.revault_out_i);
            if (!Equal(r.script_pubkey, v.ScriptPubKey())) FlagCcv(*ev, Flaw::CheckFailed, std::nullopt, ccv::TxRule::ContractMismatch);
        }
        m_ccv_inputs.push_back(n);
    }

    //! A ccv recover of a vault UTXO (from_unvaulting null) or of an unvaulting output.
    void CcvRecoveryInput(size_t n, uint32_t vi, const VaultRecord& rec, const ccv::Vault& v, const TrackedUtxo* from_unvaulting)
    {
        const OutPoint& prev = m_tx.vin()[n].prevout;
        const TrackedUtxo* u = from_unvaulting ? from_unvaulting : rec.FindUtxo(prev);
        VaultEvent& e = NewEvent(EventKind::Recovery, vi, n);
        e.from_trigger_output = from_unvaulting != nullptr;
        const auto& w = m_tx.vin()[n].witness;
        auto sp = from_unvaulting ? ccv::ClassifyUnvaultingSpend(w, v, m_tx.vout().size(), n) : ccv::ClassifyVaultSpend(w, v, m_tx.vout().size(), n);
        if (!sp || sp->clause != ccv::Clause::Recover) {
            return FlagCcv(e, Flaw::MalformedWitness, sp ? ccv::CcvError::UnknownLeaf : sp.error(), std::nullopt);
        }
        e.recovery_vout = sp->recover_out_i;
        const TxOut& out = m_tx.vout()[sp->recover_out_i];
        if (!Equal(out.script_pubkey, v.RecoverySpk())) return FlagCcv(e, Flaw::CheckFailed, std::nullopt, ccv::TxRule::ContractMismatch);
        const bool known = u && u->outpoint == prev;
        // By input: an unvaulting output several vaults paid into is tracked by each of them, and
        // its one input must count once.
        m_ccv_recovery_sums[sp->recover_out_i][n] = known ? std::optional<Amount>{u->amount} : std::nullopt;
        m_ccv_inputs.push_back(n);
    }

    //! The amounts CCV's default mode makes each recover output hold (every input paying it, when
    //! all are known), and with the spent outputs given, every ccv clause by ccv::CheckTx.
    void FinishCcvChecks()
    {
        if (m_ccv_inputs.empty()) return;
        std::optional<ccv::TxRule> fail;
        if (m_opts.prevouts.size() == m_tx.vin().size() && !m_opts.prevouts.empty()) {
            std::vector<ccv::SpentOutput> spent(m_tx.vin().size());
            for (size_t n = 0; n < m_tx.vin().size(); ++n) {
                for (const auto& e : m_events) {
                    auto it = std::find(e.inputs.begin(), e.inputs.end(), static_cast<uint32_t>(n));
                    if (it == e.inputs.end() || e.vaults.empty()) continue;
                    const VaultRecord* rec = Live(e.vaults.front());
                    const ccv::Vault* cv = CcvOf(rec, e.vaults.front());
                    if (!cv) continue;
                    spent[n].vault = cv;
                    if (const TrackedUtxo* u = rec->FindUtxo(m_tx.vin()[n].prevout); u && u->trigger && u->trigger->ccv_data) {
                        spent[n].unvaulting_data = u->trigger->ccv_data;
                        if (u->height) spent[n].confirm_height = *u->height;
                    }
                }
            }
            auto r = ccv::CheckTx(m_tx, m_opts.prevouts, spent, m_height.value_or(INT32_MAX));
            if (!r && r.error().rule != ccv::TxRule::NotBip68Final) fail = r.error().rule;
        } else {
            for (const auto& [idx, amounts] : m_ccv_recovery_sums) {
                Amount sum{0};
                bool all = true;
                for (const auto& [n, a] : amounts) {
                    if (!a) all = false;
                    else sum += *a;
                }
                if (all && m_tx.vout()[idx].value < sum) fail = ccv::TxRule::WrongAmount;
            }
        }
        if (!fail) return;
        for (auto& e : m_events) {
            if (e.vaults.empty()) continue;
            const VaultRecord* rec = Live(e.vaults.front());
            if (rec && rec->kind == VaultKind::Ccv && (e.kind == EventKind::Recovery || e.kind == EventKind::Trigger)) {
                FlagCcv(e, Flaw::CheckFailed, std::nullopt, *fail);
            }
        }
    }

    void RecoveryInput(size_t n, uint32_t vi, const VaultRecord& rec, const Vault& v, const TrackedUtxo* from_trigger)
    {
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

    bool IsCcv(const VaultEvent& e) const
    {
        const VaultRecord* r = e.vaults.empty() ? nullptr : m_reg.Get(e.vaults.front());
        return r && r->kind == VaultKind::Ccv;
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
            if (e.kind == EventKind::Recovery && !e.emergency && e.recovery_vout && !IsCcv(e)) Flag(e, Flaw::CheckFailed, std::nullopt, *fail);
        }
    }

    void FinishTriggerChecks()
    {
        if (m_trigger_inputs.empty()) return;
        if (m_opts.prevouts.size() != m_tx.vin().size() || m_opts.prevouts.empty()) return;
        auto r = CheckTriggerTx(m_tx, m_opts.prevouts);
        if (r) return;
        for (auto& e : m_events) {
            if (e.kind == EventKind::Trigger && !e.presigned_trigger && !IsCcv(e)) Flag(e, Flaw::CheckFailed, std::nullopt, r.error().error);
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
        if (rec->kind == VaultKind::Presigned) {
            const VaultDetails* d = m_reg.Details(ref.vault);
            if (!d || !d->presigned) return; // the registry keeps why (TakeDetailError)
            const PresignedVault& pv = *d->presigned;
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
                NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = taproot::IsKeyPathSpend(m_tx.vin()[n].witness);
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
            NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = taproot::IsKeyPathSpend(m_tx.vin()[n].witness);
            return;
        }
        // ccv: an unvaulting output spent through its withdraw leaf completes the withdrawal.
        if (rec->kind == VaultKind::Ccv && u->role == UtxoRole::Trigger && u->trigger && u->trigger->ccv_data) {
            const ccv::Vault* cv = CcvOf(rec, ref.vault);
            const auto& w = m_tx.vin()[n].witness;
            auto sp = cv ? ccv::ClassifyUnvaultingSpend(w, *cv, m_tx.vout().size(), n) : Unexpected{ccv::CcvError::UnknownLeaf};
            if (sp && sp->clause == ccv::Clause::Withdraw) {
                VaultEvent& e = NewEvent(EventKind::WithdrawalCompleted, ref.vault, n);
                e.from_trigger_output = true;
                e.spend_delay = u->trigger->spend_delay;
                e.ctv_hash = u->trigger->ctv_hash;
                e.ccv_data = u->trigger->ccv_data;
                // The rules of the withdraw leaf: in a block whose trigger height is known, or with
                // the spent outputs given. Its amount only with them (other inputs' values are not
                // known here); BIP-68 maturity only in a block.
                const bool with_prevouts = m_opts.prevouts.size() == m_tx.vin().size() && !m_opts.prevouts.empty();
                if ((m_height && u->height) || with_prevouts) {
                    std::vector<TxOut> prevouts(m_tx.vin().size());
                    if (with_prevouts) prevouts.assign(m_opts.prevouts.begin(), m_opts.prevouts.end());
                    else prevouts[n] = TxOut{u->amount, u->spk};
                    std::vector<ccv::SpentOutput> spent(m_tx.vin().size());
                    spent[n] = ccv::SpentOutput{cv, u->trigger->ccv_data, u->height};
                    auto r = ccv::CheckTx(m_tx, prevouts, spent, m_height.value_or(INT32_MAX));
                    const bool judged = r || ((r.error().rule != ccv::TxRule::NotBip68Final || m_height) &&
                                                  (r.error().rule != ccv::TxRule::WrongAmount || with_prevouts));
                    if (!r && judged) FlagCcv(e, Flaw::CheckFailed, std::nullopt, r.error().rule);
                }
                return;
            }
            VaultEvent& e = NewEvent(EventKind::UnexpectedSpend, ref.vault, n);
            e.from_trigger_output = true;
            e.key_path = taproot::IsKeyPathSpend(w);
            return;
        }
        // opvault: a trigger output spent through its withdraw leaf completes the withdrawal.
        if (u->role == UtxoRole::Trigger && u->trigger && u->trigger->tree) {
            const TriggerOutputTree& tree = *u->trigger->tree;
            const auto sp = taproot::ScriptPathOf(m_tx.vin()[n].witness);
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
            e.key_path = taproot::IsKeyPathSpend(m_tx.vin()[n].witness);
            return;
        }
        NewEvent(EventKind::UnexpectedSpend, ref.vault, n).key_path = taproot::IsKeyPathSpend(m_tx.vin()[n].witness);
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
        if (!rec || (rec->kind != VaultKind::OpVault && rec->kind != VaultKind::Ccv)) return;
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
    std::vector<size_t> m_ccv_inputs;
    std::map<uint32_t, std::map<size_t, std::optional<Amount>>> m_ccv_recovery_sums; //!< recover vout -> input -> amount
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

bool TouchesIndex(const Transaction& tx, const WatchIndex& index) { return AnyRefs(LookUp(tx, index)); }

} // namespace vw::vault
