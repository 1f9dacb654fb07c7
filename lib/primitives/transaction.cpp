#include "primitives/transaction.h"

#include "crypto/sha256.h"
#include "util/hex.h"

namespace vw {

std::string_view ToString(TxParseError e)
{
    switch (e) {
    case TxParseError::Truncated: return "truncated transaction";
    case TxParseError::TrailingBytes: return "trailing bytes after transaction";
    case TxParseError::BadCompactSize: return "non-canonical or oversized CompactSize";
    case TxParseError::UnknownOptionalData: return "unknown transaction optional data (segwit flag)";
    case TxParseError::SuperfluousWitness: return "superfluous witness record";
    case TxParseError::TooManyItems: return "item count exceeds the remaining bytes";
    }
    return "unknown error";
}

bool MutableTransaction::HasWitness() const
{
    for (const auto& in : vin) {
        if (!in.witness.empty()) return true;
    }
    return false;
}

void SerializeTransaction(const MutableTransaction& tx, Writer& w, bool with_witness)
{
    const bool wit = with_witness && tx.HasWitness();
    w.LE32(static_cast<uint32_t>(tx.version));
    if (wit) w.U8(0).U8(1);
    w.CompactSize(tx.vin.size());
    for (const auto& in : tx.vin) {
        w.Raw(in.prevout.txid.span()).LE32(in.prevout.n).VarBytes(in.script_sig).LE32(in.sequence);
    }
    w.CompactSize(tx.vout.size());
    for (const auto& out : tx.vout) {
        w.LE64(static_cast<uint64_t>(out.value.sats())).VarBytes(out.script_pubkey);
    }
    if (wit) {
        for (const auto& in : tx.vin) {
            w.CompactSize(in.witness.size());
            for (const auto& item : in.witness) w.VarBytes(item);
        }
    }
    w.LE32(tx.locktime);
}

Bytes SerializeTransaction(const MutableTransaction& tx, bool with_witness)
{
    Writer w;
    SerializeTransaction(tx, w, with_witness);
    return w.Take();
}

Txid ComputeTxid(const MutableTransaction& tx)
{
    return Txid::FromUint256(crypto::Sha256d(SerializeTransaction(tx, false)));
}

Transaction::Transaction(MutableTransaction mtx) : m_tx(std::move(mtx))
{
    // One reusable buffer per thread: decoding a block constructs thousands of these.
    thread_local Bytes buf;
    buf.clear();
    Writer w{buf};
    SerializeTransaction(m_tx, w, false);
    m_base_size = buf.size();
    m_txid = Txid::FromUint256(crypto::Sha256d(buf));
    m_total_size = m_base_size;
    if (m_tx.HasWitness()) {
        m_total_size += 2; // marker and flag
        for (const auto& in : m_tx.vin) {
            m_total_size += CompactSizeLen(in.witness.size());
            for (const auto& item : in.witness) m_total_size += CompactSizeLen(item.size()) + item.size();
        }
    }
    if (buf.capacity() > (1u << 22)) Bytes{}.swap(buf); // don't pin a huge buffer forever
}

Wtxid Transaction::GetWtxid() const
{
    if (!HasWitness()) return Wtxid::FromUint256(m_txid.ToUint256());
    return Wtxid::FromUint256(crypto::Sha256d(SerializeTransaction(m_tx, true)));
}

namespace {

// Smallest serialized sizes, used to refuse counts that the remaining bytes cannot hold before
// allocating anything for them.
constexpr size_t MIN_TXIN_SIZE = 32 + 4 + 1 + 4;
constexpr size_t MIN_TXOUT_SIZE = 8 + 1;

#define VW_TRY_READ(var, expr)                                         \
    auto var = (expr);                                                 \
    if (!var) return Unexpected{TxParseError::Truncated};

Expected<uint64_t, TxParseError> ReadCount(SpanReader& r, size_t min_item_size)
{
    const size_t before = r.remaining();
    auto n = r.ReadCompactSize();
    if (!n) return Unexpected{before == 0 ? TxParseError::Truncated : TxParseError::BadCompactSize};
    if (min_item_size > 0 && *n > r.remaining() / min_item_size) return Unexpected{TxParseError::TooManyItems};
    return *n;
}

Expected<Bytes, TxParseError> ReadVar(SpanReader& r)
{
    auto n = ReadCount(r, 1);
    if (!n) return Unexpected{n.error() == TxParseError::TooManyItems ? TxParseError::Truncated : n.error()};
    auto b = r.ReadBytes(static_cast<size_t>(*n));
    if (!b) return Unexpected{TxParseError::Truncated};
    return Bytes(b->begin(), b->end());
}

Expected<std::vector<TxIn>, TxParseError> ReadInputs(SpanReader& r, uint64_t n)
{
    std::vector<TxIn> vin;
    vin.reserve(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
        TxIn in;
        VW_TRY_READ(h, r.ReadBytes(32));
        in.prevout.txid = Txid::FromUint256(Uint256::FromSpan(*h));
        VW_TRY_READ(idx, r.ReadLE32());
        in.prevout.n = *idx;
        auto ss = ReadVar(r);
        if (!ss) return Unexpected{ss.error()};
        in.script_sig = std::move(*ss);
        VW_TRY_READ(seq, r.ReadLE32());
        in.sequence = *seq;
        vin.push_back(std::move(in));
    }
    return vin;
}

Expected<std::vector<TxOut>, TxParseError> ReadOutputs(SpanReader& r)
{
    auto n = ReadCount(r, MIN_TXOUT_SIZE);
    if (!n) return Unexpected{n.error()};
    std::vector<TxOut> vout;
    vout.reserve(static_cast<size_t>(*n));
    for (uint64_t i = 0; i < *n; ++i) {
        TxOut out;
        VW_TRY_READ(v, r.ReadLE64());
        out.value = Amount{static_cast<int64_t>(*v)};
        auto spk = ReadVar(r);
        if (!spk) return Unexpected{spk.error()};
        out.script_pubkey = std::move(*spk);
        vout.push_back(std::move(out));
    }
    return vout;
}

} // namespace

Expected<MutableTransaction, TxParseError> ReadTransaction(SpanReader& r)
{
    MutableTransaction tx;
    VW_TRY_READ(ver, r.ReadLE32());
    tx.version = static_cast<int32_t>(*ver);

    // BIP-144: an empty input list followed by a flag byte marks the extended format.
    auto nin = ReadCount(r, MIN_TXIN_SIZE);
    if (!nin) return Unexpected{nin.error()};
    uint8_t flags = 0;
    // As Core: an empty vin followed by a zero flag byte is a transaction with no inputs and no
    // outputs (the zero was the empty vout); reading a vout after it would decode
    // non-canonical bytes that do not re-serialize to themselves.
    bool empty_vout = false;
    if (*nin == 0) {
        VW_TRY_READ(f, r.ReadU8());
        flags = *f;
        if (flags != 0) {
            nin = ReadCount(r, MIN_TXIN_SIZE);
            if (!nin) return Unexpected{nin.error()};
        } else {
            empty_vout = true;
        }
    }
    auto vin = ReadInputs(r, *nin);
    if (!vin) return Unexpected{vin.error()};
    tx.vin = std::move(*vin);
    if (!empty_vout) {
        auto vout = ReadOutputs(r);
        if (!vout) return Unexpected{vout.error()};
        tx.vout = std::move(*vout);
    }
    if (flags & 1) {
        flags ^= 1;
        for (auto& in : tx.vin) {
            auto n = ReadCount(r, 1);
            if (!n) return Unexpected{n.error()};
            in.witness.reserve(static_cast<size_t>(*n));
            for (uint64_t i = 0; i < *n; ++i) {
                auto item = ReadVar(r);
                if (!item) return Unexpected{item.error()};
                in.witness.push_back(std::move(*item));
            }
        }
        if (!tx.HasWitness()) return Unexpected{TxParseError::SuperfluousWitness};
    }
    if (flags != 0) return Unexpected{TxParseError::UnknownOptionalData};
    VW_TRY_READ(lt, r.ReadLE32());
    tx.locktime = *lt;
    return tx;
}

Expected<MutableTransaction, TxParseError> ReadTransactionNoWitness(SpanReader& r)
{
    MutableTransaction tx;
    VW_TRY_READ(ver, r.ReadLE32());
    tx.version = static_cast<int32_t>(*ver);
    auto nin = ReadCount(r, MIN_TXIN_SIZE);
    if (!nin) return Unexpected{nin.error()};
    auto vin = ReadInputs(r, *nin);
    if (!vin) return Unexpected{vin.error()};
    tx.vin = std::move(*vin);
    auto vout = ReadOutputs(r);
    if (!vout) return Unexpected{vout.error()};
    tx.vout = std::move(*vout);
    VW_TRY_READ(lt, r.ReadLE32());
    tx.locktime = *lt;
    return tx;
}

Expected<Transaction, TxParseError> DecodeTransaction(ByteSpan bytes)
{
    SpanReader r{bytes};
    auto tx = ReadTransaction(r);
    if (!tx) return Unexpected{tx.error()};
    if (!r.empty()) return Unexpected{TxParseError::TrailingBytes};
    return Transaction{std::move(*tx)};
}

Expected<Transaction, TxParseError> DecodeTransactionHex(std::string_view hex)
{
    auto b = ParseHex(hex);
    if (!b) return Unexpected{TxParseError::Truncated};
    return DecodeTransaction(*b);
}

} // namespace vw
