#include "vault/registry.h"

#include "crypto/sha256.h"
#include "util/hex.h"
#include "util/serialize.h"

#include <algorithm>

#include <sys/mman.h>
#include <unistd.h>

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

VaultId ComputeVaultId(const ccv::Params& p)
{
    Writer w;
    w.U8(static_cast<uint8_t>(VaultKind::Ccv));
    w.U8(static_cast<uint8_t>(p.construction));
    w.U8(p.alternate_key ? 1 : 0);
    if (p.alternate_key) w.Raw(p.alternate_key->span());
    w.LE32(static_cast<uint32_t>(p.spend_delay));
    w.Raw(p.recover_key.span());
    w.Raw(p.unvault_key.span());
    w.U8(static_cast<uint8_t>((p.partial_revault ? 1 : 0) | (p.early_recover ? 2 : 0)));
    return VaultId::FromContentHash(VaultIdTag()(w.buf()));
}

std::string_view ToString(VaultKind k)
{
    switch (k) {
    case VaultKind::OpVault: return "opvault";
    case VaultKind::Presigned: return "presigned";
    case VaultKind::Ccv: return "ccv";
    }
    return "unknown";
}

std::optional<VaultKind> ParseVaultKind(std::string_view s)
{
    if (s == "opvault") return VaultKind::OpVault;
    if (s == "presigned") return VaultKind::Presigned;
    if (s == "ccv") return VaultKind::Ccv;
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

const TrackedUtxo* VaultRecord::FindUtxo(const OutPoint& o) const
{
    for (const auto& u : utxos) {
        if (u.outpoint == o) return &u;
    }
    return nullptr;
}


namespace {
//! Maps the pages of [p, p + bytes) now, in one call, rather than one fault per page as they are
//! first written: on a virtual machine each fault is an exit, and a million vaults are tens of
//! thousands of pages. Only a hint: nothing changes if the kernel does not know it.
void PrefaultForWriting(const void* p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}

int64_t MinDelayOf(const VaultDetails& d)
{
    std::optional<int64_t> best;
    auto take = [&](int64_t x) { best = best ? std::min(*best, x) : x; };
    if (d.opvault) {
        for (size_t k = 0; k < d.opvault->trigger_indices().size(); ++k) {
            if (auto x = d.opvault->trigger_leaf(k).spend_delay) take(*x);
        }
    }
    if (d.presigned) {
        for (const auto& t : d.presigned->triggers) take(t.spend_delay);
    }
    if (d.ccv) take(d.ccv->params().spend_delay);
    return best.value_or(0);
}

//! The UTXOs a vault tracks from registration on (before any transaction is seen).
std::vector<TrackedUtxo> RegisteredUtxos(const VaultDetails& d)
{
    std::vector<TrackedUtxo> out;
    if (!d.presigned) return out;
    for (const auto& o : d.presigned->watch_outpoints) {
        TrackedUtxo u;
        u.outpoint = o;
        u.role = UtxoRole::Watched;
        out.push_back(std::move(u));
    }
    return out;
}

const crypto::TaggedHash& CompactTag()
{
    static const crypto::TaggedHash tag{"vaultwatch/CompactVault"};
    return tag;
}
// Version 2 adds the recovery scriptPubKey; version 1 forms (written before) still load.
constexpr uint8_t COMPACT_VERSION = 2;
constexpr size_t MAX_COMPACT_RECOVERY_SPK = 10'000; // a script's consensus limit
constexpr size_t COMPACT_CHECK = 8;
constexpr size_t MAX_COMPACT_LEAVES = 1024;

Uint256 CompactCheck(const VaultId& id, ByteSpan body)
{
    const std::string s = id.str();
    return CompactTag().Hasher().Write(ByteSpan{reinterpret_cast<const uint8_t*>(s.data()), s.size()}).Write(body).Finalize();
}
} // namespace

OpVaultKeys KeysOf(const Vault& v)
{
    OpVaultKeys k;
    const auto& leaves = v.tree().leaves();
    for (size_t j = 0; j < leaves.size(); ++j) {
        std::optional<RefKind> kind;
        if (j == v.recover_index()) kind = RefKind::RecoverLeaf;
        else if (std::find(v.trigger_indices().begin(), v.trigger_indices().end(), j) != v.trigger_indices().end()) kind = RefKind::TriggerLeaf;
        if (!kind) continue;
        k.leaves.push_back(IndexedLeaf{leaves[j].version, *kind, static_cast<uint32_t>(leaves[j].script.size()),
                                       WatchIndex::LeafFingerprint(leaves[j].version, leaves[j].script), v.tree().LeafHashAt(j)});
    }
    k.spk = v.ScriptPubKey();
    k.recovery_spk_hash = v.RecoverySpkHashValue();
    k.recovery_spk = v.spec().recovery_spk;
    return k;
}

OpVaultKeys KeysOf(const ccv::Vault& v)
{
    OpVaultKeys k;
    const auto& leaves = v.tree().leaves();
    for (size_t j = 0; j < leaves.size(); ++j) {
        const auto c = v.VaultClauseOf(leaves[j].script);
        if (!c) continue;
        const RefKind kind = *c == ccv::Clause::Recover ? RefKind::RecoverLeaf : RefKind::TriggerLeaf;
        k.leaves.push_back(IndexedLeaf{leaves[j].version, kind, static_cast<uint32_t>(leaves[j].script.size()),
                                       WatchIndex::LeafFingerprint(leaves[j].version, leaves[j].script), v.tree().LeafHashAt(j)});
    }
    // A vault without early recover still has the recover leaf in its unvaulting outputs' tree:
    // a recover of one of them is found by that leaf.
    const auto& ul = v.unvaulting_tree().leaves();
    if (!v.LeafIndex(ccv::Clause::Recover)) {
        const size_t j = *v.LeafIndex(ccv::Clause::Recover, /*unvaulting=*/true);
        k.leaves.push_back(IndexedLeaf{ul[j].version, RefKind::RecoverLeaf, static_cast<uint32_t>(ul[j].script.size()),
                                       WatchIndex::LeafFingerprint(ul[j].version, ul[j].script),
                                       v.unvaulting_tree().LeafHashAt(j)});
    }
    k.spk = v.ScriptPubKey();
    return k;
}

Bytes EncodeCompactVault(const CompactVault& c)
{
    Writer w;
    w.U8(COMPACT_VERSION);
    w.LE32(static_cast<uint32_t>(c.min_spend_delay));
    w.U8(static_cast<uint8_t>((c.authorized_recover ? 1 : 0) | (c.holds_recovery_auth ? 2 : 0) | (c.birth_height ? 4 : 0)));
    w.LE32(static_cast<uint32_t>(c.birth_height.value_or(0)));
    w.VarBytes(ByteSpan{reinterpret_cast<const uint8_t*>(c.label.data()), c.label.size()});
    w.VarBytes(c.keys.spk);
    w.Raw(c.keys.recovery_spk_hash.span());
    w.VarBytes(c.keys.recovery_spk);
    w.CompactSize(c.keys.leaves.size());
    for (const auto& l : c.keys.leaves) {
        w.U8(l.version).U8(static_cast<uint8_t>(l.kind)).LE32(l.script_size).LE64(l.script_fp).Raw(l.hash.span());
    }
    Bytes out = w.buf();
    const Uint256 check = CompactCheck(c.id, out);
    out.insert(out.end(), check.bytes.begin(), check.bytes.begin() + COMPACT_CHECK);
    return out;
}

std::optional<CompactVault> DecodeCompactVault(const VaultId& id, ByteSpan bytes)
{
    if (bytes.size() < 1 + COMPACT_CHECK) return std::nullopt;
    const ByteSpan body = bytes.first(bytes.size() - COMPACT_CHECK);
    const Uint256 check = CompactCheck(id, body);
    if (!std::equal(check.bytes.begin(), check.bytes.begin() + COMPACT_CHECK, bytes.end() - COMPACT_CHECK)) return std::nullopt;
    SpanReader r{body};
    CompactVault c;
    c.id = id;
    auto version = r.ReadU8();
    if (!version || (*version != 1 && *version != COMPACT_VERSION)) return std::nullopt;
    auto delay = r.ReadLE32();
    auto flags = r.ReadU8();
    auto birth = r.ReadLE32();
    auto label = r.ReadVarBytes();
    auto spk = r.ReadVarBytes();
    auto rhash = r.ReadBytes(32);
    if (!rhash) return std::nullopt;
    if (*version >= 2) {
        auto rspk = r.ReadVarBytes();
        if (!rspk || rspk->size() > MAX_COMPACT_RECOVERY_SPK) return std::nullopt;
        c.keys.recovery_spk.assign(rspk->begin(), rspk->end());
    }
    auto n = r.ReadCompactSize();
    if (!delay || !flags || !birth || !label || !spk || !rhash || !n || *n > MAX_COMPACT_LEAVES || (*flags & ~7u)) return std::nullopt;
    c.min_spend_delay = static_cast<int32_t>(*delay);
    c.authorized_recover = *flags & 1;
    c.holds_recovery_auth = *flags & 2;
    if (*flags & 4) c.birth_height = static_cast<int32_t>(*birth);
    else if (*birth != 0) return std::nullopt; // one encoding per vault
    c.label.assign(label->begin(), label->end());
    c.keys.spk.assign(spk->begin(), spk->end());
    std::copy(rhash->begin(), rhash->end(), c.keys.recovery_spk_hash.bytes.begin());
    for (uint64_t k = 0; k < *n; ++k) {
        IndexedLeaf l;
        auto v = r.ReadU8();
        auto kind = r.ReadU8();
        auto size = r.ReadLE32();
        auto fp = r.ReadLE64();
        auto h = r.ReadBytes(32);
        if (!v || !kind || !size || !fp || !h) return std::nullopt;
        if (*kind != static_cast<uint8_t>(RefKind::TriggerLeaf) && *kind != static_cast<uint8_t>(RefKind::RecoverLeaf)) return std::nullopt;
        l.version = *v;
        l.kind = static_cast<RefKind>(*kind);
        l.script_size = *size;
        l.script_fp = *fp;
        std::copy(h->begin(), h->end(), l.hash.bytes.begin());
        c.keys.leaves.push_back(l);
    }
    if (!r.empty()) return std::nullopt;
    return c;
}

std::optional<CompactVault> CompactOf(const VaultRecord& rec, const VaultDetails& d)
{
    if (!d.opvault) return std::nullopt;
    return CompactVault{rec.id, rec.min_spend_delay, rec.authorized_recover, rec.holds_recovery_auth, rec.birth_height, rec.label.str(),
                        KeysOf(*d.opvault)};
}

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
    rec.authorized_recover = vault->recover_leaf().authorized;
    rec.holds_recovery_auth = reg.recovery_auth.has_value();
    p.details.opvault = std::move(*vault);
    p.details.recovery_auth = std::move(reg.recovery_auth);
    rec.min_spend_delay = static_cast<int32_t>(std::clamp<int64_t>(MinDelayOf(p.details), INT32_MIN, INT32_MAX));
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
    p.details.presigned = std::move(reg.vault);
    rec.min_spend_delay = static_cast<int32_t>(std::clamp<int64_t>(MinDelayOf(p.details), INT32_MIN, INT32_MAX));
    if (auto why = CheckPolicy(rec.policy, static_cast<int>(rec.MinSpendDelay()))) {
        return Unexpected{AddError{RegistryError::UnsafePolicy, *why, std::nullopt}};
    }
    rec.utxos = RegisteredUtxos(p.details);
    return p;
}

Expected<PreparedVault, AddError> PrepareCcv(CcvRegistration reg)
{
    const VaultId id = ComputeVaultId(reg.params);
    auto vault = ccv::Vault::FromParams(std::move(reg.params));
    if (!vault) return Unexpected{AddError{RegistryError::InvalidVault, vault.error(), std::nullopt}};
    PreparedVault p;
    VaultRecord& rec = p.record;
    rec.id = id;
    rec.label = std::move(reg.label);
    rec.kind = VaultKind::Ccv;
    rec.policy = reg.policy;
    rec.birth_height = reg.birth_height;
    p.details.ccv = std::move(*vault);
    rec.min_spend_delay = static_cast<int32_t>(std::clamp<int64_t>(MinDelayOf(p.details), INT32_MIN, INT32_MAX));
    if (auto why = CheckPolicy(rec.policy, static_cast<int>(rec.MinSpendDelay()))) {
        return Unexpected{AddError{RegistryError::UnsafePolicy, *why, std::nullopt}};
    }
    return p;
}

Expected<uint32_t, AddError> Registry::Slot(const VaultId& id)
{
    const auto found = m_by_id.Find(id.Cheap64(), [&](uint32_t i) { return m_vaults[i].id == id; });
    if (found) {
        if (m_vaults[*found].state != VaultState::Removed) {
            return Unexpected{AddError{RegistryError::AlreadyRegistered, "this vault is already registered as " + id.str(), id}};
        }
        return *found; // revive the removed slot
    }
    if (m_vaults.size() >= VaultRef::MAX_VAULT) {
        return Unexpected{AddError{RegistryError::TooManyVaults, "the registry is full", std::nullopt}};
    }
    return static_cast<uint32_t>(m_vaults.size());
}

void Registry::Count(const VaultRecord& r, int sign)
{
    static_assert(static_cast<size_t>(VaultKind::Ccv) == 2 && static_cast<size_t>(VaultState::Removed) == 5, "the tally is indexed by the enums");
    const auto add = [sign](uint64_t& n) { n += static_cast<uint64_t>(static_cast<int64_t>(sign)); };
    add(m_tally.by_kind_state[static_cast<size_t>(r.kind)][static_cast<size_t>(r.state)]);
    if (r.state == VaultState::Removed || r.policy.mode == Mode::Alert || !r.CanRecoverAlone()) return;
    add(m_tally.sweepable);
    if (r.authorized_recover || r.kind == VaultKind::Ccv) add(m_tally.sweepable_batched);
}

Registry::Tally Registry::Recount() const
{
    Registry scratch;
    for (const auto& r : m_vaults) scratch.Count(r, +1);
    return scratch.m_tally;
}

uint32_t Registry::Place(uint32_t slot, VaultRecord rec)
{
    Count(rec, +1);
    if (slot < m_vaults.size()) { // a removed vault revived
        if (m_vaults[slot].m_details) --m_details_held;
        Count(m_vaults[slot], -1);
        m_vaults[slot] = std::move(rec);
        return slot;
    }
    const uint64_t h = rec.id.Cheap64();
    m_vaults.push_back(std::move(rec));
    m_by_id.Insert(h, slot);
    return slot;
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

Expected<AddResult, AddError> Registry::AddCcv(CcvRegistration reg)
{
    if (auto slot = Slot(ComputeVaultId(reg.params)); !slot) return Unexpected{slot.error()};
    auto p = PrepareCcv(std::move(reg));
    if (!p) return Unexpected{p.error()};
    return Add(std::move(*p));
}

Expected<AddResult, AddError> Registry::Add(PreparedVault p)
{
    const VaultId id = p.record.id;
    auto slot = Slot(id);
    if (!slot) return Unexpected{slot.error()};
    p.record.m_details = std::make_unique<VaultDetails>(std::move(p.details));
    p.record.m_group_next = UINT32_MAX;
    const uint32_t i = Place(*slot, std::move(p.record));
    ++m_details_held;
    IndexVault(i);
    return AddResult{i, id};
}

Expected<AddResult, AddError> Registry::AddCompact(const CompactVault& c, const Policy& policy, bool removed)
{
    auto slot = Slot(c.id);
    if (!slot) return Unexpected{slot.error()};
    VaultRecord rec;
    rec.id = c.id;
    rec.kind = VaultKind::OpVault;
    rec.policy = policy;
    rec.birth_height = c.birth_height;
    rec.label = c.label;
    rec.authorized_recover = c.authorized_recover;
    rec.holds_recovery_auth = c.holds_recovery_auth;
    rec.min_spend_delay = c.min_spend_delay;
    if (removed) {
        rec.state = VaultState::Removed;
        rec.holds_recovery_auth = false;
    }
    const uint32_t i = Place(*slot, std::move(rec));
    if (!removed) IndexKeys(i, c.keys);
    return AddResult{i, c.id};
}

size_t Registry::ResetChainState()
{
    size_t reset = 0;
    for (uint32_t i = 0; i < m_vaults.size(); ++i) {
        VaultRecord& r = m_vaults[i];
        if (r.state == VaultState::Removed) continue;
        // Cheap test first: an opvault vault no transaction touched has no UTXO.
        if (r.state == VaultState::Active && r.utxos.empty()) continue;
        std::vector<TrackedUtxo> fresh;
        if (r.kind == VaultKind::Presigned) {
            // Presigned details are always held (they are never trimmed).
            if (const VaultDetails* d = Details(i)) fresh = RegisteredUtxos(*d);
        }
        if (r.state == VaultState::Active && r.utxos == fresh) continue;
        for (const auto& u : r.utxos) UnindexUtxo(i, u);
        r.utxos = std::move(fresh);
        for (const auto& u : r.utxos) IndexUtxo(i, u);
        Count(r, -1);
        r.state = VaultState::Active;
        Count(r, +1);
        ++reset;
    }
    return reset;
}

void Registry::Reserve(size_t n)
{
    // Per vault about one recover leaf and one scriptPubKey of its own (trigger leaves are often
    // shared); more is absorbed by the tables' own growth.
    m_vaults.reserve(n);
    PrefaultForWriting(m_vaults.data(), m_vaults.capacity() * sizeof(VaultRecord));
    m_by_id.Reserve(n);
    m_index.Reserve(2 * n);
    // Address space only until used for the groups themselves; their table is sized for one
    // group per vault (16 bytes a vault), so that a start does not rehash it twenty times.
    m_groups.reserve(n);
    m_group_by_hash.Reserve(n);
}

void Registry::IndexKeys(uint32_t i, const OpVaultKeys& keys, bool join_group)
{
    for (const auto& l : keys.leaves) {
        // Each distinct leaf is indexed once, however many vaults share it: the index is the
        // scanner's filter, and the matcher finds the vault from the spent output key.
        m_index.AcquireLeaf(l.version, l.script_size, l.script_fp, l.hash, VaultRef{i, l.kind});
    }
    m_index.InsertSpk(keys.spk, VaultRef{i, RefKind::VaultSpk});
    if (join_group) JoinGroup(i, keys.recovery_spk_hash, keys.recovery_spk);
}

void Registry::IndexVault(uint32_t i)
{
    const VaultRecord& r = m_vaults[i];
    const VaultDetails& d = *r.m_details;
    if (d.opvault) IndexKeys(i, KeysOf(*d.opvault));
    if (d.ccv) IndexKeys(i, KeysOf(*d.ccv), /*join_group=*/false);
    if (d.presigned) {
        for (size_t t = 0; t < d.presigned->triggers.size(); ++t) {
            m_presigned[d.presigned->triggers[t].txid].push_back(PresignedTriggerRef{i, t});
        }
    }
    for (const auto& u : r.utxos) IndexUtxo(i, u);
}

void Registry::UnindexVault(uint32_t i, const VaultDetails& d)
{
    const VaultRecord& r = m_vaults[i];
    if (d.opvault) {
        const OpVaultKeys keys = KeysOf(*d.opvault);
        for (const auto& l : keys.leaves) m_index.ReleaseLeaf(l.script_fp, l.hash);
        m_index.EraseSpk(keys.spk, VaultRef{i, RefKind::VaultSpk});
        LeaveGroup(i, keys.recovery_spk_hash);
    }
    if (d.ccv) {
        const OpVaultKeys keys = KeysOf(*d.ccv);
        for (const auto& l : keys.leaves) m_index.ReleaseLeaf(l.script_fp, l.hash);
        m_index.EraseSpk(keys.spk, VaultRef{i, RefKind::VaultSpk});
    }
    if (d.presigned) {
        for (const auto& t : d.presigned->triggers) {
            if (auto it = m_presigned.find(t.txid); it != m_presigned.end()) {
                std::erase_if(it->second, [&](const PresignedTriggerRef& p) { return p.vault == i; });
                if (it->second.empty()) m_presigned.erase(it);
            }
        }
    }
    for (const auto& u : r.utxos) UnindexUtxo(i, u);
}

void Registry::JoinGroup(uint32_t i, const Uint256& h, ByteSpan recovery_spk)
{
    auto g = m_group_by_hash.Find(h.Cheap64(), [&](uint32_t k) { return m_groups[k].hash == h; });
    if (!g) {
        if (!m_free_groups.empty()) {
            g = m_free_groups.back();
            m_free_groups.pop_back();
            m_groups[*g] = Group{h};
        } else {
            g = static_cast<uint32_t>(m_groups.size());
            m_groups.push_back(Group{h});
        }
        m_group_by_hash.Insert(h.Cheap64(), *g);
    }
    Group& grp = m_groups[*g];
    m_vaults[i].m_group_next = grp.head;
    m_vaults[i].m_group = *g;
    grp.head = i;
    ++grp.size;
    LearnRecoverySpk(i, recovery_spk);
}

void Registry::LearnRecoverySpk(uint32_t i, ByteSpan spk) const
{
    // Taken as the caller has it: from a validated vault, or a compact form bound to the vault's
    // id. RebuildFromTrigger checks it against the recover leaf before any use.
    if (i >= m_vaults.size() || m_vaults[i].m_group >= m_groups.size() || spk.empty() || spk.size() > Group{}.spk.size()) return;
    Group& g = m_groups[m_vaults[i].m_group];
    if (g.spk_size != 0) return;
    std::copy(spk.begin(), spk.end(), g.spk.begin());
    g.spk_size = static_cast<uint8_t>(spk.size());
}

void Registry::LeaveGroup(uint32_t i, const Uint256& h)
{
    auto g = m_group_by_hash.Find(h.Cheap64(), [&](uint32_t k) { return m_groups[k].hash == h; });
    if (!g) return;
    Group& grp = m_groups[*g];
    // Singly linked: removing a vault walks its group (removals are rare operator actions).
    uint32_t* link = &grp.head;
    while (*link != UINT32_MAX && *link != i) link = &m_vaults[*link].m_group_next;
    if (*link != i) return;
    *link = m_vaults[i].m_group_next;
    m_vaults[i].m_group_next = UINT32_MAX;
    m_vaults[i].m_group = UINT32_MAX;
    if (--grp.size == 0) {
        m_group_by_hash.Erase(h.Cheap64(), [&](uint32_t k) { return k == *g; });
        m_free_groups.push_back(*g);
    }
}

std::vector<uint32_t> Registry::RecoveryGroup(const Uint256& h) const
{
    std::vector<uint32_t> out;
    auto g = m_group_by_hash.Find(h.Cheap64(), [&](uint32_t k) { return m_groups[k].hash == h; });
    if (!g) return out;
    out.reserve(m_groups[*g].size);
    for (uint32_t v = m_groups[*g].head; v != UINT32_MAX; v = m_vaults[v].m_group_next) out.push_back(v);
    std::sort(out.begin(), out.end());
    return out;
}

std::span<const PresignedTriggerRef> Registry::FindPresignedTrigger(const Txid& txid) const
{
    auto it = m_presigned.find(txid);
    if (it == m_presigned.end()) return {};
    return it->second;
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
    const auto found = Find(id);
    if (!found) return false;
    const uint32_t i = *found;
    // Its keys come from its details: a vault whose details cannot be read stays as it is.
    const VaultDetails* d = Details(i);
    if (!d) return false;
    UnindexVault(i, *d);
    VaultRecord& r = m_vaults[i];
    Count(r, -1);
    r.utxos.clear();
    r.m_details.reset();
    --m_details_held;
    r.holds_recovery_auth = false;
    r.state = VaultState::Removed;
    Count(r, +1);
    return true;
}

std::optional<uint32_t> Registry::Find(const VaultId& id) const
{
    const auto found = m_by_id.Find(id.Cheap64(), [&](uint32_t i) { return m_vaults[i].id == id; });
    if (!found || m_vaults[*found].state == VaultState::Removed) return std::nullopt;
    return found;
}

const VaultDetails* Registry::Details(uint32_t i) const
{
    if (i >= m_vaults.size()) return nullptr;
    const VaultRecord& r = m_vaults[i];
    if (r.m_details) return r.m_details.get();
    if (r.state == VaultState::Removed) return nullptr;
    auto fail = [&](DetailError e) -> const VaultDetails* {
        e.message = "vault " + r.id.str() + ": " + e.message;
        // A permanent failure outranks a transient one: the caller must not wait for it.
        if (!m_detail_error || (m_detail_error->transient && !e.transient)) m_detail_error = std::move(e);
        return nullptr;
    };
    if (!m_source) return fail({"its details are not in memory and there is no store to read them from", false});
    auto d = m_source->LoadDetails(i, r.id);
    if (!d) return fail(std::move(d.error()));
    if ((r.kind == VaultKind::OpVault) != d->opvault.has_value() || (r.kind == VaultKind::Presigned) != d->presigned.has_value() ||
        (r.kind == VaultKind::Ccv) != d->ccv.has_value()) {
        return fail({"its stored registration is not of its kind", false});
    }
    r.m_details = std::make_unique<VaultDetails>(std::move(*d));
    ++m_details_held;
    // A vault loaded from a compact form without its recovery scriptPubKey (an older store):
    // its group learns it here, for the next trigger of any of its members.
    if (r.m_details->opvault) LearnRecoverySpk(i, r.m_details->opvault->spec().recovery_spk);
    return r.m_details.get();
}

std::optional<VaultDetails> Registry::RebuildFromTrigger(uint32_t i, const std::vector<Bytes>& witness, const crypto::TweakedKey* spent_key) const
{
    if (i >= m_vaults.size()) return std::nullopt;
    const VaultRecord& r = m_vaults[i];
    if (r.kind != VaultKind::OpVault || r.state == VaultState::Removed || r.authorized_recover || r.m_group >= m_groups.size()) return std::nullopt;
    const Group& g = m_groups[r.m_group];
    if (g.spk_size == 0) return std::nullopt;
    const auto sp = taproot::ScriptPathOf(witness);
    if (!sp) return std::nullopt;
    auto cb = taproot::ParseControlBlock(*sp->control);
    // Two leaves: the path is the other leaf's hash, which must be the recover leaf's.
    if (!cb || cb->path.size() != 1 || cb->leaf_version != taproot::LEAF_VERSION_TAPSCRIPT) return std::nullopt;
    Bytes rspk(g.spk.begin(), g.spk.begin() + g.spk_size);
    Bytes recover = MakeRecoverLeaf(RecoverySpkHash(rspk), std::nullopt);
    if (taproot::LeafHash(taproot::LEAF_VERSION_TAPSCRIPT, recover) != cb->path[0]) return std::nullopt;
    auto internal = crypto::XOnlyPubKey::Parse(cb->internal_key);
    if (!internal) return std::nullopt;
    VaultSpec spec{*internal, {taproot::Leaf{std::move(recover), 1}, taproot::Leaf{Bytes(sp->script->begin(), sp->script->end()), 1}}, std::move(rspk), std::nullopt};
    // The id fixes the leaves' order (the tree's root does not).
    if (ComputeVaultId(spec) != r.id) {
        std::swap(spec.leaves[0], spec.leaves[1]);
        if (ComputeVaultId(spec) != r.id) return std::nullopt;
    }
    // The output key: the one a validating node vouches the witness commits to, or the tweak done
    // again. Either way it must be the key indexed under vault i.
    auto v = Vault::FromSpec(std::move(spec), spent_key);
    if (!v) return std::nullopt;
    std::vector<VaultRef> owners;
    m_index.FindSpk(v->ScriptPubKey(), owners);
    if (std::none_of(owners.begin(), owners.end(), [&](const VaultRef& o) { return o.vault == i && o.kind == RefKind::VaultSpk; })) return std::nullopt;
    VaultDetails d;
    d.opvault = std::move(*v);
    return d;
}

bool Registry::HoldRebuilt(uint32_t i, VaultDetails d) const
{
    if (i >= m_vaults.size()) return false;
    const VaultRecord& r = m_vaults[i];
    if (r.state == VaultState::Removed || (r.kind == VaultKind::OpVault) != d.opvault.has_value() ||
        (r.kind == VaultKind::Presigned) != d.presigned.has_value() || (r.kind == VaultKind::Ccv) != d.ccv.has_value()) {
        return false;
    }
    if (!r.m_details) ++m_details_held;
    r.m_details = std::make_unique<VaultDetails>(std::move(d));
    ++m_details_rebuilt;
    return true;
}

const VaultDetails* Registry::DetailsForTrigger(uint32_t i, const std::vector<Bytes>& witness, const crypto::TweakedKey* spent_key) const
{
    if (HoldsDetails(i)) return m_vaults[i].m_details.get();
    if (auto d = RebuildFromTrigger(i, witness, spent_key)) HoldRebuilt(i, std::move(*d));
    return Details(i);
}

std::optional<DetailError> Registry::TakeDetailError() const
{
    auto e = std::move(m_detail_error);
    m_detail_error.reset();
    return e;
}

size_t Registry::TrimDetails(size_t keep)
{
    if (m_details_held <= keep) return 0;
    size_t dropped = 0;
    for (auto& r : m_vaults) {
        if (m_details_held <= keep) break;
        if (!r.m_details || r.kind != VaultKind::OpVault || r.state != VaultState::Active) continue;
        if (std::any_of(r.utxos.begin(), r.utxos.end(), [](const TrackedUtxo& u) { return u.role == UtxoRole::Trigger; })) continue;
        r.m_details.reset();
        --m_details_held;
        ++dropped;
    }
    return dropped;
}

bool Registry::SetState(uint32_t i, VaultState s)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed || s == VaultState::Removed) return false;
    Count(m_vaults[i], -1);
    m_vaults[i].state = s;
    Count(m_vaults[i], +1);
    return true;
}

bool Registry::SetPolicy(uint32_t i, const Policy& p)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    Count(m_vaults[i], -1);
    m_vaults[i].policy = p;
    Count(m_vaults[i], +1);
    return true;
}

bool Registry::AddApproval(uint32_t i, const Approval& a)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return false;
    auto& list = m_vaults[i].m_approvals;
    if (!list) list = std::make_unique<std::vector<Approval>>();
    list->push_back(a);
    return true;
}

std::vector<Approval>* Registry::MutableApprovals(uint32_t i)
{
    if (i >= m_vaults.size() || m_vaults[i].state == VaultState::Removed) return nullptr;
    auto& list = m_vaults[i].m_approvals;
    if (!list) list = std::make_unique<std::vector<Approval>>();
    return list.get();
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
