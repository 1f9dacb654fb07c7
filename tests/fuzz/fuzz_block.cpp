// Blocks from the network (ZMQ rawblock, getblock): DecodeBlock and the zero-copy ScanBlock must
// agree on success and on the error, and on success ScanBlock's matches must equal a naive scan
// of the decoded block against the same small index.
#include "primitives/block.h"
#include "script/taproot.h"
#include "vault/watch_index.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <tuple>

namespace {
using namespace vw;

// Small keys the fuzzer can reach: outpoints with an all-zero / all-0x01 txid, short spks, short
// leaf scripts (leaf version 0xc0).
const Bytes kZero32(32, 0), kOne32(32, 1);
const Bytes kSpkA{0x51}, kSpkB{0x00, 0x01, 0x02}, kSpkEmpty{};
const Bytes kLeafA{0x51}, kLeafB{0xac, 0xbb};

const vault::WatchIndex& Index()
{
    static const vault::WatchIndex ix = [] {
        vault::WatchIndex w;
        w.InsertOutpoint(kZero32, 0, {1, vault::RefKind::VaultOutpoint});
        w.InsertOutpoint(kZero32, 0xffffffff, {2, vault::RefKind::VaultOutpoint});
        w.InsertOutpoint(kOne32, 1, {3, vault::RefKind::TriggerOutpoint});
        w.InsertSpk(kSpkA, {4, vault::RefKind::VaultSpk});
        w.InsertSpk(kSpkB, {5, vault::RefKind::TriggerSpk});
        w.InsertSpk(kSpkEmpty, {6, vault::RefKind::VaultSpk});
        w.InsertLeaf(0xc0, kLeafA, {7, vault::RefKind::TriggerLeaf});
        w.InsertLeaf(0xc0, kLeafB, {8, vault::RefKind::RecoverLeaf});
        w.InsertLeafHash(taproot::LeafHash(0xc2, kLeafA), {9, vault::RefKind::RecoverLeaf});
        return w;
    }();
    return ix;
}

using Key = std::tuple<uint32_t, int, uint32_t, uint32_t>;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const ByteSpan in{data, size};
    const auto& ix = Index();
    auto blk = DecodeBlock(in);
    std::vector<vault::Match> got;
    auto scan = vault::ScanBlock(in, ix, got);
    if (static_cast<bool>(blk) != static_cast<bool>(scan)) std::abort();
    if (!blk) {
        if (blk.error().code != scan.error().code || blk.error().tx_index != scan.error().tx_index ||
            blk.error().tx_error != scan.error().tx_error || !got.empty()) {
            std::abort();
        }
        return 0;
    }
    std::vector<Key> want;
    std::vector<vault::VaultRef> refs;
    for (uint32_t t = 0; t < blk->txs.size(); ++t) {
        const auto& tx = blk->txs[t];
        for (uint32_t i = 0; i < tx.vin().size(); ++i) {
            const auto& vin = tx.vin()[i];
            refs.clear();
            ix.FindOutpoint(vin.prevout.txid.span(), vin.prevout.n, refs);
            for (auto r : refs) want.emplace_back(t, 0, i, r.Pack());
            std::vector<ByteSpan> items(vin.witness.begin(), vin.witness.end());
            auto sp = taproot::ClassifyWitness(items);
            if (!sp || sp->kind != taproot::Spend::Kind::ScriptPath) continue;
            const size_t cs = sp->control.size();
            if (cs < 33 || (cs - 33) % 32 != 0 || (cs - 33) / 32 > 128) continue;
            refs.clear();
            ix.FindLeafHash(taproot::LeafHash(static_cast<uint8_t>(sp->control[0] & 0xfe), sp->script), refs);
            ix.FindLeaf(static_cast<uint8_t>(sp->control[0] & 0xfe), sp->script, refs);
            std::sort(refs.begin(), refs.end());
            refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
            for (auto r : refs) want.emplace_back(t, 1, i, r.Pack());
        }
        for (uint32_t o = 0; o < tx.vout().size(); ++o) {
            refs.clear();
            ix.FindSpk(tx.vout()[o].script_pubkey, refs);
            for (auto r : refs) want.emplace_back(t, 2, o, r.Pack());
        }
    }
    std::vector<Key> have;
    for (const auto& m : got) {
        have.emplace_back(m.tx_index, static_cast<int>(m.what), m.io_index, m.ref.Pack());
        if (m.txid != blk->txs[m.tx_index].GetTxid()) std::abort();
    }
    std::sort(want.begin(), want.end());
    std::sort(have.begin(), have.end());
    if (want != have) std::abort();
    if (scan->txs != blk->txs.size()) std::abort();
    return 0;
}
