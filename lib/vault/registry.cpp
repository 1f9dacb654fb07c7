#include "vault/registry.h"

#include "crypto/sha256.h"
#include "util/hex.h"
#include "util/serialize.h"

#include <algorithm>

namespace vw::vault {

namespace {

const crypto::TaggedHash& VaultIdTag()
{
    static const crypto::TaggedHash tag{"vaultwatch/VaultId"};
    return tag;
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void WriteOutPoint(Writer& w, const OutPoint& o) { w.Raw(o.txid.span()).LE32(o.n); }

} // namespace

std::optional<VaultId> VaultId::Parse(std::string_view s)
{
    if (s.size() != 18 || s.substr(0, 2) != "v-") return std::nullopt;
    if (!std::all_of(s.begin() + 2, s.end(), IsLowerHex)) return std::nullopt;
    auto bytes = ParseHex(s.substr(2));
    if (!bytes || bytes->size() != 8) return std::nullopt;
    VaultId id;
    std::copy(bytes->begin(), bytes->end(), id.m_bytes.begin());
    return id;
}

std::string VaultId::str() const { return "v-" + HexStr(ByteSpan{m_bytes.data(), m_bytes.size()}); }

VaultId VaultId::FromContentHash(const Uint256& h)
{
    VaultId id;
    std::copy(h.bytes.begin(), h.bytes.begin() + 8, id.m_bytes.begin());
    return id;
}

VaultId ComputeVaultId(const VaultSpec& spec)
{
    Writer w;
    w.U8(static_cast<uint8_t>(VaultKind::OpVault));
    w.Raw(spec.internal_key.span());
    w.CompactSize(spec.leaves.size());
    for (const auto& l : spec.leaves) {
        w.U8(l.version).LE32(static_cast<uint32_t>(l.depth)).VarBytes(l.script);
    }
    w.VarBytes(spec.recovery_spk);
    w.U8(spec.recovery_auth_key ? 1 : 0);
    if (spec.recovery_auth_key) w.Raw(spec.recovery_auth_key->span());
    return VaultId::FromContentHash(VaultIdTag()(w.buf()));
}

namespace {
const crypto::TaggedHash& OutputKeyCacheTag()
{
    static const crypto::TaggedHash tag{"vaultwatch/OutputKeyCache"};
    return tag;
}
constexpr uint8_t OUTPUT_KEY_CACHE_VERSION = 1;
constexpr size_t OUTPUT_KEY_CACHE_SIZE = 1 + 1 + 32 + 8;

Uint256 OutputKeyCacheCheck(const VaultId& id, ByteSpan key33)
{
    const std::string s = id.str();
    return OutputKeyCacheTag().Hasher().Write(ByteSpan{reinterpret_cast<const uint8_t*>(s.data()), s.size()}).Write(key33).Finalize();
}
} // namespace

Bytes EncodeOutputKeyCache(const VaultId& id, const crypto::TweakedKey& q)
{
    Bytes out;
    out.reserve(OUTPUT_KEY_CACHE_SIZE);
    out.push_back(OUTPUT_KEY_CACHE_VERSION);
    out.push_back(static_cast<uint8_t>(q.parity));
    out.insert(out.end(), q.xonly.begin(), q.xonly.end());
    const Uint256 check = OutputKeyCacheCheck(id, ByteSpan{out}.subspan(1, 33));
    out.insert(out.end(), check.bytes.begin(), check.bytes.begin() + 8);
    return out;
}

std::optional<crypto::TweakedKey> DecodeOutputKeyCache(const VaultId& id, ByteSpan bytes)
{
    if (bytes.size() != OUTPUT_KEY_CACHE_SIZE || bytes[0] != OUTPUT_KEY_CACHE_VERSION || bytes[1] > 1) return std::nullopt;
    const Uint256 check = OutputKeyCacheCheck(id, bytes.subspan(1, 33));
    if (!std::equal(check.bytes.begin(), check.bytes.begin() + 8, bytes.begin() + 34)) return std::nullopt;
    crypto::TweakedKey q;
    q.parity = bytes[1];
    std::copy(bytes.begin() + 2, bytes.begin() + 34, q.xonly.begin());
    return q;
}

VaultId ComputeVaultId(const PresignedVault& v)
{
    Writer w;
    w.U8(static_cast<uint8_t>(VaultKind::Presigned));
    std::vector<OutPoint> watched = v.watch_outpoints;
    std::sort(watched.begin(), watched.end());
    w.CompactSize(watched.size());
    for (const auto& o : watched) WriteOutPoint(w, o);
    std::vector<const PresignedTrigger*> trig;
    for (const auto& t : v.triggers) trig.push_back(&t);
    std::sort(trig.begin(), trig.end(), [](auto* a, auto* b) { return a->txid < b->txid; });
    w.CompactSize(trig.size());
    auto write_txs = [&](const std::vector<Transaction>& txs) {
        std::vector<Uint256> ids;
        for (const auto& t : txs) ids.push_back(t.GetWtxid().ToUint256());
        std::sort(ids.begin(), ids.end());
        w.CompactSize(ids.size());
        for (const auto& id : ids) w.Raw(id.span());
    };
    for (const auto* t : trig) {
        w.Raw(t->txid.span()).LE32(static_cast<uint32_t>(t->spend_delay));
        write_txs(t->recovery_txs);
    }
    write_txs(v.emergency_txs);
    return VaultId::FromContentHash(VaultIdTag()(w.buf()));
}

std::string_view ToString(VaultKind k)
{
    switch (k) {
    case VaultKind::OpVault: return "opvault";
    case VaultKind::Presigned: return "presigned";
    }
    return "unknown";
}

std::optional<VaultKind> ParseVaultKind(std::string_view s)
{
    if (s == "opvault") return VaultKind::OpVault;
    if (s == "presigned") return VaultKind::Presigned;
    return std::nullopt;
}

std::string_view ToString(VaultState s)
{
    switch (s) {
    case VaultState::Active: return "active";
    case VaultState::Triggered: return "triggered";
    case VaultState::Recovering: return "recovering";
    case VaultState::Recovered: return "recovered";
    case VaultState::Withdrawn: return "withdrawn";
    case VaultState::Removed: return "removed";
    }
    return "unknown";
}

std::optional<VaultState> ParseVaultState(std::string_view s)
{
    for (auto st : {VaultState::Active, VaultState::Triggered, VaultState::Recovering, VaultState::Recovered,
                    VaultState::Withdrawn, VaultState::Removed}) {
        if (ToString(st) == s) return st;
    }
    return std::nullopt;
}

std::string_view ToString(UtxoRole r)
{
    switch (r) {
    case UtxoRole::Deposit: return "deposit";
    case UtxoRole::Revault: return "revault";
    case UtxoRole::Trigger: return "trigger";
    case UtxoRole::Watched: return "watched";
    }
    return "unknown";
}

std::string_view ToString(RegistryError e)
{
    switch (e) {
    case RegistryError::AlreadyRegistered: return "vault already registered";
    case RegistryError::InvalidVault: return "invalid vault";
    case RegistryError::AuthKeyMismatch: return "recovery_auth does not match the recover leaf's key";
    case RegistryError::AuthKeyUnexpected: return "recovery_auth given for an unauthorized recover leaf";
    case RegistryError::UnsafePolicy: return "unsafe policy";
    case RegistryError::TooManyVaults: return "too many vaults";
    }
    return "unknown registry error";
}

int64_t VaultRecord::MinSpendDelay() const
{
    std::optional<int64_t> best;
    auto take = [&](int64_t d) { best = best ? std::min(*best, d) : d; };
    if (opvault) {
        for (size_t k = 0; k < opvault->trigger_indices().size(); ++k) {
            if (auto d = opvault->trigger_leaf(k).spend_delay) take(*d);
        }
    }
    if (presigned) {
        for (const auto& t : presigned->triggers) take(t.spend_delay);
    }
    return best.value_or(0);
}

const TrackedUtxo* VaultRecord::FindUtxo(const OutPoint& o) const
{
    for (const auto& u : utxos) {
        if (u.outpoint == o) return &u;
    }
    return nullptr;
}

Expected<uint32_t, AddError> Registry::Slot(const VaultId& id)
{
    if (auto it = m_by_id.find(id); it != m_by_id.end()) {
        if (m_vaults[it->second].state != VaultState::Removed) {
            return Unexpected{AddError{RegistryError::AlreadyRegistered,
                                       "this vault is already registered as " + id.str(), id}};
        }
        return it->second; // revive the removed slot
    }
    if (m_vaults.size() >= VaultRef::MAX_VAULT) {
        return Unexpected{AddError{RegistryError::TooManyVaults, "the registry is full", std::nullopt}};
    }
    return static_cast<uint32_t>(m_vaults.size());
}

namespace {
//! The UTXOs a vault tracks from registration on (before any transaction is seen).
std::vector<TrackedUtxo> RegisteredUtxos(const VaultRecord& rec)
{
    std::vector<TrackedUtxo> out;
    if (!rec.presigned) return out;
    for (const auto& o : rec.presigned->watch_outpoints) {
        TrackedUtxo u;
        u.outpoint = o;
        u.role = UtxoRole::Watched;
        out.push_back(std::move(u));
    }
    return out;
}
} // namespace

Expected<PreparedVault, AddError> PrepareOpVault(OpVaultRegistration reg)
{
    const VaultId id = ComputeVaultId(reg.spec);
    auto vault = Vault::FromSpec(std::move(reg.spec), reg.known_output_key ? &*reg.known_output_key : nullptr);
    if (!vault) return Unexpected{AddError{RegistryError::InvalidVault, vault.error(), std::nullopt}};
    if (reg.recovery_auth) {
        if (!vault->recover_leaf().authorized) {
            return Unexpected{AddError{RegistryError::AuthKeyUnexpected,
                                       "recovery_auth was given but the recover leaf needs no signature", std::nullopt}};
        }
        if (!vault->recover_leaf().auth_key || !(reg.recovery_auth->PubKey() == *vault->recover_leaf().auth_key)) {
            return Unexpected{AddError{RegistryError::AuthKeyMismatch,
                                       "recovery_auth is not the secret of the recover leaf's public key", std::nullopt}};
        }
    }
    PreparedVault p;
    VaultRecord& rec = p.record;
    rec.id = id;
    rec.label = std::move(reg.label);
    rec.kind = VaultKind::OpVault;
    rec.policy = reg.policy;
    rec.birth_height = reg.birth_height;
    rec.opvault = std::move(*vault);
    rec.recovery_auth = std::move(reg.recovery_auth);
    if (auto why = CheckPolicy(rec.policy, static_cast<int>(rec.MinSpendDelay()))) {
        return Unexpected{AddError{RegistryError::UnsafePolicy, *why, std::nullopt}};
    }
    return p;
}

Expected<PreparedVault, AddError> PreparePresigned(PresignedRegistration reg)
{
    PreparedVault p;
    VaultRecord& rec = p.record;
    rec.id = ComputeVaultId(reg.vault);
    rec.label = std::move(reg.label);
    rec.kind = VaultKind::Presigned;
    rec.policy = reg.policy;
    rec.birth_height = reg.birth_height;
    rec.presigned = std::move(reg.vault);
    if (auto why = CheckPolicy(rec.policy, static_cast<int>(rec.MinSpendDelay()))) {
        return Unexpected{AddError{RegistryError::UnsafePolicy, *why, std::nullopt}};
    }
    rec.utxos = RegisteredUtxos(rec);
    return p;
}

Expected<AddResult, AddError> Registry::AddOpVault(OpVaultRegistration reg)
{
    // A live duplicate is reported as such, before anything about its content.
    if (auto slot = Slot(ComputeVaultId(reg.spec)); !slot) return Unexpected{slot.error()};
    auto p = PrepareOpVault(std::move(reg));
    if (!p) return Unexpected{p.error()};
    return Add(std::move(*p));
}

Expected<AddResult, AddError> Registry::AddPresigned(PresignedRegistration reg)
{
    if (auto slot = Slot(ComputeVaultId(reg.vault)); !slot) return Unexpected{slot.error()};
    auto p = PreparePresigned(std::move(reg));
    if (!p) return Unexpected{p.error()};
    return Add(std::move(*p));
}


size_t Registry::ResetChainState()
{
    size_t reset = 0;
    for (uint32_t i = 0; i < m_vaults.size(); ++i) {
        VaultRecord& r = m_vaults[i];
        if (r.state == VaultState::Removed) continue;
        // Cheap test first: an opvault vault no transaction touched has no UTXO.
        if (r.state == VaultState::Active && r.utxos.empty()) continue;
        auto fresh = RegisteredUtxos(r);
        if (r.state == VaultState::Active && r.utxos == fresh) continue;
        for (const auto& u : r.utxos) UnindexUtxo(i, u);
        r.utxos = std::move(fresh);
        for (const auto& u : r.utxos) IndexUtxo(i, u);
        r.state = VaultState::Active;
        ++reset;
    }
    return reset;
}

void Registry::Reserve(size_t n)
{
    // Per vault about one recover leaf and one scriptPubKey of its own (trigger leaves are often
    // shared); more is absorbed by the tables' own growth.
    m_vaults.reserve(n);
    m_by_id.reserve(n);
    m_leaf_refs.reserve(n);
    m_groups.reserve(n);
    m_index.Reserve(2 * n);
}

Expected<AddResult, AddError> Registry::Add(PreparedVault p)
{
    const VaultId id = p.record.id;
    auto slot = Slot(id);
    if (!slot) return Unexpected{slot.error()};
    const uint32_t i = *slot;
    if (i == m_vaults.size()) m_vaults.push_back(std::move(p.record));
    else m_vaults[i] = std::move(p.record);
    m_by_id[id] = i;
    IndexVault(i);
    return AddResult{i, id};
}

void Registry::IndexVault(uint32_t i)
{
    const VaultRecord& r = m_vaults[i];
    if (r.opvault) {
        const Vault& v = *r.opvault;
        const auto& leaves = v.tree().leaves();
        for (size_t k = 0; k < leaves.size(); ++k) {
            std::optional<RefKind> kind;
            if (k == v.recover_index()) kind = RefKind::RecoverLeaf;
            else if (std::find(v.trigger_indices().begin(), v.trigger_indices().end(), k) != v.trigger_indices().end()) kind = RefKind::TriggerLeaf;
            if (!kind) continue;
            // Each distinct leaf is indexed once, however many vaults share it: the index is the
            // scanner's filter, and the matcher finds the vault from the spent output key.
            const Uint256& h = v.tree().LeafHashAt(k);
            auto& e = m_leaf_refs[h];
            if (e.count++ == 0) {
                e.ref = VaultRef{i, *kind};
                m_index.InsertLeaf(leaves[k].version, leaves[k].script, h, e.ref);
            }
        }
        m_index.InsertSpk(v.ScriptPubKey(), VaultRef{i, RefKind::VaultSpk});
        auto& g = m_groups[v.RecoverySpkHashValue()];
        g.insert(std::upper_bound(g.begin(), g.end(), i), i);
    }
    if (r.presigned) {
        for (size_t t = 0; t < r.presigned->triggers.size(); ++t) {
            m_presigned[r.presigned->triggers[t].txid].push_back(PresignedTriggerRef{i, t});
        }
    }
    for (const auto& u : r.utxos) IndexUtxo(i, u);
}

void Registry::UnindexVault(uint32_t i)
{
    const VaultRecord& r = m_vaults[i];
    if (r.opvault) {
        const Vault& v = *r.opvault;
        const auto& leaves = v.tree().leaves();
        for (size_t k = 0; k < leaves.size(); ++k) {
            const bool indexed = k == v.recover_index() ||
                                 std::find(v.trigger_indices().begin(), v.trigger_indices().end(), k) != v.trigger_indices().end();
            if (!indexed) continue;
            auto it = m_leaf_refs.find(v.tree().LeafHashAt(k));
            if (it == m_leaf_refs.end()) continue;
            if (--it->second.count == 0) {
                m_index.EraseLeaf(leaves[k].version, leaves[k].script, it->second.ref);
                m_leaf_refs.erase(it);
            }
        }
        m_index.EraseSpk(v.ScriptPubKey(), VaultRef{i, RefKind::VaultSpk});
        if (auto it = m_groups.find(v.RecoverySpkHashValue()); it != m_groups.end()) {
            std::erase(it->second, i);
            if (it->second.empty()) m_groups.erase(it);
        }
    }
    if (r.presigned) {
        for (const auto& t : r.presigned->triggers) {
            if (auto it = m_presigned.find(t.txid); it != m_presigned.end()) {
                std::erase_if(it->second, [&](const PresignedTriggerRef& p) { return p.vault == i; });
                if (it->second.empty()) m_presigned.erase(it);
            }
        }
    }
    for (const auto& u : r.utxos) UnindexUtxo(i, u);
}

void Registry::IndexUtxo(uint32_t i, const TrackedUtxo& u)
{
    m_index.InsertOutpoint(u.outpoint, VaultRef{i, u.role == UtxoRole::Trigger ? RefKind::TriggerOutpoint : RefKind::VaultOutpoint});
}

void Registry::UnindexUtxo(uint32_t i, const TrackedUtxo& u)
{
    m_index.EraseOutpoint(u.outpoint.txid.span(), u.outpoint.n,
                          VaultRef{i, u.role == UtxoRole::Trigger ? RefKind::TriggerOutpoint : RefKind::VaultOutpoint});
}

bool Registry::Remove(const VaultId& id)
{
    auto it = m_by_id.find(id);
    if (it == m_by_id.end() || m_vaults[it->second].state == VaultState::Removed) return false;
    const uint32_t i = it->second;
    UnindexVault(i);
    VaultRecord& r = m_vaults[i];
    r.utxos.clear();
    r.recovery_auth.reset();
    r.state = VaultState::Removed;
    return true;
}

std::optional<uint32_t> Registry::Find(const VaultId& id) const
{
    auto it = m_by_id.find(id);
    if (it == m_by_id.end() || m_vaults[it->second].state == VaultState::Removed) return std::nullopt;
    return it->second;
}

std::span<const uint32_t> Registry::RecoveryGroup(const Uint256& h) const
{
    auto it = m_groups.find(h);
    if (it == m_groups.end()) return {};
    return it->second;
}

std::span<const PresignedTriggerRef> Registry::FindPresignedTrigger(const Txid& txid) const
{
    auto it = m_presigned.find(txid);
    if (it == m_presigned.end()) return {};
    return it->second;
}

bool Registry::SetState(uint32_t i, VaultState s)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed || s == VaultState::Removed) return false;
    m_vaults[i].state = s;
    return true;
}

bool Registry::SetPolicy(uint32_t i, const Policy& p)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    m_vaults[i].policy = p;
    return true;
}

bool Registry::AddApproval(uint32_t i, const Approval& a)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    m_vaults[i].approvals.push_back(a);
    return true;
}

std::vector<Approval>* Registry::MutableApprovals(uint32_t i)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return nullptr;
    return &m_vaults[i].approvals;
}

bool Registry::TrackUtxo(uint32_t i, TrackedUtxo u)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    VaultRecord& r = m_vaults[i];
    for (auto& have : r.utxos) {
        if (have.outpoint != u.outpoint) continue;
        if (!have.height && u.height) have.height = u.height;
        if (have.role == UtxoRole::Watched && have.amount == Amount{0} && u.amount != Amount{0}) {
            have.amount = u.amount;
            have.spk = u.spk;
        }
        if (!have.trigger && u.trigger) have.trigger = std::move(u.trigger);
        return true;
    }
    IndexUtxo(i, u);
    r.utxos.push_back(std::move(u));
    return true;
}

bool Registry::SpendUtxo(uint32_t i, const OutPoint& o, const Txid& txid, std::optional<int> height)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    VaultRecord& r = m_vaults[i];
    auto it = std::find_if(r.utxos.begin(), r.utxos.end(), [&](const TrackedUtxo& u) { return u.outpoint == o; });
    if (it == r.utxos.end()) return false;
    if (!height || it->role == UtxoRole::Watched) {
        it->spent_by = txid;
        return true;
    }
    UnindexUtxo(i, *it);
    r.utxos.erase(it);
    return true;
}

void Registry::SetFeeWalletSpks(std::vector<Bytes> spks)
{
    for (const auto& s : m_fee_spks) m_index.EraseSpk(s, FeeWalletRef());
    m_fee_spks = std::move(spks);
    for (const auto& s : m_fee_spks) m_index.InsertSpk(s, FeeWalletRef());
}

} // namespace vw::vault
