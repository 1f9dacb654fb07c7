#include "primitives/block.h"

#include "crypto/sha256.h"

#include <string>

namespace vw {

void BlockHeader::Serialize(Writer& w) const
{
    w.LE32(static_cast<uint32_t>(version)).Raw(prev_block.span()).Raw(merkle_root.span()).LE32(time).LE32(bits).LE32(nonce);
}

BlockHash BlockHeader::GetHash() const
{
    Writer w;
    Serialize(w);
    return BlockHash::FromUint256(crypto::Sha256d(w.buf()));
}

std::optional<BlockHeader> ReadBlockHeader(SpanReader& r)
{
    if (r.remaining() < BlockHeader::SIZE) return std::nullopt;
    BlockHeader h;
    h.version = static_cast<int32_t>(*r.ReadLE32());
    h.prev_block = BlockHash::FromUint256(Uint256::FromSpan(*r.ReadBytes(32)));
    h.merkle_root = Uint256::FromSpan(*r.ReadBytes(32));
    h.time = *r.ReadLE32();
    h.bits = *r.ReadLE32();
    h.nonce = *r.ReadLE32();
    return h;
}

std::string ToString(const BlockError& e)
{
    switch (e.code) {
    case BlockParseError::Truncated: return "truncated block";
    case BlockParseError::TrailingBytes: return "trailing bytes after block";
    case BlockParseError::NoTransactions: return "block has no transactions";
    case BlockParseError::BadTransaction:
        return "transaction " + std::to_string(e.tx_index) + ": " + std::string{ToString(e.tx_error)};
    }
    return "unknown error";
}

Expected<Block, BlockError> DecodeBlock(ByteSpan bytes)
{
    SpanReader r{bytes};
    auto h = ReadBlockHeader(r);
    if (!h) return Unexpected{BlockError{BlockParseError::Truncated}};
    auto n = r.ReadCompactSize();
    if (!n) return Unexpected{BlockError{BlockParseError::Truncated}};
    if (*n == 0) return Unexpected{BlockError{BlockParseError::NoTransactions}};
    // Each transaction takes at least 10 bytes; refuse counts the buffer cannot hold.
    if (*n > r.remaining() / 10) return Unexpected{BlockError{BlockParseError::Truncated}};
    Block b;
    b.header = *h;
    b.txs.reserve(static_cast<size_t>(*n));
    for (uint64_t i = 0; i < *n; ++i) {
        auto tx = ReadTransaction(r);
        if (!tx) return Unexpected{BlockError{BlockParseError::BadTransaction, static_cast<size_t>(i), tx.error()}};
        b.txs.emplace_back(std::move(*tx));
    }
    if (!r.empty()) return Unexpected{BlockError{BlockParseError::TrailingBytes}};
    return b;
}

Bytes SerializeBlock(const Block& b)
{
    Writer w;
    b.header.Serialize(w);
    w.CompactSize(b.txs.size());
    for (const auto& tx : b.txs) SerializeTransaction(tx.mutable_copy(), w, true);
    return w.Take();
}

Uint256 ComputeMerkleRoot(std::vector<Uint256> hashes, bool* mutated)
{
    bool mut = false;
    if (hashes.empty()) {
        if (mutated) *mutated = false;
        return Uint256{};
    }
    while (hashes.size() > 1) {
        for (size_t i = 0; i + 1 < hashes.size(); i += 2) {
            if (hashes[i] == hashes[i + 1]) mut = true;
        }
        if (hashes.size() & 1) hashes.push_back(hashes.back());
        for (size_t i = 0; i < hashes.size() / 2; ++i) hashes[i] = crypto::Sha256d64(hashes[2 * i], hashes[2 * i + 1]);
        hashes.resize(hashes.size() / 2);
    }
    if (mutated) *mutated = mut;
    return hashes[0];
}

Uint256 BlockMerkleRoot(const Block& b, bool* mutated)
{
    std::vector<Uint256> leaves;
    leaves.reserve(b.txs.size());
    for (const auto& tx : b.txs) leaves.push_back(tx.GetTxid().ToUint256());
    return ComputeMerkleRoot(std::move(leaves), mutated);
}

Uint256 BlockWitnessMerkleRoot(const Block& b)
{
    std::vector<Uint256> leaves;
    leaves.reserve(b.txs.size());
    leaves.emplace_back();
    for (size_t i = 1; i < b.txs.size(); ++i) leaves.push_back(b.txs[i].GetWtxid().ToUint256());
    return ComputeMerkleRoot(std::move(leaves));
}

// ---- views ------------------------------------------------------------------------------------

Txid TxView::ComputeTxid() const
{
    if (!has_witness) return Txid::FromUint256(crypto::Sha256d(raw));
    crypto::Sha256 h;
    uint8_t lt[4] = {static_cast<uint8_t>(locktime), static_cast<uint8_t>(locktime >> 8),
                     static_cast<uint8_t>(locktime >> 16), static_cast<uint8_t>(locktime >> 24)};
    h.Write(raw.first(4)).Write(stripped_body).Write(ByteSpan{lt, 4});
    const Uint256 first = h.Finalize();
    return Txid::FromUint256(crypto::Sha256Once(first.span()));
}

namespace {
constexpr size_t MIN_TXIN = 41;
constexpr size_t MIN_TXOUT = 9;

inline Expected<uint64_t, TxParseError> Count(SpanReader& r, size_t min_item)
{
    const size_t before = r.remaining();
    auto n = r.ReadCompactSize();
    if (!n) return Unexpected{before == 0 ? TxParseError::Truncated : TxParseError::BadCompactSize};
    if (min_item && *n > r.remaining() / min_item) return Unexpected{TxParseError::TooManyItems};
    return *n;
}

inline std::optional<ByteSpan> Var(SpanReader& r, TxParseError& err)
{
    const size_t before = r.remaining();
    auto n = r.ReadCompactSize();
    if (!n) {
        err = before == 0 ? TxParseError::Truncated : TxParseError::BadCompactSize;
        return std::nullopt;
    }
    auto b = r.ReadBytes(static_cast<size_t>(*n));
    if (!b) err = TxParseError::Truncated;
    return b;
}
} // namespace

Expected<void, TxParseError> ReadTxView(SpanReader& r, TxView& out)
{
    const ByteSpan all = r.data();
    const size_t start = r.pos();
    // No clear(): resize() down to n keeps the elements, and every field is written below, so a
    // reused view value-initializes nothing in steady state.
    out.has_witness = false;
    TxParseError err{TxParseError::Truncated};
    if (!r.Skip(4)) return Unexpected{TxParseError::Truncated};
    size_t body_start = r.pos();
    auto nin = Count(r, MIN_TXIN);
    if (!nin) return Unexpected{nin.error()};
    uint8_t flags = 0;
    bool empty_vout = false; // empty vin + zero flag: no inputs, no outputs (as ReadTransaction)
    if (*nin == 0) {
        auto f = r.ReadU8();
        if (!f) return Unexpected{TxParseError::Truncated};
        flags = *f;
        if (flags != 0) {
            body_start = r.pos();
            nin = Count(r, MIN_TXIN);
            if (!nin) return Unexpected{nin.error()};
        } else {
            empty_vout = true;
        }
    }
    out.vin.resize(static_cast<size_t>(*nin));
    for (auto& in : out.vin) {
        auto h = r.ReadBytes(32);
        auto idx = r.ReadLE32();
        if (!h || !idx) return Unexpected{TxParseError::Truncated};
        in.prevout_txid = *h;
        in.prevout_n = *idx;
        auto ss = Var(r, err);
        if (!ss) return Unexpected{err};
        in.script_sig = *ss;
        auto seq = r.ReadLE32();
        if (!seq) return Unexpected{TxParseError::Truncated};
        in.sequence = *seq;
        in.witness = {};
        in.witness_items = 0;
    }
    auto nout = empty_vout ? Expected<uint64_t, TxParseError>{uint64_t{0}} : Count(r, MIN_TXOUT);
    if (!nout) return Unexpected{nout.error()};
    out.vout.resize(static_cast<size_t>(*nout));
    for (auto& o : out.vout) {
        auto v = r.ReadLE64();
        if (!v) return Unexpected{TxParseError::Truncated};
        o.value = static_cast<int64_t>(*v);
        auto spk = Var(r, err);
        if (!spk) return Unexpected{err};
        o.script_pubkey = *spk;
    }
    out.stripped_body = all.subspan(body_start, r.pos() - body_start);
    if (flags & 1) {
        flags ^= 1;
        for (auto& in : out.vin) {
            auto n = Count(r, 1);
            if (!n) return Unexpected{n.error()};
            const size_t wstart = r.pos();
            for (uint64_t i = 0; i < *n; ++i) {
                if (!Var(r, err)) return Unexpected{err};
            }
            in.witness = all.subspan(wstart, r.pos() - wstart);
            in.witness_items = static_cast<uint32_t>(*n);
            if (*n) out.has_witness = true;
        }
        if (!out.has_witness) return Unexpected{TxParseError::SuperfluousWitness};
    }
    if (flags != 0) return Unexpected{TxParseError::UnknownOptionalData};
    auto lt = r.ReadLE32();
    if (!lt) return Unexpected{TxParseError::Truncated};
    out.locktime = *lt;
    out.raw = all.subspan(start, r.pos() - start);
    return {};
}

bool WitnessItems(ByteSpan witness, uint32_t count, std::vector<ByteSpan>& out)
{
    out.clear();
    SpanReader r{witness};
    for (uint32_t i = 0; i < count; ++i) {
        auto b = r.ReadVarBytes();
        if (!b) return false;
        out.push_back(*b);
    }
    return r.empty();
}

} // namespace vw
