// The published BIP test vectors, read from tests/data/testvectors at run time (nothing copied):
// BIP-340 (Schnorr sign/verify), BIP-341 (taproot outputs, control blocks, key-path sighash and
// signatures), BIP-119 (DefaultCheckTemplateVerifyHash).
#include "crypto/secp.h"
#include "crypto/sha256.h"
#include "primitives/transaction.h"
#include "script/ctv.h"
#include "script/sighash.h"
#include "script/taproot.h"
#include "util/bech32.h"
#include "util/hex.h"
#include "unit/util/test_data.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace vw {
namespace {
namespace json = boost::json;

Bytes H(std::string_view s)
{
    auto b = ParseHex(s);
    if (!b) throw std::runtime_error("bad hex in vector: " + std::string(s));
    return *b;
}

std::string Lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::vector<std::string> SplitCsv(const std::string& line)
{
    std::vector<std::string> out(1);
    for (char c : line) {
        if (c == ',') out.emplace_back();
        else if (c != '\r') out.back() += c;
    }
    return out;
}

TEST(bip340_vectors, EveryRowVerifiesAndSignsAsPublished)
{
    std::istringstream in(test::ReadTestDataText("testvectors/bip340-test-vectors.csv"));
    std::string line;
    std::getline(in, line); // header
    size_t rows = 0, signed_rows = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto c = SplitCsv(line);
        ASSERT_GE(c.size(), 7u) << line;
        SCOPED_TRACE("BIP-340 row " + c[0] + " " + (c.size() > 7 ? c[7] : ""));
        ++rows;
        const Bytes pk = H(c[2]), msg = H(c[4]), sig = H(c[5]);
        const bool expect = c[6] == "TRUE";
        auto key = crypto::XOnlyPubKey::Parse(pk);
        const bool ok = key && crypto::SchnorrVerify(sig, msg, *key);
        EXPECT_EQ(ok, expect);
        if (!c[1].empty()) {
            ++signed_rows;
            auto kp = crypto::KeyPair::FromSecret(H(c[1]));
            ASSERT_TRUE(kp);
            EXPECT_EQ(HexStr(kp->PubKey().span()), Lower(c[2]));
            const Uint256 aux = Uint256::FromSpan(H(c[3]));
            const auto s = kp->Sign(msg, aux);
            EXPECT_EQ(HexStr(ByteSpan{s.data(), s.size()}), Lower(c[5]));
        }
    }
    EXPECT_GE(rows, 19u);
    EXPECT_GE(signed_rows, 4u);
}

//! Flattens a BIP-341 scriptTree (leaf object or [left, right]) into depth-first leaves.
void Flatten(const json::value& t, int depth, std::vector<taproot::Leaf>& leaves, std::vector<int64_t>& ids)
{
    if (t.is_array()) {
        for (const auto& c : t.as_array()) Flatten(c, depth + 1, leaves, ids);
        return;
    }
    const auto& o = t.as_object();
    leaves.push_back(taproot::Leaf{H(o.at("script").as_string()), depth, static_cast<uint8_t>(o.at("leafVersion").to_number<int>())});
    ids.push_back(o.at("id").to_number<int64_t>());
}

TEST(bip341_vectors, ScriptPubKeysTweaksAddressesAndControlBlocks)
{
    const auto v = json::parse(test::ReadTestDataText("testvectors/bip341-wallet-test-vectors.json"));
    size_t cases = 0;
    for (const auto& tc : v.at("scriptPubKey").as_array()) {
        SCOPED_TRACE("scriptPubKey case " + std::to_string(cases));
        ++cases;
        const auto& given = tc.at("given").as_object();
        const auto& inter = tc.at("intermediary").as_object();
        const auto& exp = tc.at("expected").as_object();
        auto internal = crypto::XOnlyPubKey::Parse(H(given.at("internalPubkey").as_string()));
        ASSERT_TRUE(internal);
        std::optional<Uint256> root;
        std::optional<taproot::TapTree> tree;
        std::vector<int64_t> ids;
        if (!given.at("scriptTree").is_null()) {
            std::vector<taproot::Leaf> leaves;
            const auto& st = given.at("scriptTree");
            Flatten(st, 0, leaves, ids);
            auto t = taproot::TapTree::FromLeaves(leaves);
            ASSERT_TRUE(t);
            tree = std::move(*t);
            root = tree->MerkleRoot();
            const auto& lh = inter.at("leafHashes").as_array();
            for (size_t i = 0; i < ids.size(); ++i) {
                EXPECT_EQ(HexStr(tree->LeafHashAt(i).span()), std::string(lh.at(static_cast<size_t>(ids[i])).as_string()));
            }
            EXPECT_EQ(HexStr(root->span()), std::string(inter.at("merkleRoot").as_string()));
        } else {
            EXPECT_TRUE(inter.at("merkleRoot").is_null());
        }
        EXPECT_EQ(HexStr(taproot::TweakHash(internal->span(), root).span()), std::string(inter.at("tweak").as_string()));
        auto q = taproot::OutputKey(*internal, root);
        ASSERT_TRUE(q);
        EXPECT_EQ(HexStr(ByteSpan{q->xonly.data(), 32}), std::string(inter.at("tweakedPubkey").as_string()));
        const Bytes spk = taproot::P2TRScript(ByteSpan{q->xonly.data(), 32});
        EXPECT_EQ(HexStr(spk), std::string(exp.at("scriptPubKey").as_string()));
        auto addr = bech32::SegwitAddress("bc", 1, ByteSpan{q->xonly.data(), 32});
        ASSERT_TRUE(addr);
        EXPECT_EQ(*addr, std::string(exp.at("bip350Address").as_string()));
        if (tree) {
            const auto& cbs = exp.at("scriptPathControlBlocks").as_array();
            for (size_t i = 0; i < ids.size(); ++i) {
                const std::string want(cbs.at(static_cast<size_t>(ids[i])).as_string());
                auto cb = taproot::MakeControlBlock(*tree, i, *internal);
                ASSERT_TRUE(cb);
                EXPECT_EQ(HexStr(cb->Serialize()), want);
                // And the other way: the published control block parses and verifies the leaf.
                auto parsed = taproot::ParseControlBlock(H(want));
                ASSERT_TRUE(parsed);
                EXPECT_TRUE(taproot::VerifyScriptPath(*parsed, tree->leaves()[i].script, ByteSpan{q->xonly.data(), 32}))
                    << "leaf " << i << " version " << int(tree->leaves()[i].version) << " cb version " << int(parsed->leaf_version);
                auto opened = taproot::ScriptPathOutputKey(*parsed, tree->leaves()[i].script);
                ASSERT_TRUE(opened);
                EXPECT_EQ(*opened, q->xonly);
            }
        }
    }
    EXPECT_EQ(cases, 7u);
}

TEST(bip341_vectors, KeyPathSighashesAndSignatures)
{
    const auto v = json::parse(test::ReadTestDataText("testvectors/bip341-wallet-test-vectors.json"));
    for (const auto& tc : v.at("keyPathSpending").as_array()) {
        const auto& given = tc.at("given").as_object();
        auto tx = DecodeTransactionHex(std::string(given.at("rawUnsignedTx").as_string()));
        ASSERT_TRUE(tx);
        std::vector<TxOut> spent;
        for (const auto& u : given.at("utxosSpent").as_array()) {
            spent.push_back(TxOut{Amount{u.at("amountSats").to_number<int64_t>()}, H(u.at("scriptPubKey").as_string())});
        }
        auto pre = sighash::Precompute(tx->mutable_copy(), spent);
        ASSERT_TRUE(pre);
        const auto& inter = tc.at("intermediary").as_object();
        EXPECT_EQ(HexStr(pre->amounts.span()), std::string(inter.at("hashAmounts").as_string()));
        EXPECT_EQ(HexStr(pre->outputs.span()), std::string(inter.at("hashOutputs").as_string()));
        EXPECT_EQ(HexStr(pre->prevouts.span()), std::string(inter.at("hashPrevouts").as_string()));
        EXPECT_EQ(HexStr(pre->script_pubkeys.span()), std::string(inter.at("hashScriptPubkeys").as_string()));
        EXPECT_EQ(HexStr(pre->sequences.span()), std::string(inter.at("hashSequences").as_string()));
        size_t inputs = 0;
        for (const auto& in : tc.at("inputSpending").as_array()) {
            const auto& g = in.at("given").as_object();
            const auto& im = in.at("intermediary").as_object();
            const auto idx = g.at("txinIndex").to_number<uint32_t>();
            const auto hash_type = g.at("hashType").to_number<uint8_t>();
            SCOPED_TRACE("keyPathSpending input " + std::to_string(idx));
            ++inputs;
            auto kp = crypto::KeyPair::FromSecret(H(g.at("internalPrivkey").as_string()));
            ASSERT_TRUE(kp);
            EXPECT_EQ(HexStr(kp->PubKey().span()), std::string(im.at("internalPubkey").as_string()));
            std::optional<Uint256> root;
            if (!g.at("merkleRoot").is_null()) root = Uint256::FromSpan(H(g.at("merkleRoot").as_string()));
            const Uint256 tweak = taproot::TweakHash(kp->PubKey().span(), root);
            EXPECT_EQ(HexStr(tweak.span()), std::string(im.at("tweak").as_string()));
            auto tweaked = kp->Tweak(tweak);
            ASSERT_TRUE(tweaked);
            const auto sk = tweaked->Secret();
            EXPECT_EQ(HexStr(ByteSpan{sk.data(), 32}), std::string(im.at("tweakedPrivkey").as_string()));
            auto msg = sighash::SigMsg(tx->mutable_copy(), *pre, idx, hash_type, std::nullopt);
            ASSERT_TRUE(msg);
            // SigMsg omits the 0x00 epoch byte that the vectors (and hash_TapSighash) include.
            EXPECT_EQ("00" + HexStr(*msg), std::string(im.at("sigMsg").as_string()));
            auto h = sighash::Sighash(tx->mutable_copy(), *pre, idx, hash_type, std::nullopt);
            ASSERT_TRUE(h);
            EXPECT_EQ(HexStr(h->span()), std::string(im.at("sigHash").as_string()));
            // expected.witness[0] = signature (|| hash type unless SIGHASH_DEFAULT), made with
            // zero auxiliary randomness.
            const std::string wsig(in.at("expected").at("witness").as_array().at(0).as_string());
            const auto sig = tweaked->Sign(h->span(), Uint256{});
            std::string got = HexStr(ByteSpan{sig.data(), 64});
            if (hash_type != sighash::SIGHASH_DEFAULT) got += HexStr(ByteSpan{&hash_type, 1});
            EXPECT_EQ(got, wsig);
            EXPECT_TRUE(crypto::SchnorrVerify(ByteSpan{sig.data(), 64}, h->span(), tweaked->PubKey()));
        }
        EXPECT_EQ(inputs, 7u);
    }
}

TEST(bip119_vectors, DefaultCheckTemplateVerifyHashForEveryListedIndex)
{
    const auto v = json::parse(test::ReadTestDataText("testvectors/bip119-ctvhash.json"));
    size_t pairs = 0;
    for (const auto& e : v.as_array()) {
        if (!e.is_object()) continue; // the format string
        auto tx = DecodeTransactionHex(std::string(e.at("hex_tx").as_string()));
        ASSERT_TRUE(tx) << std::string(e.at("hex_tx").as_string()).substr(0, 64);
        const ctv::Precomputed pre{tx->mutable_copy()};
        const auto& idx = e.at("spend_index").as_array();
        const auto& res = e.at("result").as_array();
        ASSERT_EQ(idx.size(), res.size());
        for (size_t i = 0; i < idx.size(); ++i) {
            const auto n = idx[i].to_number<uint32_t>();
            EXPECT_EQ(HexStr(pre.Hash(n).span()), std::string(res[i].as_string())) << "index " << n;
            EXPECT_EQ(pre.Hash(n), ctv::TemplateHash(tx->mutable_copy(), n));
            ++pairs;
        }
    }
    EXPECT_EQ(pairs, 400u);
}

} // namespace
} // namespace vw
