#include "vault/watch_index.h"

#include "script/taproot.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <sys/mman.h>

namespace vw::vault {

// ---- hashing ---------------------------------------------------------------------------------

namespace {

__extension__ typedef unsigned __int128 U128;

inline uint64_t Load64(const uint8_t* p)
{
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline uint64_t Load32(const uint8_t* p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint64_t Mum(uint64_t a, uint64_t b)
{
    const U128 r = static_cast<U128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}
inline uint64_t Mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

constexpr uint64_t P0 = 0xa0761d6478bd642fULL;
constexpr uint64_t P1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t P2 = 0x8ebc6af09c88c6e3ULL;
constexpr uint64_t P3 = 0x589965cc75374cc3ULL;

constexpr uint64_t SEED_SPK = 0x5350'4b5f'7677'0001ULL;
constexpr uint64_t SEED_LEAF = 0x4c45'4146'7677'0002ULL;

} // namespace

uint64_t FastHash64(ByteSpan data, uint64_t seed)
{
    const uint8_t* p = data.data();
    size_t len = data.size();
    uint64_t h = seed ^ Mum(seed ^ P0, static_cast<uint64_t>(len) ^ P1);
    while (len > 16) {
        h = Mum(Load64(p) ^ P1, Load64(p + 8) ^ h);
        p += 16;
        len -= 16;
    }
    uint64_t a = 0, b = 0;
    if (len >= 8) {
        a = Load64(p);
        b = Load64(p + len - 8);
    } else if (len >= 4) {
        a = Load32(p);
        b = Load32(p + len - 4);
    } else if (len > 0) {
        a = (uint64_t{p[0]} << 16) | (uint64_t{p[len / 2]} << 8) | p[len - 1];
    }
    h = Mum(a ^ P2 ^ len, b ^ h);
    return Mum(h ^ P3, static_cast<uint64_t>(data.size()) ^ P0);
}

std::string_view ToString(RefKind k)
{
    switch (k) {
    case RefKind::TriggerLeaf: return "trigger_leaf";
    case RefKind::RecoverLeaf: return "recover_leaf";
    case RefKind::VaultSpk: return "vault_spk";
    case RefKind::TriggerSpk: return "trigger_spk";
    case RefKind::VaultOutpoint: return "vault_outpoint";
    case RefKind::TriggerOutpoint: return "trigger_outpoint";
    case RefKind::Other: return "other";
    }
    return "unknown";
}

std::string_view ToString(MatchWhat w)
{
    switch (w) {
    case MatchWhat::InputOutpoint: return "input_outpoint";
    case MatchWhat::InputLeaf: return "input_leaf";
    case MatchWhat::OutputSpk: return "output_spk";
    }
    return "unknown";
}

// ---- storage ---------------------------------------------------------------------------------

namespace {

//! Slot kinds, in the top two bits of a slot's entry word.
enum SlotKind : uint32_t { K_LEAF_SCRIPT = 0, K_LEAF_HASH = 1, K_SPK = 2, K_OUTPOINT = 3 };
constexpr uint32_t EMPTY = 0xffffffffu;
constexpr uint32_t TOMB = 0xfffffffeu;
constexpr uint32_t MAX_ENTRIES = (1u << 30) - 3; // EMPTY and TOMB decode as outpoint entries
constexpr size_t MAX_SPK = 10000;

inline uint32_t SlotWord(uint32_t kind, uint32_t entry) { return (kind << 30) | entry; }
inline uint32_t SlotKindOf(uint32_t w) { return w >> 30; }
inline uint32_t SlotEntry(uint32_t w) { return w & ((1u << 30) - 1); }

inline uint64_t LeafScriptFp(uint8_t version, ByteSpan script)
{
    return FastHash64(script, SEED_LEAF ^ (uint64_t{version} * P3));
}
inline uint64_t LeafHashFp(const uint8_t* h) { return Load64(h); }
inline uint64_t SpkFp(ByteSpan spk) { return FastHash64(spk, SEED_SPK); }
inline uint64_t OutpointFp(const uint8_t* txid, uint32_t n)
{
    return Mix64(Load64(txid) + uint64_t{n} * 0x9e3779b97f4a7c15ULL);
}
inline uint32_t TagOf(uint64_t fp) { return static_cast<uint32_t>(fp >> 32); }

struct alignas(64) Bucket {
    uint32_t tag[8];
    uint32_t word[8];
};
static_assert(sizeof(Bucket) == 64);

//! Append-only array in fixed chunks: no doubling slack, stable addresses.
template <typename T, size_t SHIFT>
class Chunked
{
public:
    static constexpr size_t CHUNK = size_t{1} << SHIFT;
    size_t size() const { return m_size; }
    uint32_t push_back(const T& v)
    {
        if (m_size == m_chunks.size() * CHUNK) m_chunks.push_back(std::make_unique<T[]>(CHUNK));
        m_chunks[m_size >> SHIFT][m_size & (CHUNK - 1)] = v;
        return static_cast<uint32_t>(m_size++);
    }
    const T& operator[](size_t i) const { return m_chunks[i >> SHIFT][i & (CHUNK - 1)]; }
    T& operator[](size_t i) { return m_chunks[i >> SHIFT][i & (CHUNK - 1)]; }
    size_t Memory() const { return m_chunks.size() * CHUNK * sizeof(T) + m_chunks.capacity() * sizeof(void*); }

private:
    std::vector<std::unique_ptr<T[]>> m_chunks;
    size_t m_size{0};
};

struct LeafEntry {
    uint8_t hash[32];
    uint32_t ref;
    uint32_t users; //!< AcquireLeaf's count; 0 for leaves added by InsertLeaf / InsertLeafHash
};
struct OutpointEntry {
    uint8_t txid[32];
    uint32_t n;
    uint32_t ref;
};
struct SpkEntry {
    uint32_t offset; //!< into the arena: 2-byte length then the bytes
    uint32_t ref;
};

//! Byte arena in 1 MiB chunks; an entry never straddles chunks. Offsets are 32-bit.
class Arena
{
public:
    static constexpr size_t SHIFT = 20;
    static constexpr size_t CHUNK = size_t{1} << SHIFT;
    std::optional<uint32_t> Add(ByteSpan b)
    {
        const size_t need = b.size() + 2;
        if (m_chunks.empty() || m_used + need > CHUNK) {
            if (m_chunks.size() >= (size_t{1} << (32 - SHIFT))) return std::nullopt;
            m_chunks.push_back(std::make_unique<uint8_t[]>(CHUNK));
            m_used = 0;
        }
        uint8_t* p = m_chunks.back().get() + m_used;
        p[0] = static_cast<uint8_t>(b.size());
        p[1] = static_cast<uint8_t>(b.size() >> 8);
        if (!b.empty()) std::memcpy(p + 2, b.data(), b.size());
        const auto off = static_cast<uint32_t>(((m_chunks.size() - 1) << SHIFT) | m_used);
        m_used += need;
        return off;
    }
    ByteSpan Get(uint32_t off) const
    {
        const uint8_t* p = m_chunks[off >> SHIFT].get() + (off & (CHUNK - 1));
        return {p + 2, size_t{p[0]} | (size_t{p[1]} << 8)};
    }
    size_t Memory() const { return m_chunks.size() * CHUNK + m_chunks.capacity() * sizeof(void*); }

private:
    std::vector<std::unique_ptr<uint8_t[]>> m_chunks;
    size_t m_used{0};
};

// The bucket table is probed at random: at a million vaults it spans hundreds of MiB, and with 4 KiB
// pages nearly every probe also misses the TLB (a page walk per lookup, costly under a hypervisor).
// Tables of 2 MiB and more are aligned to 2 MiB and offered to the kernel as huge pages.
constexpr size_t HUGE_PAGE = size_t{2} << 20;

size_t BucketBytes(size_t n)
{
    const size_t bytes = n * sizeof(Bucket);
    return bytes >= HUGE_PAGE ? (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE : bytes;
}

struct BucketDeleter {
    void operator()(Bucket* b) const
    {
        if (n * sizeof(Bucket) >= HUGE_PAGE) ::operator delete[](b, std::align_val_t{HUGE_PAGE});
        else ::operator delete[](b, std::align_val_t{64});
    }
    void operator()(uint64_t* p) const { (*this)(reinterpret_cast<Bucket*>(p)); }
    size_t n{0};
};

} // namespace

struct WatchIndex::Impl {
    std::unique_ptr<Bucket[], BucketDeleter> buckets;
    size_t nbuckets{0};
    size_t used_slots{0}; //!< live + tombstones

    Chunked<LeafEntry, 14> leaves;
    Chunked<OutpointEntry, 14> outpoints;
    Chunked<SpkEntry, 16> spks;
    Arena arena;

    //! Pre-filters of scripted leaves, before any hashing: leaf versions and script lengths.
    std::array<uint64_t, 4> version_mask{};
    std::array<uint64_t, 256> length_mask{}; //!< bit (len % 16384)

    //! A blocked Bloom filter in front of the buckets: one 64-bit word per bucket, four bits per
    //! key. A probe for a key nobody watches - nearly every input and output of a block - reads
    //! one word of a table an eighth the size of the buckets, which stays in the cache, instead of
    //! a random bucket in hundreds of MiB. About 1 such probe in 50 gets through (the taproot test
    //! block: 390 bucket reads for some 19,000 probes, against 2,248 with two bits in half a word
    //! per bucket; vw_bench_scan's "tblrd"). Bits are set by Place and never cleared but by a
    //! rehash, so a key present always passes.
    std::unique_ptr<uint64_t[], BucketDeleter> filter;
    size_t nwords{0};
    size_t FilterWord(uint32_t tag) const { return static_cast<size_t>((uint64_t{tag} * nwords) >> 32); }
    //! The word is chosen by the tag's high bits, so the keys of one word share them: the four bits
    //! come from a remix of the whole tag (the high bits of a Fibonacci product), not from its
    //! low bits, or they would be correlated with the word at tens of millions of keys.
    static uint64_t FilterMask(uint32_t tag)
    {
        const uint64_t h = uint64_t{tag} * 0x9e3779b97f4a7c15ULL;
        return (uint64_t{1} << (h >> 58)) | (uint64_t{1} << ((h >> 52) & 63)) | (uint64_t{1} << ((h >> 46) & 63)) |
               (uint64_t{1} << ((h >> 40) & 63));
    }
    bool FilterMay(uint32_t tag) const
    {
        const uint64_t m = FilterMask(tag);
        return (filter[FilterWord(tag)] & m) == m;
    }
    const uint64_t* FilterAddr(uint32_t tag) const { return &filter[FilterWord(tag)]; }

    size_t Home(uint32_t tag) const { return static_cast<size_t>((uint64_t{tag} * nbuckets) >> 32); }
    size_t Next(size_t b) const { return b + 1 == nbuckets ? 0 : b + 1; }

    static Bucket* AllocBuckets(size_t n)
    {
        Bucket* b;
        if (n * sizeof(Bucket) >= HUGE_PAGE) {
            const size_t bytes = BucketBytes(n);
            b = static_cast<Bucket*>(::operator new[](bytes, std::align_val_t{HUGE_PAGE}));
#ifdef MADV_HUGEPAGE
            ::madvise(b, bytes, MADV_HUGEPAGE); // advice only: without huge pages it still works
#endif
        } else {
            b = static_cast<Bucket*>(::operator new[](n * sizeof(Bucket), std::align_val_t{64}));
        }
        for (size_t i = 0; i < n; ++i) {
            for (int j = 0; j < 8; ++j) {
                b[i].tag[j] = 0;
                b[i].word[j] = EMPTY;
            }
        }
        return b;
    }

    void Rehash(size_t new_nbuckets)
    {
        std::unique_ptr<Bucket[], BucketDeleter> old = std::move(buckets);
        const size_t old_n = nbuckets;
        buckets = std::unique_ptr<Bucket[], BucketDeleter>(AllocBuckets(new_nbuckets), BucketDeleter{new_nbuckets});
        nbuckets = new_nbuckets;
        // The filter: one word per bucket.
        nwords = new_nbuckets;
        const size_t fbuckets = (nwords * sizeof(uint64_t) + sizeof(Bucket) - 1) / sizeof(Bucket);
        filter = std::unique_ptr<uint64_t[], BucketDeleter>(reinterpret_cast<uint64_t*>(AllocBuckets(fbuckets)), BucketDeleter{fbuckets});
        std::memset(filter.get(), 0, fbuckets * sizeof(Bucket));
        used_slots = 0;
        for (size_t i = 0; i < old_n; ++i) {
            for (int j = 0; j < 8; ++j) {
                const uint32_t w = old[i].word[j];
                if (w != EMPTY && w != TOMB) Place(old[i].tag[j], w);
            }
        }
    }

    void Place(uint32_t tag, uint32_t word)
    {
        filter[FilterWord(tag)] |= FilterMask(tag);
        for (size_t b = Home(tag);; b = Next(b)) {
            Bucket& bk = buckets[b];
            for (int j = 0; j < 8; ++j) {
                if (bk.word[j] == EMPTY || bk.word[j] == TOMB) {
                    if (bk.word[j] == EMPTY) ++used_slots;
                    bk.tag[j] = tag;
                    bk.word[j] = word;
                    return;
                }
            }
        }
    }

    void GrowFor(size_t extra)
    {
        const size_t cap = nbuckets * 8;
        if ((used_slots + extra) * 8 <= cap * 7) return;
        size_t want = std::max<size_t>(nbuckets + nbuckets / 2, 16);
        want = std::max(want, ((used_slots + extra) * 5 / 4) / 8 + 1);
        Rehash(want);
    }

    //! Calls f(bucket, slot) for every slot with this tag and kind until f returns true.
    template <typename F>
    bool ForEach(uint32_t tag, uint32_t kind, F&& f) const
    {
        if (nbuckets == 0 || !FilterMay(tag)) return false;
        for (size_t b = Home(tag);; b = Next(b)) {
            const Bucket& bk = buckets[b];
            bool has_empty = false;
            for (int j = 0; j < 8; ++j) {
                const uint32_t w = bk.word[j];
                has_empty |= (w == EMPTY);
                if (bk.tag[j] == tag && w != EMPTY && w != TOMB && SlotKindOf(w) == kind) {
                    if (f(b, j, SlotEntry(w))) return true;
                }
            }
            if (has_empty) return false;
        }
    }

    void SetLeafMasks(uint8_t version, size_t len)
    {
        version_mask[version >> 6] |= uint64_t{1} << (version & 63);
        const size_t l = len & 16383;
        length_mask[l >> 6] |= uint64_t{1} << (l & 63);
    }
    bool LeafMasksPass(uint8_t version, size_t len) const
    {
        const size_t l = len & 16383;
        return ((version_mask[version >> 6] >> (version & 63)) & 1) && ((length_mask[l >> 6] >> (l & 63)) & 1);
    }
};

WatchIndex::WatchIndex() : m_impl(std::make_unique<Impl>()) {}
WatchIndex::~WatchIndex() = default;
WatchIndex::WatchIndex(WatchIndex&&) noexcept = default;
WatchIndex& WatchIndex::operator=(WatchIndex&&) noexcept = default;

void WatchIndex::Reserve(size_t keys)
{
    // Target load 0.8 after the reservation.
    const size_t want = (keys * 5 / 4) / 8 + 1;
    if (want > m_impl->nbuckets) m_impl->Rehash(want);
}

size_t WatchIndex::MemoryUsage() const
{
    const Impl& m = *m_impl;
    return sizeof(WatchIndex) + sizeof(Impl) + m.nbuckets * sizeof(Bucket) + m.nwords * sizeof(uint64_t) + m.leaves.Memory() + m.outpoints.Memory() +
           m.spks.Memory() + m.arena.Memory();
}

// ---- inserts, erases, finds ------------------------------------------------------------------

namespace {
inline bool ValidRef(VaultRef r) { return r.vault <= VaultRef::MAX_VAULT; }
} // namespace

bool WatchIndex::InsertLeaf(uint8_t leaf_version, ByteSpan script, VaultRef ref)
{
    return InsertLeaf(leaf_version, script, taproot::LeafHash(leaf_version, script), ref);
}

bool WatchIndex::InsertLeaf(uint8_t leaf_version, ByteSpan script, const Uint256& h, VaultRef ref)
{
    Impl& m = *m_impl;
    if (!ValidRef(ref) || m.leaves.size() >= MAX_ENTRIES) return false;
    const uint32_t tag = TagOf(LeafScriptFp(leaf_version, script));
    const uint32_t packed = ref.Pack();
    if (m.ForEach(tag, K_LEAF_SCRIPT, [&](size_t, int, uint32_t e) {
            const LeafEntry& le = m.leaves[e];
            return le.ref == packed && std::memcmp(le.hash, h.data(), 32) == 0;
        })) {
        return false;
    }
    m.GrowFor(1);
    LeafEntry le;
    std::memcpy(le.hash, h.data(), 32);
    le.ref = packed;
    le.users = 0;
    m.Place(tag, SlotWord(K_LEAF_SCRIPT, m.leaves.push_back(le)));
    m.SetLeafMasks(leaf_version, script.size());
    ++m_live;
    ++m_scripted_leaves;
    return true;
}

uint64_t WatchIndex::LeafFingerprint(uint8_t leaf_version, ByteSpan script) { return LeafScriptFp(leaf_version, script); }

uint32_t WatchIndex::AcquireLeaf(uint8_t leaf_version, uint32_t script_size, uint64_t script_fp, const Uint256& h, VaultRef ref)
{
    Impl& m = *m_impl;
    if (!ValidRef(ref)) return 0;
    const uint32_t tag = TagOf(script_fp);
    uint32_t users = 0;
    if (m.ForEach(tag, K_LEAF_SCRIPT, [&](size_t, int, uint32_t e) {
            LeafEntry& le = m.leaves[e];
            if (le.users == 0 || std::memcmp(le.hash, h.data(), 32) != 0) return false;
            users = ++le.users;
            return true;
        })) {
        return users;
    }
    if (m.leaves.size() >= MAX_ENTRIES) return 0;
    m.GrowFor(1);
    LeafEntry le;
    std::memcpy(le.hash, h.data(), 32);
    le.ref = ref.Pack();
    le.users = 1;
    m.Place(tag, SlotWord(K_LEAF_SCRIPT, m.leaves.push_back(le)));
    m.SetLeafMasks(leaf_version, script_size);
    ++m_live;
    ++m_scripted_leaves;
    return 1;
}

bool WatchIndex::InsertLeafHash(const Uint256& leaf_hash, VaultRef ref)
{
    Impl& m = *m_impl;
    if (!ValidRef(ref) || m.leaves.size() >= MAX_ENTRIES) return false;
    const uint32_t tag = TagOf(LeafHashFp(leaf_hash.data()));
    const uint32_t packed = ref.Pack();
    if (m.ForEach(tag, K_LEAF_HASH, [&](size_t, int, uint32_t e) {
            const LeafEntry& le = m.leaves[e];
            return le.ref == packed && std::memcmp(le.hash, leaf_hash.data(), 32) == 0;
        })) {
        return false;
    }
    m.GrowFor(1);
    LeafEntry le;
    std::memcpy(le.hash, leaf_hash.data(), 32);
    le.ref = packed;
    le.users = 0;
    m.Place(tag, SlotWord(K_LEAF_HASH, m.leaves.push_back(le)));
    ++m_live;
    ++m_hash_leaves;
    return true;
}

bool WatchIndex::InsertSpk(ByteSpan spk, VaultRef ref)
{
    Impl& m = *m_impl;
    if (!ValidRef(ref) || spk.size() > MAX_SPK || m.spks.size() >= MAX_ENTRIES) return false;
    const uint32_t tag = TagOf(SpkFp(spk));
    const uint32_t packed = ref.Pack();
    if (m.ForEach(tag, K_SPK, [&](size_t, int, uint32_t e) {
            const SpkEntry& se = m.spks[e];
            return se.ref == packed && Equal(m.arena.Get(se.offset), spk);
        })) {
        return false;
    }
    auto off = m.arena.Add(spk);
    if (!off) return false;
    m.GrowFor(1);
    m.Place(tag, SlotWord(K_SPK, m.spks.push_back(SpkEntry{*off, packed})));
    ++m_live;
    return true;
}

bool WatchIndex::InsertOutpoint(ByteSpan txid32, uint32_t n, VaultRef ref)
{
    Impl& m = *m_impl;
    if (!ValidRef(ref) || txid32.size() != 32 || m.outpoints.size() >= MAX_ENTRIES) return false;
    const uint32_t tag = TagOf(OutpointFp(txid32.data(), n));
    const uint32_t packed = ref.Pack();
    if (m.ForEach(tag, K_OUTPOINT, [&](size_t, int, uint32_t e) {
            const OutpointEntry& oe = m.outpoints[e];
            return oe.ref == packed && oe.n == n && std::memcmp(oe.txid, txid32.data(), 32) == 0;
        })) {
        return false;
    }
    m.GrowFor(1);
    OutpointEntry oe;
    std::memcpy(oe.txid, txid32.data(), 32);
    oe.n = n;
    oe.ref = packed;
    m.Place(tag, SlotWord(K_OUTPOINT, m.outpoints.push_back(oe)));
    ++m_live;
    return true;
}

namespace {
template <typename Pred>
bool EraseSlot(WatchIndex::Impl& m, uint32_t tag, uint32_t kind, Pred&& pred)
{
    size_t fb = 0;
    int fj = -1;
    m.ForEach(tag, kind, [&](size_t b, int j, uint32_t e) {
        if (!pred(e)) return false;
        fb = b;
        fj = j;
        return true;
    });
    if (fj < 0) return false;
    m.buckets[fb].word[fj] = TOMB;
    return true;
}
} // namespace

bool WatchIndex::EraseLeaf(uint8_t leaf_version, ByteSpan script, VaultRef ref)
{
    Impl& m = *m_impl;
    const Uint256 h = taproot::LeafHash(leaf_version, script);
    const uint32_t packed = ref.Pack();
    if (!EraseSlot(m, TagOf(LeafScriptFp(leaf_version, script)), K_LEAF_SCRIPT, [&](uint32_t e) {
            return m.leaves[e].ref == packed && std::memcmp(m.leaves[e].hash, h.data(), 32) == 0;
        })) {
        return false;
    }
    --m_live;
    --m_scripted_leaves;
    return true;
}

std::optional<uint32_t> WatchIndex::ReleaseLeaf(uint64_t script_fp, const Uint256& h)
{
    Impl& m = *m_impl;
    std::optional<uint32_t> left;
    if (!EraseSlot(m, TagOf(script_fp), K_LEAF_SCRIPT, [&](uint32_t e) {
            LeafEntry& le = m.leaves[e];
            if (le.users == 0 || std::memcmp(le.hash, h.data(), 32) != 0) return false;
            left = --le.users;
            return le.users == 0; // erase the slot only with the last user
        })) {
        return left;
    }
    --m_live;
    --m_scripted_leaves;
    return uint32_t{0};
}

bool WatchIndex::EraseLeafHash(const Uint256& leaf_hash, VaultRef ref)
{
    Impl& m = *m_impl;
    const uint32_t packed = ref.Pack();
    if (!EraseSlot(m, TagOf(LeafHashFp(leaf_hash.data())), K_LEAF_HASH, [&](uint32_t e) {
            return m.leaves[e].ref == packed && std::memcmp(m.leaves[e].hash, leaf_hash.data(), 32) == 0;
        })) {
        return false;
    }
    --m_live;
    --m_hash_leaves;
    return true;
}

bool WatchIndex::EraseSpk(ByteSpan spk, VaultRef ref)
{
    Impl& m = *m_impl;
    const uint32_t packed = ref.Pack();
    if (!EraseSlot(m, TagOf(SpkFp(spk)), K_SPK, [&](uint32_t e) {
            return m.spks[e].ref == packed && Equal(m.arena.Get(m.spks[e].offset), spk);
        })) {
        return false;
    }
    --m_live;
    return true;
}

bool WatchIndex::EraseOutpoint(ByteSpan txid32, uint32_t n, VaultRef ref)
{
    Impl& m = *m_impl;
    if (txid32.size() != 32) return false;
    const uint32_t packed = ref.Pack();
    if (!EraseSlot(m, TagOf(OutpointFp(txid32.data(), n)), K_OUTPOINT, [&](uint32_t e) {
            const OutpointEntry& oe = m.outpoints[e];
            return oe.ref == packed && oe.n == n && std::memcmp(oe.txid, txid32.data(), 32) == 0;
        })) {
        return false;
    }
    --m_live;
    return true;
}

size_t WatchIndex::FindLeaf(uint8_t leaf_version, ByteSpan script, std::vector<VaultRef>& out) const
{
    const Impl& m = *m_impl;
    size_t found = 0;
    std::optional<Uint256> h;
    m.ForEach(TagOf(LeafScriptFp(leaf_version, script)), K_LEAF_SCRIPT, [&](size_t, int, uint32_t e) {
        if (!h) h = taproot::LeafHash(leaf_version, script);
        if (std::memcmp(m.leaves[e].hash, h->data(), 32) == 0) {
            out.push_back(VaultRef::Unpack(m.leaves[e].ref));
            ++found;
        }
        return false;
    });
    if (m_hash_leaves) {
        if (!h) h = taproot::LeafHash(leaf_version, script);
        found += FindLeafHash(*h, out);
    }
    return found;
}

size_t WatchIndex::FindLeafHash(const Uint256& leaf_hash, std::vector<VaultRef>& out) const
{
    const Impl& m = *m_impl;
    size_t found = 0;
    m.ForEach(TagOf(LeafHashFp(leaf_hash.data())), K_LEAF_HASH, [&](size_t, int, uint32_t e) {
        if (std::memcmp(m.leaves[e].hash, leaf_hash.data(), 32) == 0) {
            out.push_back(VaultRef::Unpack(m.leaves[e].ref));
            ++found;
        }
        return false;
    });
    return found;
}

size_t WatchIndex::FindSpk(ByteSpan spk, std::vector<VaultRef>& out) const
{
    const Impl& m = *m_impl;
    size_t found = 0;
    m.ForEach(TagOf(SpkFp(spk)), K_SPK, [&](size_t, int, uint32_t e) {
        if (Equal(m.arena.Get(m.spks[e].offset), spk)) {
            out.push_back(VaultRef::Unpack(m.spks[e].ref));
            ++found;
        }
        return false;
    });
    return found;
}

size_t WatchIndex::FindOutpoint(ByteSpan txid32, uint32_t n, std::vector<VaultRef>& out) const
{
    if (txid32.size() != 32) return 0;
    const Impl& m = *m_impl;
    size_t found = 0;
    m.ForEach(TagOf(OutpointFp(txid32.data(), n)), K_OUTPOINT, [&](size_t, int, uint32_t e) {
        const OutpointEntry& oe = m.outpoints[e];
        if (oe.n == n && std::memcmp(oe.txid, txid32.data(), 32) == 0) {
            out.push_back(VaultRef::Unpack(oe.ref));
            ++found;
        }
        return false;
    });
    return found;
}

// ---- scanning --------------------------------------------------------------------------------

std::optional<ScriptPathView> ScriptPathOf(ByteSpan witness, uint32_t items)
{
    if (items < 2) return std::nullopt;
    SpanReader r{witness};
    ByteSpan a, b, c; // third-last, second-last, last
    for (uint32_t i = 0; i < items; ++i) {
        auto it = r.ReadVarBytes();
        if (!it) return std::nullopt;
        a = b;
        b = c;
        c = *it;
    }
    uint32_t n = items;
    if (!c.empty() && c[0] == taproot::ANNEX_TAG) {
        c = b;
        b = a;
        --n;
    }
    if (n < 2) return std::nullopt;
    const size_t cs = c.size();
    if (cs < taproot::CONTROL_BASE_SIZE || (cs - taproot::CONTROL_BASE_SIZE) % taproot::CONTROL_NODE_SIZE != 0 ||
        (cs - taproot::CONTROL_BASE_SIZE) / taproot::CONTROL_NODE_SIZE > taproot::MAX_TREE_DEPTH) {
        return std::nullopt;
    }
    return ScriptPathView{static_cast<uint8_t>(c[0] & 0xfe), b, c};
}

struct ScanAccess {
    static const WatchIndex::Impl& Impl(const WatchIndex& w) { return *w.m_impl; }
    static size_t ScriptedLeaves(const WatchIndex& w) { return w.m_scripted_leaves; }
    static size_t HashLeaves(const WatchIndex& w) { return w.m_hash_leaves; }
};

namespace {

constexpr uint8_t PF_SCRIPTED = 1; // leaf probe: look up scripted leaves by script fingerprint
constexpr uint8_t PF_HASHED = 2;   // leaf probe: also compute the TapLeaf hash for hash-only leaves

struct Probe {
    const uint8_t* key;   //!< txid, spk or leaf script
    uint32_t aux;         //!< outpoint n, spk/script length
    uint32_t tag;
    uint32_t tx;
    uint32_t io;
    uint32_t tx_off;
    uint32_t tx_len;
    uint8_t kind;         //!< SlotKind (K_LEAF_SCRIPT for leaf probes)
    uint8_t flags;
    uint8_t leaf_version;
};

class Scanner
{
public:
    Scanner(const WatchIndex& w, ByteSpan buf, std::vector<Match>& out)
        : m_ix(ScanAccess::Impl(w)), m_buf(buf), m_out(out),
          m_any_leaves(ScanAccess::ScriptedLeaves(w) + ScanAccess::HashLeaves(w) > 0),
          m_hash_leaves(ScanAccess::HashLeaves(w) > 0), m_empty(m_ix.nbuckets == 0)
    {
    }

    void Tx(const TxView& tx, uint32_t tx_index, size_t tx_off)
    {
        ++m_stats.txs;
        m_stats.inputs += tx.vin.size();
        m_stats.outputs += tx.vout.size();
        if (m_empty) return;
        Probe p{};
        p.tx = tx_index;
        p.tx_off = static_cast<uint32_t>(tx_off);
        p.tx_len = static_cast<uint32_t>(tx.raw.size());
        for (size_t i = 0; i < tx.vin.size(); ++i) {
            const TxInView& in = tx.vin[i];
            p.io = static_cast<uint32_t>(i);
            p.key = in.prevout_txid.data();
            p.aux = in.prevout_n;
            p.kind = K_OUTPOINT;
            p.tag = TagOf(OutpointFp(p.key, p.aux));
            Push(p);
            if (m_any_leaves && in.witness_items >= 2) {
                auto sp = ScriptPathOf(in.witness, in.witness_items);
                if (!sp) continue;
                uint8_t flags = m_hash_leaves ? PF_HASHED : 0;
                if (m_ix.LeafMasksPass(sp->leaf_version, sp->script.size())) flags |= PF_SCRIPTED;
                if (!flags) continue;
                ++m_stats.leaf_candidates;
                p.key = sp->script.data();
                p.aux = static_cast<uint32_t>(sp->script.size());
                p.kind = K_LEAF_SCRIPT;
                p.flags = flags;
                p.leaf_version = sp->leaf_version;
                p.tag = (flags & PF_SCRIPTED) ? TagOf(LeafScriptFp(p.leaf_version, sp->script)) : 0;
                Push(p);
                p.flags = 0;
            }
        }
        p.kind = K_SPK;
        for (size_t i = 0; i < tx.vout.size(); ++i) {
            p.io = static_cast<uint32_t>(i);
            p.key = tx.vout[i].script_pubkey.data();
            p.aux = static_cast<uint32_t>(tx.vout[i].script_pubkey.size());
            p.tag = TagOf(SpkFp(tx.vout[i].script_pubkey));
            Push(p);
        }
    }

    void Drain()
    {
        while (m_count) {
            Process(m_ring[m_head]);
            m_head = (m_head + 1) & (RING - 1);
            --m_count;
        }
    }

    const ScanStats& stats() const { return m_stats; }

private:
    static constexpr size_t RING = 16;

    void Push(const Probe& p)
    {
        const bool needs_table = p.kind != K_LEAF_SCRIPT || (p.flags & PF_SCRIPTED);
        if (needs_table) __builtin_prefetch(m_ix.FilterAddr(p.tag));
        if (m_count == RING) {
            Process(m_ring[m_head]);
            m_ring[m_head] = p;
            m_head = (m_head + 1) & (RING - 1);
        } else {
            m_ring[(m_head + m_count) & (RING - 1)] = p;
            ++m_count;
        }
    }

    void Process(const Probe& p)
    {
        const ByteSpan key{p.key, p.kind == K_OUTPOINT ? size_t{32} : size_t{p.aux}};
        // The filter is read here too (ForEach reads it again, from L1) only to count what it let by.
        auto through = [&](uint32_t tag) {
            if (!m_ix.FilterMay(tag)) return false;
            ++m_stats.table_reads;
            return true;
        };
        if (p.kind == K_OUTPOINT) {
            if (!through(p.tag)) return;
            m_ix.ForEach(p.tag, K_OUTPOINT, [&](size_t, int, uint32_t e) {
                ++m_stats.tag_hits;
                const OutpointEntry& oe = m_ix.outpoints[e];
                if (oe.n == p.aux && std::memcmp(oe.txid, p.key, 32) == 0) Emit(p, MatchWhat::InputOutpoint, oe.ref);
                return false;
            });
        } else if (p.kind == K_SPK) {
            if (!through(p.tag)) return;
            m_ix.ForEach(p.tag, K_SPK, [&](size_t, int, uint32_t e) {
                ++m_stats.tag_hits;
                const SpkEntry& se = m_ix.spks[e];
                if (Equal(m_ix.arena.Get(se.offset), key)) Emit(p, MatchWhat::OutputSpk, se.ref);
                return false;
            });
        } else {
            std::optional<Uint256> h;
            auto leaf_hash = [&]() -> const Uint256& {
                if (!h) {
                    h = taproot::LeafHash(p.leaf_version, key);
                    ++m_stats.leaf_hashes;
                }
                return *h;
            };
            if ((p.flags & PF_SCRIPTED) && through(p.tag)) {
                m_ix.ForEach(p.tag, K_LEAF_SCRIPT, [&](size_t, int, uint32_t e) {
                    ++m_stats.tag_hits;
                    const LeafEntry& le = m_ix.leaves[e];
                    if (std::memcmp(le.hash, leaf_hash().data(), 32) == 0) Emit(p, MatchWhat::InputLeaf, le.ref);
                    return false;
                });
            }
            if (p.flags & PF_HASHED) {
                const Uint256& lh = leaf_hash();
                const uint32_t tag = TagOf(LeafHashFp(lh.data()));
                if (through(tag)) m_ix.ForEach(tag, K_LEAF_HASH, [&](size_t, int, uint32_t e) {
                    ++m_stats.tag_hits;
                    const LeafEntry& le = m_ix.leaves[e];
                    if (std::memcmp(le.hash, lh.data(), 32) == 0) Emit(p, MatchWhat::InputLeaf, le.ref);
                    return false;
                });
            }
        }
    }

    void Emit(const Probe& p, MatchWhat what, uint32_t packed_ref)
    {
        if (!m_txid_tx || *m_txid_tx != p.tx) {
            SpanReader r{m_buf.subspan(p.tx_off, p.tx_len)};
            const bool ok = static_cast<bool>(ReadTxView(r, m_txid_view));
            assert(ok);
            (void)ok;
            m_txid = m_txid_view.ComputeTxid();
            m_txid_tx = p.tx;
        }
        Match m;
        m.tx_index = p.tx;
        m.io_index = p.io;
        m.what = what;
        m.ref = VaultRef::Unpack(packed_ref);
        m.txid = m_txid;
        m.tx_offset = p.tx_off;
        m.tx_size = p.tx_len;
        m_out.push_back(m);
        ++m_stats.matches;
    }

    const WatchIndex::Impl& m_ix;
    ByteSpan m_buf;
    std::vector<Match>& m_out;
    const bool m_any_leaves;
    const bool m_hash_leaves;
    const bool m_empty;
    ScanStats m_stats;
    std::array<Probe, RING> m_ring{};
    size_t m_head{0};
    size_t m_count{0};
    std::optional<uint32_t> m_txid_tx;
    Txid m_txid;
    TxView m_txid_view;
};

} // namespace

Expected<ScanStats, BlockError> ScanBlock(ByteSpan raw_block, const WatchIndex& index, std::vector<Match>& out)
{
    const size_t out_before = out.size();
    SpanReader r{raw_block};
    if (r.remaining() < BlockHeader::SIZE) return Unexpected{BlockError{BlockParseError::Truncated}};
    r.Skip(BlockHeader::SIZE); // the header is fixed-size; nothing in it can be invalid here
    auto n = r.ReadCompactSize();
    if (!n) return Unexpected{BlockError{BlockParseError::Truncated}};
    if (*n == 0) return Unexpected{BlockError{BlockParseError::NoTransactions}};
    if (*n > r.remaining() / 10) return Unexpected{BlockError{BlockParseError::Truncated}};
    if (raw_block.size() > 0xffffffffu) return Unexpected{BlockError{BlockParseError::Truncated}};
    Scanner sc{index, raw_block, out};
    TxView tx;
    tx.vin.reserve(64);
    tx.vout.reserve(64);
    for (uint64_t i = 0; i < *n; ++i) {
        const size_t off = r.pos();
        auto e = ReadTxView(r, tx);
        if (!e) {
            out.resize(out_before);
            return Unexpected{BlockError{BlockParseError::BadTransaction, static_cast<size_t>(i), e.error()}};
        }
        sc.Tx(tx, static_cast<uint32_t>(i), off);
    }
    if (!r.empty()) {
        out.resize(out_before);
        return Unexpected{BlockError{BlockParseError::TrailingBytes}};
    }
    sc.Drain();
    return sc.stats();
}

Expected<ScanStats, TxParseError> ScanTransaction(ByteSpan raw_tx, const WatchIndex& index, std::vector<Match>& out,
                                                  uint32_t tx_index)
{
    if (raw_tx.size() > 0xffffffffu) return Unexpected{TxParseError::TrailingBytes};
    SpanReader r{raw_tx};
    TxView tx;
    auto e = ReadTxView(r, tx);
    if (!e) return Unexpected{e.error()};
    if (!r.empty()) return Unexpected{TxParseError::TrailingBytes};
    Scanner sc{index, raw_tx, out};
    sc.Tx(tx, tx_index, 0);
    sc.Drain();
    return sc.stats();
}

} // namespace vw::vault
