// BIP-341 signature messages beyond the key-path vectors (bip_vectors_tests.cpp): refusals,
// the message length for every hash type / annex / script-path combination, and what each hash
// type commits to.
#include "script/sighash.h"

#include "crypto/sha256.h"

#include <gtest/gtest.h>

namespace vw::sighash {
namespace {

MutableTransaction Tx()
{
    MutableTransaction m;
    m.version = 2;
    m.locktime = 500;
    for (uint8_t i = 0; i < 3; ++i) {
        TxIn in;
        in.prevout = OutPoint{Txid::FromUint256(crypto::Sha256Once(Bytes{i})), i};
        in.sequence = 0xfffffffd;
        m.vin.push_back(in);
    }
    m.vout.push_back(TxOut{Amount{1000}, Bytes{0x51, 0x20, 1, 2}});
    m.vout.push_back(TxOut{Amount{2000}, Bytes{0x00, 0x14, 3}});
    return m;
}

std::vector<TxOut> Spent()
{
    std::vector<TxOut> s;
    for (int64_t i = 0; i < 3; ++i) s.push_back(TxOut{Amount{10'000 + i}, Bytes(34, static_cast<uint8_t>(i))});
    return s;
}

Precomputed Pre(const MutableTransaction& m)
{
    auto p = Precompute(m, Spent());
    EXPECT_TRUE(p);
    return *p;
}

constexpr uint8_t VALID_TYPES[] = {0x00, 0x01, 0x02, 0x03, 0x81, 0x82, 0x83};

TEST(sighash_tests, Refusals)
{
    const MutableTransaction m = Tx();
    const Precomputed pre = Pre(m);
    for (int t = 0; t < 256; ++t) {
        const auto ht = static_cast<uint8_t>(t);
        const bool valid = std::find(std::begin(VALID_TYPES), std::end(VALID_TYPES), ht) != std::end(VALID_TYPES);
        auto msg = SigMsg(m, pre, 0, ht, std::nullopt);
        EXPECT_EQ(msg.has_value(), valid) << t;
        if (!valid) {
            EXPECT_EQ(msg.error(), SighashError::BadHashType) << t;
        }
    }
    EXPECT_EQ(SigMsg(m, pre, 3, SIGHASH_ALL, std::nullopt).error(), SighashError::InputOutOfRange);
    // SIGHASH_SINGLE needs an output at the input's index (input 2, two outputs).
    EXPECT_EQ(SigMsg(m, pre, 2, SIGHASH_SINGLE, std::nullopt).error(), SighashError::NoSingleOutput);
    EXPECT_EQ(SigMsg(m, pre, 2, SIGHASH_SINGLE | SIGHASH_ANYONECANPAY, std::nullopt).error(), SighashError::NoSingleOutput);
    EXPECT_TRUE(SigMsg(m, pre, 2, SIGHASH_NONE, std::nullopt));
    // Spent outputs must match the inputs one to one.
    auto short_spent = Spent();
    short_spent.pop_back();
    EXPECT_EQ(Precompute(m, short_spent).error(), SighashError::SpentOutputsMismatch);
    MutableTransaction more = m;
    more.vin.push_back(m.vin[0]);
    EXPECT_EQ(SigMsg(more, pre, 0, SIGHASH_ALL, std::nullopt).error(), SighashError::SpentOutputsMismatch);
    EXPECT_EQ(Sighash(m, pre, 3, SIGHASH_ALL, std::nullopt).error(), SighashError::InputOutOfRange);
    for (auto e : {SighashError::BadHashType, SighashError::InputOutOfRange, SighashError::SpentOutputsMismatch,
                   SighashError::NoSingleOutput}) {
        EXPECT_NE(ToString(e), "unknown error");
    }
}

TEST(sighash_tests, MessageLengthAndHashForEveryCombination)
{
    const MutableTransaction m = Tx();
    const Precomputed pre = Pre(m);
    const Bytes annex{0x50, 0xaa};
    const ScriptPath sp{crypto::Sha256Once(Bytes{9}), 7};
    for (uint8_t ht : VALID_TYPES) {
        for (bool with_annex : {false, true}) {
            for (bool with_script : {false, true}) {
                SCOPED_TRACE(std::to_string(ht) + (with_annex ? " annex" : "") + (with_script ? " script" : ""));
                const std::optional<ByteSpan> a = with_annex ? std::optional<ByteSpan>{annex} : std::nullopt;
                const std::optional<ScriptPath> s = with_script ? std::optional<ScriptPath>{sp} : std::nullopt;
                auto msg = SigMsg(m, pre, 1, ht, s, a);
                ASSERT_TRUE(msg);
                // BIP-341: 1 + 4 + 4, then 128 unless ANYONECANPAY, 32 for ALL outputs, 1 spend
                // type, 36 + 8 + 35 + 4 (ANYONECANPAY: this input's outpoint, amount,
                // scriptPubKey, sequence) or 4 (index), 32 for the annex, 32 for SINGLE, and
                // BIP-342's 32 + 1 + 4 for the script path.
                const bool acp = ht & SIGHASH_ANYONECANPAY;
                const uint8_t out = ht == SIGHASH_DEFAULT ? SIGHASH_ALL : (ht & 3);
                const size_t prefix = size_t{9} + (acp ? 0u : 128u) + (out == SIGHASH_ALL ? 32u : 0u);
                const size_t want = prefix + 1u + (acp ? 36u + 8u + 35u + 4u : 4u) + (with_annex ? 32u : 0u) +
                                    (out == SIGHASH_SINGLE ? 32u : 0u) + (with_script ? 37u : 0u);
                EXPECT_EQ(msg->size(), want);
                EXPECT_EQ((*msg)[0], ht);
                // spend_type = 2 * ext_flag + annex_present
                EXPECT_EQ((*msg)[prefix], (with_script ? 2 : 0) + (with_annex ? 1 : 0));
                // Sighash = TaggedHash("TapSighash", 0x00 || SigMsg).
                const uint8_t epoch = 0x00;
                auto h = Sighash(m, pre, 1, ht, s, a);
                ASSERT_TRUE(h);
                EXPECT_EQ(*h, crypto::TaggedHash("TapSighash").Hasher().Write(ByteSpan{&epoch, 1}).Write(*msg).Finalize());
            }
        }
    }
}

TEST(sighash_tests, WhatEachHashTypeCommitsTo)
{
    const MutableTransaction base = Tx();
    auto hash = [](const MutableTransaction& m, uint8_t ht, uint32_t n = 0) {
        auto h = Sighash(m, Pre(m), n, ht, std::nullopt);
        EXPECT_TRUE(h);
        return h ? *h : Uint256{};
    };
    MutableTransaction other_input = base;
    other_input.vin[1].prevout.n = 42;
    MutableTransaction other_output = base;
    other_output.vout[1].value += Amount{1};
    MutableTransaction own_output = base;
    own_output.vout[0].value += Amount{1};
    MutableTransaction other_sequence = base;
    other_sequence.vin[2].sequence = 0;

    EXPECT_NE(hash(base, SIGHASH_DEFAULT), hash(base, SIGHASH_ALL)); // the hash type byte differs
    EXPECT_NE(hash(base, SIGHASH_ALL, 0), hash(base, SIGHASH_ALL, 1));
    for (uint8_t ht : {SIGHASH_DEFAULT, SIGHASH_ALL}) {
        EXPECT_NE(hash(base, ht), hash(other_input, ht));
        EXPECT_NE(hash(base, ht), hash(other_output, ht));
        EXPECT_NE(hash(base, ht), hash(other_sequence, ht));
    }
    // NONE: no outputs at all.
    EXPECT_EQ(hash(base, SIGHASH_NONE), hash(other_output, SIGHASH_NONE));
    EXPECT_EQ(hash(base, SIGHASH_NONE), hash(own_output, SIGHASH_NONE));
    EXPECT_NE(hash(base, SIGHASH_NONE), hash(other_input, SIGHASH_NONE));
    // SINGLE: only the output at the input's index.
    EXPECT_EQ(hash(base, SIGHASH_SINGLE), hash(other_output, SIGHASH_SINGLE));
    EXPECT_NE(hash(base, SIGHASH_SINGLE), hash(own_output, SIGHASH_SINGLE));
    // ANYONECANPAY: other inputs (outpoints, amounts, sequences) are not committed.
    const uint8_t acp_all = SIGHASH_ALL | SIGHASH_ANYONECANPAY;
    EXPECT_EQ(hash(base, acp_all), hash(other_input, acp_all));
    EXPECT_EQ(hash(base, acp_all), hash(other_sequence, acp_all));
    EXPECT_NE(hash(base, acp_all), hash(other_output, acp_all));
    MutableTransaction own_input = base;
    own_input.vin[0].sequence = 1;
    EXPECT_NE(hash(base, acp_all), hash(own_input, acp_all));
    const uint8_t acp_none = SIGHASH_NONE | SIGHASH_ANYONECANPAY;
    EXPECT_EQ(hash(base, acp_none), hash(other_output, acp_none));
    EXPECT_EQ(hash(base, acp_none), hash(other_input, acp_none));
    // Spent amounts are committed (the point of BIP-341's hashAmounts).
    auto spent = Spent();
    spent[2].value += Amount{1};
    auto p2 = Precompute(base, spent);
    ASSERT_TRUE(p2);
    EXPECT_NE(*Sighash(base, *p2, 0, SIGHASH_DEFAULT, std::nullopt), hash(base, SIGHASH_DEFAULT));
    EXPECT_EQ(*Sighash(base, *p2, 0, acp_all, std::nullopt), hash(base, acp_all));
    // Script path: the leaf and the code separator position are committed.
    const Precomputed pre = Pre(base);
    const ScriptPath a{crypto::Sha256Once(Bytes{1}), 0xffffffff};
    ScriptPath b = a;
    b.codesep_pos = 3;
    ScriptPath c = a;
    c.leaf_hash = crypto::Sha256Once(Bytes{2});
    const auto ha = *Sighash(base, pre, 0, SIGHASH_DEFAULT, a);
    EXPECT_NE(ha, *Sighash(base, pre, 0, SIGHASH_DEFAULT, b));
    EXPECT_NE(ha, *Sighash(base, pre, 0, SIGHASH_DEFAULT, c));
    EXPECT_NE(ha, hash(base, SIGHASH_DEFAULT));
    // The annex is committed.
    const Bytes annex1{0x50, 1}, annex2{0x50, 2};
    EXPECT_NE(*Sighash(base, pre, 0, SIGHASH_DEFAULT, std::nullopt, ByteSpan{annex1}),
              *Sighash(base, pre, 0, SIGHASH_DEFAULT, std::nullopt, ByteSpan{annex2}));
}

} // namespace
} // namespace vw::sighash
