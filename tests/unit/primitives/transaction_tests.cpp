// Transactions: exact round trip of every transaction of the two real blocks, txid/wtxid and
// sizes, rejection of every strict prefix and of trailing bytes (never a crash or a throw), and
// the BIP-144 marker/flag rules as Bitcoin Core's UnserializeTransaction applies them.
#include "primitives/transaction.h"

#include "crypto/sha256.h"
#include "primitives/block.h"
#include "unit/primitives/test_blocks.h"

#include <gtest/gtest.h>

namespace vw {
namespace {

using test::Unhex;

TEST(transaction_tests, EveryBlockTransactionRoundTrips)
{
    for (const test::RawBlock* rb : {&test::Mainnet413567(), &test::RegtestTaproot()}) {
        SCOPED_TRACE(rb->name);
        ASSERT_TRUE(rb->block);
        const auto slices = test::TxSlices(*rb);
        ASSERT_EQ(slices.size(), rb->block->txs.size());
        for (size_t i = 0; i < slices.size(); ++i) {
            auto tx = DecodeTransaction(slices[i]);
            ASSERT_TRUE(tx) << i << ": " << ToString(tx.error());
            EXPECT_EQ(tx->mutable_copy(), rb->block->txs[i].mutable_copy()) << i;
            EXPECT_TRUE(Equal(SerializeTransaction(*tx), slices[i])) << i;
            EXPECT_EQ(tx->TotalSize(), slices[i].size()) << i;
            EXPECT_EQ(tx->GetTxid(), ComputeTxid(tx->mutable_copy())) << i;
            EXPECT_EQ(tx->GetWtxid().ToUint256(), crypto::Sha256d(slices[i])) << i;
            if (!tx->HasWitness()) {
                EXPECT_EQ(tx->GetTxid().ToUint256(), tx->GetWtxid().ToUint256()) << i;
            }
            EXPECT_EQ(tx->Weight(), tx->BaseSize() * 3 + tx->TotalSize());
            EXPECT_EQ(tx->VSize(), (tx->Weight() + 3) / 4);
            // The hex entry point agrees.
            if (i < 20) {
                EXPECT_EQ(DecodeTransactionHex(HexStr(slices[i]))->GetTxid(), tx->GetTxid()) << i;
            }
        }
    }
}

//! Every strict prefix must fail in both decoders, with a truncation-type error.
void CheckPrefixesRejected(ByteSpan tx)
{
    TxView v;
    for (size_t n = 0; n < tx.size(); ++n) {
        const ByteSpan p = tx.first(n);
        auto d = DecodeTransaction(p);
        ASSERT_FALSE(d) << "prefix of " << n << " bytes decoded";
        EXPECT_NE(d.error(), TxParseError::TrailingBytes) << n;
        SpanReader r{p};
        auto dv = ReadTxView(r, v);
        ASSERT_FALSE(dv) << "TxView accepted a prefix of " << n << " bytes";
        EXPECT_EQ(dv.error(), d.error()) << n;
    }
}

TEST(transaction_tests, EveryStrictPrefixIsRejected)
{
    size_t checked = 0, bytes = 0;
    for (const test::RawBlock* rb : {&test::Mainnet413567(), &test::RegtestTaproot()}) {
        SCOPED_TRACE(rb->name);
        const auto slices = test::TxSlices(*rb);
        ASSERT_FALSE(slices.empty());
        // The coinbase, every 25th transaction, and the largest one under 10 kB: all shapes
        // (legacy, P2SH, segwit key and script path, coinbase) without a quadratic run over
        // 2.6 MB (the 65 kB transaction alone would take 2 * 65k decodes).
        size_t largest = 0;
        for (size_t i = 0; i < slices.size(); ++i) {
            if (slices[i].size() < 10'000 && slices[i].size() > slices[largest].size()) largest = i;
        }
        for (size_t i = 0; i < slices.size(); ++i) {
            if (i % 25 != 0 && i != largest) continue;
            SCOPED_TRACE("tx " + std::to_string(i));
            CheckPrefixesRejected(slices[i]);
            ++checked;
            bytes += slices[i].size();
            if (HasFatalFailure()) return;
        }
    }
    EXPECT_GT(checked, 200u);
    EXPECT_GT(bytes, 50'000u);
}

TEST(transaction_tests, TrailingBytesRejected)
{
    const auto slices = test::TxSlices(test::RegtestTaproot());
    ASSERT_GT(slices.size(), 2u);
    for (size_t i : {size_t{0}, size_t{1}}) {
        Bytes b(slices[i].begin(), slices[i].end());
        b.push_back(0x00);
        auto d = DecodeTransaction(b);
        ASSERT_FALSE(d);
        EXPECT_EQ(d.error(), TxParseError::TrailingBytes);
        // The stream readers stop after the transaction and leave the byte.
        SpanReader r{b};
        ASSERT_TRUE(ReadTransaction(r));
        EXPECT_EQ(r.remaining(), 1u);
        SpanReader rv{b};
        TxView v;
        ASSERT_TRUE(ReadTxView(rv, v));
        EXPECT_EQ(rv.remaining(), 1u);
        EXPECT_EQ(v.raw.size(), slices[i].size());
    }
}

// A one-input, one-output transaction in parts, for building marker/flag variants.
const std::string VERSION = "02000000";
const std::string INPUT = "01" + std::string(64, 'a') + "05000000" + "00" + "fdffffff";
const std::string OUTPUT = "01" + std::string("e803000000000000") + "02" + "5100";
const std::string LOCKTIME = "00000000";

struct FlagCase {
    const char* name;
    std::string hex;
    std::optional<TxParseError> error; // nullopt = accepted
};

TEST(transaction_tests, MarkerAndFlagRulesMatchCore)
{
    const FlagCase cases[] = {
        {"legacy", VERSION + INPUT + OUTPUT + LOCKTIME, std::nullopt},
        {"segwit with one witness item", VERSION + "0001" + INPUT + OUTPUT + "0102abcd" + LOCKTIME, std::nullopt},
        {"segwit with one empty witness item", VERSION + "0001" + INPUT + OUTPUT + "0100" + LOCKTIME, std::nullopt},
        {"segwit flag, every witness stack empty", VERSION + "0001" + INPUT + OUTPUT + "00" + LOCKTIME,
         TxParseError::SuperfluousWitness},
        {"segwit flag and zero inputs", VERSION + "0001" + "00" + OUTPUT + LOCKTIME, TxParseError::SuperfluousWitness},
        {"flag 2 (unknown)", VERSION + "0002" + INPUT + OUTPUT + LOCKTIME, TxParseError::UnknownOptionalData},
        {"flag 3: witness then unknown bit", VERSION + "0003" + INPUT + OUTPUT + "0102abcd" + LOCKTIME,
         TxParseError::UnknownOptionalData},
        {"flag 0x80", VERSION + "0080" + INPUT + OUTPUT + LOCKTIME, TxParseError::UnknownOptionalData},
        // Empty vin then a zero "flag": no inputs and no outputs (the zero is the vout count).
        {"no inputs, no outputs", VERSION + "00" + "00" + LOCKTIME, std::nullopt},
        {"no inputs, zero flag, then more bytes", VERSION + "00" + "00" + OUTPUT + LOCKTIME, TxParseError::TrailingBytes},
        {"marker only", VERSION + "00", TxParseError::Truncated},
        {"non-canonical input count", VERSION + "fd0100" + INPUT.substr(2) + OUTPUT + LOCKTIME, TxParseError::BadCompactSize},
        {"input count beyond the bytes", VERSION + "fdff00" + INPUT.substr(2) + OUTPUT + LOCKTIME, TxParseError::TooManyItems},
        {"output count beyond the bytes", VERSION + INPUT + "fdff00" + OUTPUT.substr(2) + LOCKTIME, TxParseError::TooManyItems},
        {"witness item count beyond the bytes", VERSION + "0001" + INPUT + OUTPUT + "fe00000100" + "02abcd" + LOCKTIME,
         TxParseError::TooManyItems},
        {"witness item longer than the bytes", VERSION + "0001" + INPUT + OUTPUT + "0110abcd" + LOCKTIME,
         TxParseError::Truncated},
        {"script longer than the bytes", VERSION + INPUT + "01e803000000000000" + "fd0001" + "51" + LOCKTIME,
         TxParseError::Truncated},
    };
    TxView v;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const Bytes b = Unhex(c.hex);
        auto d = DecodeTransaction(b);
        EXPECT_EQ(d.has_value(), !c.error.has_value());
        if (!d && c.error) {
            EXPECT_EQ(d.error(), *c.error) << ToString(d.error());
        }
        // TxView applies the same rules (TrailingBytes is DecodeTransaction's own check).
        SpanReader r{b};
        auto dv = ReadTxView(r, v);
        if (c.error && *c.error != TxParseError::TrailingBytes) {
            ASSERT_FALSE(dv);
            EXPECT_EQ(dv.error(), *c.error);
        } else {
            EXPECT_TRUE(dv);
        }
        if (d) {
            // Accepted transactions re-serialize to exactly their bytes.
            EXPECT_EQ(SerializeTransaction(*d), b);
            EXPECT_EQ(v.raw.size(), b.size());
            EXPECT_EQ(v.ComputeTxid(), d->GetTxid());
            EXPECT_EQ(d->GetTxid().ToUint256(), crypto::Sha256d(SerializeTransaction(*d, false)));
        }
    }
}

TEST(transaction_tests, BuiltTransactionIdsAndCoinbase)
{
    MutableTransaction m;
    m.version = 2;
    TxIn in;
    in.prevout = OutPoint{Txid{}, 0xffffffff};
    in.script_sig = Bytes{0x03, 0x01, 0x02, 0x03};
    m.vin.push_back(in);
    m.vout.push_back(TxOut{Amount{5'000'000'000}, Bytes{0x51}});
    const Transaction coinbase{m};
    EXPECT_TRUE(coinbase.IsCoinBase());
    EXPECT_FALSE(coinbase.HasWitness());
    EXPECT_EQ(coinbase.GetTxid(), ComputeTxid(m));
    EXPECT_EQ(coinbase.GetWtxid().ToUint256(), coinbase.GetTxid().ToUint256());

    m.vin[0].witness = {Bytes(32, 0)};
    const Transaction with_witness{m};
    EXPECT_TRUE(with_witness.HasWitness());
    EXPECT_EQ(with_witness.GetTxid(), coinbase.GetTxid()); // the witness is not in the txid
    EXPECT_NE(with_witness.GetWtxid().ToUint256(), with_witness.GetTxid().ToUint256());
    EXPECT_EQ(with_witness.TotalSize(), with_witness.BaseSize() + 2 + 1 + 1 + 32);
    auto back = DecodeTransaction(SerializeTransaction(with_witness));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->mutable_copy(), m);

    m.vin.push_back(in); // two inputs: not a coinbase even with a null prevout
    EXPECT_FALSE(Transaction{m}.IsCoinBase());
    m.vin.resize(1);
    m.vin[0].prevout.n = 0;
    EXPECT_FALSE(Transaction{m}.IsCoinBase());
}

TEST(transaction_tests, HexEntryPoint)
{
    EXPECT_EQ(DecodeTransactionHex("zz").error(), TxParseError::Truncated);
    EXPECT_EQ(DecodeTransactionHex("0").error(), TxParseError::Truncated);
    EXPECT_EQ(DecodeTransactionHex("").error(), TxParseError::Truncated);
    EXPECT_TRUE(DecodeTransactionHex(VERSION + INPUT + OUTPUT + LOCKTIME));
    for (auto e : {TxParseError::Truncated, TxParseError::TrailingBytes, TxParseError::BadCompactSize,
                   TxParseError::UnknownOptionalData, TxParseError::SuperfluousWitness, TxParseError::TooManyItems}) {
        EXPECT_FALSE(ToString(e).empty());
        EXPECT_NE(ToString(e), "unknown error");
    }
}

} // namespace
} // namespace vw
