// Blocks from tests/data: exact round trip, header hash, merkle and witness roots, the
// BIP-141 witness commitment, rejection of truncated/extended input, and the zero-copy TxView
// agreeing with the full decoder on every transaction.
#include "primitives/block.h"

#include "crypto/sha256.h"
#include "unit/primitives/test_blocks.h"

#include <gtest/gtest.h>

namespace vw {
namespace {

using test::RawBlock;

// From tests/data/README.md.
constexpr std::string_view MAINNET_HASH = "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069";
constexpr std::string_view REGTEST_HASH = "5c87d59093feac370a4e9000aa22a399a9418e66150cb99e64d248b92cd3d9d5";

void CheckCommon(const RawBlock& rb, std::string_view want_hash)
{
    SCOPED_TRACE(rb.name);
    ASSERT_TRUE(rb.block) << "DecodeBlock failed";
    const Block& b = *rb.block;
    EXPECT_EQ(SerializeBlock(b), rb.raw);
    EXPECT_EQ(b.header.GetHash().ToString(), want_hash);
    // The header hash is SHA256d of the first 80 bytes.
    EXPECT_EQ(b.header.GetHash().ToUint256(), crypto::Sha256d(ByteSpan{rb.raw}.first(80)));
    bool mutated = true;
    EXPECT_EQ(BlockMerkleRoot(b, &mutated), b.header.merkle_root);
    EXPECT_FALSE(mutated);
    ASSERT_FALSE(b.txs.empty());
    EXPECT_TRUE(b.txs[0].IsCoinBase());
    for (size_t i = 1; i < b.txs.size(); ++i) EXPECT_FALSE(b.txs[i].IsCoinBase()) << i;
    // Header fields re-serialize to the first 80 bytes.
    Writer w;
    b.header.Serialize(w);
    EXPECT_EQ(w.buf(), Bytes(rb.raw.begin(), rb.raw.begin() + 80));
}

TEST(block_tests, Mainnet413567)
{
    const RawBlock& rb = test::Mainnet413567();
    CheckCommon(rb, MAINNET_HASH);
    ASSERT_TRUE(rb.block);
    EXPECT_EQ(rb.raw.size(), 999887u);
    // Pre-segwit: no witnesses, so every wtxid is the txid.
    for (const auto& tx : rb.block->txs) {
        EXPECT_FALSE(tx.HasWitness());
        EXPECT_EQ(tx.GetWtxid().ToUint256(), tx.GetTxid().ToUint256());
        EXPECT_EQ(tx.BaseSize(), tx.TotalSize());
    }
}

TEST(block_tests, RegtestTaprootWitnessCommitment)
{
    const RawBlock& rb = test::RegtestTaproot();
    CheckCommon(rb, REGTEST_HASH);
    ASSERT_TRUE(rb.block);
    const Block& b = *rb.block;
    EXPECT_EQ(b.txs.size(), 4639u);

    // BIP-141: the last coinbase output whose script starts with OP_RETURN 0x24 aa21a9ed carries
    // SHA256d(witness root || witness reserved value), the reserved value being the coinbase's
    // only witness item.
    const Bytes prefix{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
    const Transaction& cb = b.txs[0];
    std::optional<size_t> idx;
    for (size_t i = 0; i < cb.vout().size(); ++i) {
        const Bytes& spk = cb.vout()[i].script_pubkey;
        if (spk.size() >= 38 && std::equal(prefix.begin(), prefix.end(), spk.begin())) idx = i;
    }
    ASSERT_TRUE(idx) << "no witness commitment in the coinbase";
    ASSERT_EQ(cb.vin()[0].witness.size(), 1u);
    ASSERT_EQ(cb.vin()[0].witness[0].size(), 32u);
    const Uint256 root = BlockWitnessMerkleRoot(b);
    Bytes pre(root.bytes.begin(), root.bytes.end());
    pre.insert(pre.end(), cb.vin()[0].witness[0].begin(), cb.vin()[0].witness[0].end());
    const Bytes& spk = cb.vout()[*idx].script_pubkey;
    EXPECT_EQ(crypto::Sha256d(pre), Uint256::FromSpan(ByteSpan{spk}.subspan(6, 32)));

    // Every input spends P2TR (README): all non-coinbase transactions carry witnesses, and the
    // wtxid differs from the txid exactly when there is a witness.
    size_t with_witness = 0;
    size_t base = 0, total = 0;
    for (const auto& tx : b.txs) {
        base += tx.BaseSize();
        total += tx.TotalSize();
        if (tx.HasWitness()) {
            ++with_witness;
            EXPECT_NE(tx.GetWtxid().ToUint256(), tx.GetTxid().ToUint256());
            EXPECT_GT(tx.TotalSize(), tx.BaseSize());
        } else {
            EXPECT_EQ(tx.GetWtxid().ToUint256(), tx.GetTxid().ToUint256());
        }
        // Sizes agree with the serializer.
        EXPECT_EQ(SerializeTransaction(tx, false).size(), tx.BaseSize());
        EXPECT_EQ(SerializeTransaction(tx, true).size(), tx.TotalSize());
        EXPECT_EQ(tx.GetWtxid().ToUint256(), crypto::Sha256d(SerializeTransaction(tx, true)));
        EXPECT_EQ(tx.GetTxid().ToUint256(), crypto::Sha256d(SerializeTransaction(tx, false)));
    }
    EXPECT_EQ(with_witness, b.txs.size());
    // Block weight from the README (4 * header and count bytes + transaction weights).
    const size_t head = BlockHeader::SIZE + CompactSizeLen(b.txs.size());
    EXPECT_EQ((head + base) * 3 + head + total, 3992724u);
    EXPECT_EQ(total + head, rb.raw.size());
}

TEST(block_tests, TruncatedAndExtendedBlocksAreRejected)
{
    for (const RawBlock* rb : {&test::Mainnet413567(), &test::RegtestTaproot()}) {
        SCOPED_TRACE(rb->name);
        const ByteSpan all{rb->raw};
        // Every prefix through the header and the first transactions, then ~30 spread over the
        // rest (each costs a near-full decode), and the last bytes one by one.
        std::vector<size_t> lens;
        for (size_t n = 0; n < 600; ++n) lens.push_back(n);
        for (size_t n = 600; n < all.size(); n += all.size() / 30 + 1) lens.push_back(n);
        for (size_t n = all.size() - 8; n < all.size(); ++n) lens.push_back(n);
        for (size_t n : lens) {
            auto d = DecodeBlock(all.first(n));
            ASSERT_FALSE(d) << "prefix of " << n << " bytes decoded";
            EXPECT_NE(d.error().code, BlockParseError::TrailingBytes) << n;
            EXPECT_FALSE(ToString(d.error()).empty());
        }
        Bytes longer = rb->raw;
        longer.push_back(0x00);
        auto d = DecodeBlock(longer);
        ASSERT_FALSE(d);
        EXPECT_EQ(d.error().code, BlockParseError::TrailingBytes);
    }
}

TEST(block_tests, HeaderAndCountEdgeCases)
{
    const RawBlock& rb = test::Mainnet413567();
    Bytes header(rb.raw.begin(), rb.raw.begin() + 80);
    SpanReader short_r{ByteSpan{header}.first(79)};
    EXPECT_FALSE(ReadBlockHeader(short_r));
    SpanReader r{header};
    auto h = ReadBlockHeader(r);
    ASSERT_TRUE(h);
    EXPECT_TRUE(r.empty());
    EXPECT_EQ(h->GetHash().ToString(), MAINNET_HASH);

    Bytes no_txs = header;
    no_txs.push_back(0x00);
    auto d = DecodeBlock(no_txs);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, BlockParseError::NoTransactions);

    // A count the remaining bytes cannot hold is refused before allocating.
    Bytes huge = header;
    Writer{huge}.CompactSize(0x01000000).Raw(Bytes(100, 0));
    d = DecodeBlock(huge);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, BlockParseError::Truncated);

    // A bad transaction reports its index.
    Bytes bad = header;
    Writer{bad}.CompactSize(1).Raw(Bytes(20, 0xff));
    d = DecodeBlock(bad);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, BlockParseError::BadTransaction);
    EXPECT_EQ(d.error().tx_index, 0u);
}

TEST(block_tests, MerkleRootMutationDetection)
{
    std::vector<Uint256> leaves;
    for (uint8_t i = 0; i < 3; ++i) leaves.push_back(crypto::Sha256Once(Bytes{i}));
    bool mutated = true;
    EXPECT_TRUE(ComputeMerkleRoot({}, &mutated).IsNull());
    EXPECT_FALSE(mutated);
    EXPECT_EQ(ComputeMerkleRoot({leaves[0]}, &mutated), leaves[0]);
    EXPECT_EQ(ComputeMerkleRoot({leaves[0], leaves[1]}), crypto::Sha256d64(leaves[0], leaves[1]));
    const Uint256 odd = ComputeMerkleRoot(leaves, &mutated);
    EXPECT_FALSE(mutated);
    EXPECT_EQ(odd, crypto::Sha256d64(crypto::Sha256d64(leaves[0], leaves[1]), crypto::Sha256d64(leaves[2], leaves[2])));
    // CVE-2012-2459: duplicating the last leaf gives the same root, and is flagged.
    auto dup = leaves;
    dup.push_back(leaves[2]);
    EXPECT_EQ(ComputeMerkleRoot(dup, &mutated), odd);
    EXPECT_TRUE(mutated);
}

TEST(block_tests, TxViewAgreesWithFullDecode)
{
    std::vector<ByteSpan> items;
    for (const RawBlock* rb : {&test::Mainnet413567(), &test::RegtestTaproot()}) {
        SCOPED_TRACE(rb->name);
        ASSERT_TRUE(rb->block);
        SpanReader r{rb->raw};
        ASSERT_TRUE(r.Skip(BlockHeader::SIZE));
        ASSERT_EQ(r.ReadCompactSize(), rb->block->txs.size());
        TxView v; // reused across transactions, as the scanner does
        for (size_t i = 0; i < rb->block->txs.size(); ++i) {
            const Transaction& tx = rb->block->txs[i];
            SCOPED_TRACE("tx " + std::to_string(i));
            ASSERT_TRUE(ReadTxView(r, v));
            EXPECT_EQ(Bytes(v.raw.begin(), v.raw.end()), SerializeTransaction(tx, true));
            EXPECT_EQ(v.ComputeTxid(), tx.GetTxid());
            EXPECT_EQ(v.has_witness, tx.HasWitness());
            EXPECT_EQ(v.locktime, tx.locktime());
            if (!v.has_witness) {
                EXPECT_EQ(v.stripped_body.size() + 8, v.raw.size());
            }
            ASSERT_EQ(v.vin.size(), tx.vin().size());
            for (size_t j = 0; j < v.vin.size(); ++j) {
                const TxInView& a = v.vin[j];
                const TxIn& b = tx.vin()[j];
                EXPECT_TRUE(Equal(a.prevout_txid, b.prevout.txid.span()));
                EXPECT_EQ(a.prevout_n, b.prevout.n);
                EXPECT_TRUE(Equal(a.script_sig, b.script_sig));
                EXPECT_EQ(a.sequence, b.sequence);
                EXPECT_EQ(a.witness_items, b.witness.size());
                ASSERT_TRUE(WitnessItems(a.witness, a.witness_items, items));
                ASSERT_EQ(items.size(), b.witness.size());
                for (size_t k = 0; k < items.size(); ++k) EXPECT_TRUE(Equal(items[k], b.witness[k]));
                // Views point into the block buffer.
                EXPECT_GE(a.script_sig.data(), rb->raw.data());
            }
            ASSERT_EQ(v.vout.size(), tx.vout().size());
            for (size_t j = 0; j < v.vout.size(); ++j) {
                EXPECT_EQ(v.vout[j].value, tx.vout()[j].value.sats());
                EXPECT_TRUE(Equal(v.vout[j].script_pubkey, tx.vout()[j].script_pubkey));
            }
            if (HasFailure()) return; // one broken transaction is enough output
        }
        EXPECT_TRUE(r.empty());
    }
}

} // namespace
} // namespace vw
