#include "vault/watch_index.h"

#include "primitives/block.h"
#include "script/taproot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

using namespace vw;
using vault::MatchWhat;
using vault::RefKind;
using vault::VaultRef;

namespace {

struct Rng {
    uint64_t s;
    uint64_t Next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    Bytes Get(size_t n)
    {
        Bytes b(n);
        for (auto& x : b) x = static_cast<uint8_t>(Next());
        return b;
    }
};

Bytes ReadBlock(const std::string& name)
{
    std::ifstream f(std::string{VW_TEST_DATA_DIR} + "/" + name, std::ios::binary);
    EXPECT_TRUE(f) << name;
    return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

//! The naive reference index: plain ordered maps of exact keys.
struct Naive {
    std::multimap<std::pair<Bytes, uint32_t>, VaultRef> outpoints;
    std::multimap<Bytes, VaultRef> spks;
    std::multimap<Uint256, VaultRef> leaves; // by TapLeaf hash

    void AddOutpoint(vault::WatchIndex& ix, const OutPoint& o, VaultRef r)
    {
        ASSERT_TRUE(ix.InsertOutpoint(o, r));
        outpoints.emplace(std::make_pair(Bytes(o.txid.span().begin(), o.txid.span().end()), o.n), r);
    }
    void AddSpk(vault::WatchIndex& ix, const Bytes& spk, VaultRef r)
    {
        ASSERT_TRUE(ix.InsertSpk(spk, r));
        spks.emplace(spk, r);
    }
    void AddLeaf(vault::WatchIndex& ix, uint8_t ver, ByteSpan script, VaultRef r)
    {
        ASSERT_TRUE(ix.InsertLeaf(ver, script, r));
        leaves.emplace(taproot::LeafHash(ver, script), r);
    }
    void AddLeafHash(vault::WatchIndex& ix, const Uint256& h, VaultRef r)
    {
        ASSERT_TRUE(ix.InsertLeafHash(h, r));
        leaves.emplace(h, r);
    }
};

using Key = std::tuple<uint32_t, uint8_t, uint32_t, uint32_t, uint8_t>; // tx, what, io, vault, kind
Key KeyOf(const vault::Match& m)
{
    return {m.tx_index, static_cast<uint8_t>(m.what), m.io_index, m.ref.vault, static_cast<uint8_t>(m.ref.kind)};
}

//! Full parse, LeafHash for every script-path input, exact map lookups.
std::vector<Key> NaiveScan(const Block& b, const Naive& n)
{
    std::vector<Key> out;
    for (uint32_t t = 0; t < b.txs.size(); ++t) {
        const auto& tx = b.txs[t];
        for (uint32_t i = 0; i < tx.vin().size(); ++i) {
            const auto& in = tx.vin()[i];
            auto [lo, hi] = n.outpoints.equal_range({Bytes(in.prevout.txid.span().begin(), in.prevout.txid.span().end()), in.prevout.n});
            for (auto it = lo; it != hi; ++it) out.emplace_back(t, uint8_t{0}, i, it->second.vault, static_cast<uint8_t>(it->second.kind));
            std::vector<ByteSpan> items(in.witness.begin(), in.witness.end());
            auto sp = taproot::ClassifyWitness(items);
            if (!sp || sp->kind != taproot::Spend::Kind::ScriptPath) continue;
            const size_t cs = sp->control.size();
            if (cs < 33 || (cs - 33) % 32 != 0 || (cs - 33) / 32 > 128) continue;
            const Uint256 h = taproot::LeafHash(static_cast<uint8_t>(sp->control[0] & 0xfe), sp->script);
            auto [l2, h2] = n.leaves.equal_range(h);
            for (auto it = l2; it != h2; ++it) out.emplace_back(t, uint8_t{1}, i, it->second.vault, static_cast<uint8_t>(it->second.kind));
        }
        for (uint32_t o = 0; o < tx.vout().size(); ++o) {
            auto [lo, hi] = n.spks.equal_range(tx.vout()[o].script_pubkey);
            for (auto it = lo; it != hi; ++it) out.emplace_back(t, uint8_t{2}, o, it->second.vault, static_cast<uint8_t>(it->second.kind));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST(watch_index_tests, insert_lookup_erase)
{
    vault::WatchIndex ix;
    std::vector<VaultRef> r;
    EXPECT_EQ(ix.FindSpk(Bytes{0x51}, r), 0u);

    Rng rng{1};
    const Bytes script = rng.Get(70);
    const Bytes spk = rng.Get(34);
    const Bytes txid = rng.Get(32);
    const VaultRef a{7, RefKind::TriggerLeaf}, b{8, RefKind::RecoverLeaf};

    EXPECT_TRUE(ix.InsertLeaf(0xc0, script, a));
    EXPECT_FALSE(ix.InsertLeaf(0xc0, script, a)); // same key and ref
    EXPECT_TRUE(ix.InsertLeaf(0xc0, script, b));  // multimap
    EXPECT_TRUE(ix.InsertSpk(spk, {7, RefKind::VaultSpk}));
    EXPECT_TRUE(ix.InsertOutpoint(txid, 3, {7, RefKind::VaultOutpoint}));
    EXPECT_FALSE(ix.InsertOutpoint(Bytes(31), 3, {7, RefKind::VaultOutpoint}));
    EXPECT_FALSE(ix.InsertSpk(Bytes(10001), {7, RefKind::VaultSpk}));
    EXPECT_FALSE(ix.InsertSpk(spk, {VaultRef::MAX_VAULT + 1, RefKind::VaultSpk}));
    EXPECT_EQ(ix.size(), 4u);

    EXPECT_EQ(ix.FindLeaf(0xc0, script, r), 2u);
    EXPECT_EQ(r.size(), 2u);
    r.clear();
    EXPECT_EQ(ix.FindLeaf(0xc2, script, r), 0u); // other leaf version
    EXPECT_EQ(ix.FindSpk(spk, r), 1u);
    EXPECT_EQ(r.back(), (VaultRef{7, RefKind::VaultSpk}));
    EXPECT_EQ(ix.FindOutpoint(txid, 3, r), 1u);
    EXPECT_EQ(ix.FindOutpoint(txid, 4, r), 0u);

    // Hash-only leaves are found by hash, and through FindLeaf.
    const Uint256 h = taproot::LeafHash(0xc0, rng.Get(40));
    EXPECT_TRUE(ix.InsertLeafHash(h, {9, RefKind::RecoverLeaf}));
    r.clear();
    EXPECT_EQ(ix.FindLeafHash(h, r), 1u);

    EXPECT_TRUE(ix.EraseLeaf(0xc0, script, a));
    EXPECT_FALSE(ix.EraseLeaf(0xc0, script, a));
    r.clear();
    EXPECT_EQ(ix.FindLeaf(0xc0, script, r), 1u);
    EXPECT_EQ(r[0], b);
    EXPECT_TRUE(ix.EraseSpk(spk, {7, RefKind::VaultSpk}));
    EXPECT_TRUE(ix.EraseOutpoint(txid, 3, {7, RefKind::VaultOutpoint}));
    EXPECT_TRUE(ix.EraseLeafHash(h, {9, RefKind::RecoverLeaf}));
    r.clear();
    EXPECT_EQ(ix.FindSpk(spk, r) + ix.FindOutpoint(txid, 3, r) + ix.FindLeafHash(h, r), 0u);
    EXPECT_EQ(ix.size(), 1u);
    // Re-insert after erase reuses tombstones.
    EXPECT_TRUE(ix.InsertSpk(spk, {7, RefKind::VaultSpk}));
    EXPECT_EQ(ix.FindSpk(spk, r), 1u);
}

TEST(watch_index_tests, a_shared_leaf_is_indexed_once_and_counted)
{
    // AcquireLeaf files a leaf from its size and fingerprint alone (a cold start has no script),
    // and is found by its script exactly as InsertLeaf's are.
    vault::WatchIndex ix;
    Rng rng{2};
    const Bytes script = rng.Get(34);
    const Uint256 h = taproot::LeafHash(0xc0, script);
    const uint64_t fp = vault::WatchIndex::LeafFingerprint(0xc0, script);
    EXPECT_EQ(ix.AcquireLeaf(0xc0, 34, fp, h, {3, RefKind::RecoverLeaf}), 1u);
    EXPECT_EQ(ix.AcquireLeaf(0xc0, 34, fp, h, {4, RefKind::RecoverLeaf}), 2u);
    EXPECT_EQ(ix.AcquireLeaf(0xc0, 34, fp, h, {5, RefKind::RecoverLeaf}), 3u);
    EXPECT_EQ(ix.size(), 1u);
    std::vector<VaultRef> r;
    EXPECT_EQ(ix.FindLeaf(0xc0, script, r), 1u);
    EXPECT_EQ(r[0], (VaultRef{3, RefKind::RecoverLeaf})) << "filed under its first user";
    // The scanner finds it in a script-path spend like any other leaf.
    EXPECT_EQ(ix.ReleaseLeaf(fp, h), std::optional<uint32_t>{2});
    EXPECT_EQ(ix.ReleaseLeaf(fp, h), std::optional<uint32_t>{1});
    r.clear();
    EXPECT_EQ(ix.FindLeaf(0xc0, script, r), 1u) << "kept while a user is left";
    EXPECT_EQ(ix.ReleaseLeaf(fp, h), std::optional<uint32_t>{0});
    r.clear();
    EXPECT_EQ(ix.FindLeaf(0xc0, script, r), 0u);
    EXPECT_EQ(ix.size(), 0u);
    EXPECT_FALSE(ix.ReleaseLeaf(fp, h)) << "not acquired";
    // A leaf added by InsertLeaf is not counted: ReleaseLeaf leaves it alone.
    EXPECT_TRUE(ix.InsertLeaf(0xc0, script, {6, RefKind::TriggerLeaf}));
    EXPECT_FALSE(ix.ReleaseLeaf(fp, h));
    EXPECT_EQ(ix.size(), 1u);
}

TEST(watch_index_tests, vault_ref_packing)
{
    const VaultRef r{VaultRef::MAX_VAULT, RefKind::TriggerOutpoint};
    EXPECT_EQ(VaultRef::Unpack(r.Pack()), r);
    EXPECT_EQ(VaultRef::Unpack(VaultRef{0, RefKind::Other}.Pack()), (VaultRef{0, RefKind::Other}));
}

TEST(watch_index_tests, fast_hash_is_deterministic_and_length_sensitive)
{
    std::set<uint64_t> seen;
    Bytes data(100, 0);
    for (size_t n = 0; n <= 100; ++n) EXPECT_TRUE(seen.insert(vault::FastHash64(ByteSpan{data.data(), n}, 1)).second);
    EXPECT_EQ(vault::FastHash64(data, 5), vault::FastHash64(data, 5));
    EXPECT_NE(vault::FastHash64(data, 5), vault::FastHash64(data, 6));
}

TEST(watch_index_tests, no_false_negatives_many_random_keys)
{
    // Grows from empty (several rehashes), with erases mixed in; every present key is found,
    // every absent key is not.
    vault::WatchIndex ix;
    Rng rng{42};
    constexpr size_t N = 60000;
    std::vector<Bytes> scripts, spks, txids;
    for (size_t i = 0; i < N; ++i) {
        scripts.push_back(rng.Get(20 + rng.Next() % 100));
        spks.push_back(rng.Get(22 + rng.Next() % 20));
        txids.push_back(rng.Get(32));
        const auto v = static_cast<uint32_t>(i);
        ASSERT_TRUE(ix.InsertLeaf(0xc0, scripts.back(), {v, RefKind::TriggerLeaf}));
        ASSERT_TRUE(ix.InsertSpk(spks.back(), {v, RefKind::VaultSpk}));
        ASSERT_TRUE(ix.InsertOutpoint(txids.back(), v % 5, {v, RefKind::VaultOutpoint}));
    }
    for (size_t i = 0; i < N; i += 3) {
        const auto v = static_cast<uint32_t>(i);
        ASSERT_TRUE(ix.EraseOutpoint(txids[i], v % 5, {v, RefKind::VaultOutpoint}));
    }
    EXPECT_EQ(ix.size(), 3 * N - (N + 2) / 3);
    std::vector<VaultRef> r;
    for (size_t i = 0; i < N; ++i) {
        const auto v = static_cast<uint32_t>(i);
        r.clear();
        ASSERT_EQ(ix.FindLeaf(0xc0, scripts[i], r), 1u) << i;
        ASSERT_EQ(r[0], (VaultRef{v, RefKind::TriggerLeaf}));
        ASSERT_EQ(ix.FindSpk(spks[i], r), 1u) << i;
        ASSERT_EQ(ix.FindOutpoint(txids[i], v % 5, r), i % 3 == 0 ? 0u : 1u) << i;
        ASSERT_EQ(ix.FindOutpoint(txids[i], v % 5 + 1, r), 0u);
    }
    for (size_t i = 0; i < N; ++i) {
        ASSERT_EQ(ix.FindLeaf(0xc0, rng.Get(50), r), 0u);
        ASSERT_EQ(ix.FindSpk(rng.Get(34), r), 0u);
        ASSERT_EQ(ix.FindOutpoint(rng.Get(32), 0, r), 0u);
    }
    EXPECT_GT(ix.MemoryUsage(), 0u);
}

namespace {

struct RealCase {
    Bytes raw;
    Block block;
};

RealCase LoadReal(const std::string& name)
{
    RealCase c;
    c.raw = ReadBlock(name);
    auto b = DecodeBlock(c.raw);
    EXPECT_TRUE(b) << name;
    if (b) c.block = std::move(*b);
    return c;
}

//! Registers real keys from the block (and random noise): several prevouts, output spks and
//! the leaves of script-path inputs (one of them by hash only when hash_only is set).
void RegisterReal(const Block& b, vault::WatchIndex& ix, Naive& n, bool hash_only_leaf)
{
    Rng rng{99};
    uint32_t v = 1;
    for (size_t t = 1; t < b.txs.size(); t += std::max<size_t>(1, b.txs.size() / 7)) {
        n.AddOutpoint(ix, b.txs[t].vin()[0].prevout, {v++, RefKind::VaultOutpoint});
        n.AddSpk(ix, b.txs[t].vout().back().script_pubkey, {v++, RefKind::VaultSpk});
    }
    n.AddSpk(ix, b.txs[0].vout()[0].script_pubkey, {v++, RefKind::TriggerSpk});
    int leaves = 0;
    for (size_t t = 1; t < b.txs.size() && leaves < 6; t += 53) {
        for (const auto& in : b.txs[t].vin()) {
            std::vector<ByteSpan> items(in.witness.begin(), in.witness.end());
            auto sp = taproot::ClassifyWitness(items);
            if (!sp || sp->kind != taproot::Spend::Kind::ScriptPath || sp->control.empty()) continue;
            const auto ver = static_cast<uint8_t>(sp->control[0] & 0xfe);
            if (hash_only_leaf && leaves == 0) {
                n.AddLeafHash(ix, taproot::LeafHash(ver, sp->script), {v++, RefKind::RecoverLeaf});
            } else {
                n.AddLeaf(ix, ver, sp->script, {v++, RefKind::TriggerLeaf});
            }
            ++leaves;
            break;
        }
    }
    // Noise: random keys that will not match.
    for (int i = 0; i < 2000; ++i) {
        n.AddLeaf(ix, 0xc0, rng.Get(40 + rng.Next() % 60), {v++, RefKind::TriggerLeaf});
        n.AddSpk(ix, rng.Get(34), {v++, RefKind::VaultSpk});
        OutPoint o;
        o.txid = Txid::FromUint256(Uint256::FromSpan(rng.Get(32)));
        o.n = 1;
        n.AddOutpoint(ix, o, {v++, RefKind::VaultOutpoint});
    }
}

void CheckAgainstNaive(const std::string& name, bool hash_only_leaf, size_t min_leaf_matches)
{
    const RealCase c = LoadReal(name);
    ASSERT_FALSE(c.block.txs.empty());
    vault::WatchIndex ix;
    Naive n;
    RegisterReal(c.block, ix, n, hash_only_leaf);

    std::vector<vault::Match> got;
    auto st = vault::ScanBlock(c.raw, ix, got);
    ASSERT_TRUE(st) << ToString(st.error());
    EXPECT_EQ(st->txs, c.block.txs.size());
    EXPECT_EQ(st->matches, got.size());

    std::vector<Key> keys;
    size_t leaf_matches = 0;
    for (const auto& m : got) {
        keys.push_back(KeyOf(m));
        EXPECT_EQ(m.txid, c.block.txs[m.tx_index].GetTxid());
        EXPECT_EQ(SerializeTransaction(c.block.txs[m.tx_index]), Bytes(c.raw.begin() + m.tx_offset, c.raw.begin() + m.tx_offset + m.tx_size));
        leaf_matches += m.what == MatchWhat::InputLeaf;
    }
    // Block order: tx index never decreases.
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.tx_index < b.tx_index; }));
    std::sort(keys.begin(), keys.end());
    const auto want = NaiveScan(c.block, n);
    EXPECT_EQ(keys, want);
    EXPECT_GE(want.size(), 5u);
    EXPECT_GE(leaf_matches, min_leaf_matches);
    // Only leaf candidates that pass the pre-filter are hashed.
    if (!hash_only_leaf) {
        EXPECT_LT(st->leaf_hashes, st->leaf_candidates / 10 + 10);
    }

    // ScanTransaction on each matching transaction gives the same matches for it.
    for (const auto& m : got) {
        std::vector<vault::Match> one;
        auto s1 = vault::ScanTransaction(ByteSpan{c.raw.data() + m.tx_offset, m.tx_size}, ix, one, m.tx_index);
        ASSERT_TRUE(s1);
        EXPECT_TRUE(std::any_of(one.begin(), one.end(), [&](const auto& x) {
            return KeyOf(x) == KeyOf(m) && x.txid == m.txid && x.tx_offset == 0;
        }));
    }
}

} // namespace

TEST(watch_index_tests, scan_matches_naive_reference_mainnet_block)
{
    CheckAgainstNaive("block413567.raw", false, 0);
}

TEST(watch_index_tests, scan_matches_naive_reference_taproot_block)
{
    CheckAgainstNaive("regtest-taproot-block.raw", false, 6);
}

TEST(watch_index_tests, scan_matches_naive_reference_with_hash_only_leaf)
{
    CheckAgainstNaive("regtest-taproot-block.raw", true, 6);
}

TEST(watch_index_tests, the_filter_keeps_nearly_every_unwatched_probe_off_the_table)
{
    // A block's inputs and outputs are almost never watched; each one the filter lets through is
    // a random read in a table of hundreds of MiB at a million vaults (vw_bench_scan's "tblrd").
    // Two bits per key in half a word per bucket let about 1 in 9 through; four bits in a word
    // per bucket about 1 in 50. Two book sizes are checked, so two loads of the table.
    const RealCase c = LoadReal("regtest-taproot-block.raw");
    for (const size_t vaults : {40000u, 60000u}) {
        vault::WatchIndex ix;
        Rng rng{vaults};
        for (uint32_t v = 0; v < vaults; ++v) {
            ASSERT_TRUE(ix.InsertLeaf(0xc0, rng.Get(34), {v, RefKind::TriggerLeaf}));
            ASSERT_TRUE(ix.InsertLeaf(0xc0, rng.Get(69), {v, RefKind::RecoverLeaf}));
            Bytes spk = rng.Get(34);
            spk[0] = 0x51;
            spk[1] = 0x20;
            ASSERT_TRUE(ix.InsertSpk(spk, {v, RefKind::VaultSpk}));
            ASSERT_TRUE(ix.InsertOutpoint(rng.Get(32), 0, {v, RefKind::VaultOutpoint}));
            ASSERT_TRUE(ix.InsertOutpoint(rng.Get(32), 1, {v, RefKind::TriggerOutpoint}));
        }
        std::vector<vault::Match> got;
        auto st = vault::ScanBlock(c.raw, ix, got);
        ASSERT_TRUE(st);
        EXPECT_TRUE(got.empty());
        const uint64_t probes = st->inputs + st->outputs + st->leaf_candidates;
        ASSERT_GT(probes, 10000u);
        EXPECT_LT(st->table_reads * 25, probes) << st->table_reads << " of " << probes << " probes read the table, at "
                                                << vaults << " vaults";
    }
}

TEST(watch_index_tests, scan_empty_index_and_no_matches)
{
    const RealCase c = LoadReal("block413567.raw");
    vault::WatchIndex ix;
    std::vector<vault::Match> got;
    auto st = vault::ScanBlock(c.raw, ix, got);
    ASSERT_TRUE(st);
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(st->txs, c.block.txs.size());
}

TEST(watch_index_tests, scan_errors_agree_with_decode_block)
{
    const RealCase c = LoadReal("regtest-taproot-block.raw");
    vault::WatchIndex ix;
    Naive n;
    RegisterReal(c.block, ix, n, false);
    auto check = [&](ByteSpan bytes) {
        std::vector<vault::Match> got{vault::Match{}}; // existing content must survive a failure
        auto s = vault::ScanBlock(bytes, ix, got);
        auto d = DecodeBlock(bytes);
        ASSERT_EQ(static_cast<bool>(s), static_cast<bool>(d)) << bytes.size();
        if (!s) {
            EXPECT_EQ(s.error().code, d.error().code);
            EXPECT_EQ(s.error().tx_index, d.error().tx_index);
            EXPECT_EQ(ToString(s.error()), ToString(d.error()));
            EXPECT_EQ(got.size(), 1u);
        }
    };
    const ByteSpan all = c.raw;
    for (size_t len : {size_t{0}, size_t{79}, size_t{80}, size_t{81}, size_t{200}, all.size() / 2, all.size() - 1}) {
        check(all.first(len));
    }
    Bytes trailing = c.raw;
    trailing.push_back(0);
    check(trailing);
    Bytes notx(c.raw.begin(), c.raw.begin() + 80);
    notx.push_back(0);
    check(notx);
    Rng rng{5};
    for (int i = 0; i < 200; ++i) {
        Bytes g = rng.Get(static_cast<size_t>(rng.Next() % 400));
        check(g);
        if (i % 10) continue;
        Bytes m = c.raw; // a few flipped bytes in a real block
        for (int k = 0; k < 3; ++k) m[rng.Next() % m.size()] ^= static_cast<uint8_t>(1 + rng.Next() % 255);
        check(m);
    }
    std::vector<vault::Match> got;
    EXPECT_FALSE(vault::ScanTransaction(ByteSpan{c.raw.data() + 81, 5}, ix, got));
}

TEST(watch_index_tests, empty_vin_zero_flag_is_an_empty_transaction)
{
    // Found by fuzz_transaction: "<ver> 00 00 ..." is vin=[] then flag 0, which Core reads as a
    // transaction with no inputs and no outputs; reading a vout after it made non-canonical bytes
    // decode. Both parsers (ReadTransaction, ReadTxView) must agree.
    const Bytes empty{0x02, 0, 0, 0, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44};
    auto tx = DecodeTransaction(empty);
    ASSERT_TRUE(tx);
    EXPECT_TRUE(tx->vin().empty());
    EXPECT_TRUE(tx->vout().empty());
    EXPECT_EQ(tx->locktime(), 0x44332211u);
    EXPECT_EQ(SerializeTransaction(*tx), empty);
    vault::WatchIndex ix;
    std::vector<vault::Match> got;
    EXPECT_TRUE(vault::ScanTransaction(empty, ix, got));

    Bytes longer = empty; // what used to decode as one output
    longer.insert(longer.begin() + 6, {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x00});
    auto bad = DecodeTransaction(longer);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error(), TxParseError::TrailingBytes);
    auto scan = vault::ScanTransaction(longer, ix, got);
    ASSERT_FALSE(scan);
    EXPECT_EQ(scan.error(), TxParseError::TrailingBytes);
}
