// Taproot building blocks beyond the BIP-341 vectors (bip_vectors_tests.cpp): hashes rebuilt
// from their definitions, tree-shape validation, control-block size rules and round trips,
// script-path verification failing for every wrong input, and witness classification.
#include "script/taproot.h"

#include "crypto/sha256.h"
#include "util/serialize.h"
#include "unit/util/test_data.h"

#include <gtest/gtest.h>

namespace vw::taproot {
namespace {

using crypto::KeyPair;
using crypto::XOnlyPubKey;

Uint256 H(uint8_t i) { return crypto::Sha256Once(Bytes{i}); }

XOnlyPubKey Key(uint8_t i)
{
    Bytes secret(32, 0);
    secret[31] = i;
    return KeyPair::FromSecret(secret)->PubKey();
}

Leaf MakeLeaf(uint8_t tag, int depth, uint8_t version = LEAF_VERSION_TAPSCRIPT)
{
    return Leaf{Bytes{0x20, tag, 0xac}, depth, version};
}

TEST(taproot_tests, HashesMatchTheirDefinitions)
{
    for (size_t len : {0u, 1u, 252u, 253u, 300u}) {
        const Bytes script(len, 0x51);
        Bytes pre{0xc0};
        Writer{pre}.CompactSize(len).Raw(script);
        EXPECT_EQ(LeafHash(0xc0, script), crypto::TaggedHash("TapLeaf")(pre)) << len;
        pre[0] = 0xc2;
        EXPECT_EQ(LeafHash(0xc2, script), crypto::TaggedHash("TapLeaf")(pre)) << len;
    }
    const Uint256 a = H(1), b = H(2);
    const Uint256& lo = a < b ? a : b;
    const Uint256& hi = a < b ? b : a;
    Bytes cat(lo.bytes.begin(), lo.bytes.end());
    cat.insert(cat.end(), hi.bytes.begin(), hi.bytes.end());
    EXPECT_EQ(BranchHash(a, b), crypto::TaggedHash("TapBranch")(cat));
    EXPECT_EQ(BranchHash(b, a), BranchHash(a, b));

    const XOnlyPubKey p = Key(5);
    Bytes tw(p.bytes().begin(), p.bytes().end());
    EXPECT_EQ(TweakHash(p.span(), std::nullopt), crypto::TaggedHash("TapTweak")(tw));
    tw.insert(tw.end(), a.bytes.begin(), a.bytes.end());
    EXPECT_EQ(TweakHash(p.span(), a), crypto::TaggedHash("TapTweak")(tw));

    // The output key is the internal key tweaked by that hash.
    auto q = OutputKey(p, a);
    ASSERT_TRUE(q);
    auto q2 = crypto::TweakAdd(p, TweakHash(p.span(), a));
    ASSERT_TRUE(q2);
    EXPECT_EQ(q->xonly, q2->xonly);
    EXPECT_EQ(q->parity, q2->parity);
}

TEST(taproot_tests, ScriptPathOfAWitnessInPlace)
{
    const Bytes sig(64, 1), script{0x51}, cb33(33, 0xc0), cb65(65, 0xc0), annex{ANNEX_TAG, 7};
    // Key path: one item, with or without an annex.
    EXPECT_TRUE(IsKeyPathSpend({sig}));
    EXPECT_TRUE(IsKeyPathSpend({sig, annex}));
    EXPECT_FALSE(ScriptPathOf({sig}));
    EXPECT_FALSE(ScriptPathOf({sig, annex}));
    // Script path: [stack..., script, control block], annex stripped; items viewed, not copied.
    const std::vector<Bytes> w{Bytes{1}, Bytes{2}, script, cb65, annex};
    auto sp = ScriptPathOf(w);
    ASSERT_TRUE(sp);
    EXPECT_EQ(sp->script, &w[2]);
    EXPECT_EQ(sp->control, &w[3]);
    EXPECT_EQ(sp->stack_items, 2u);
    EXPECT_FALSE(IsKeyPathSpend(w));
    ASSERT_TRUE(ScriptPathOf({script, cb33}));
    // Control blocks of a size no tree has: 32, 34, 33 + 32 * 129.
    EXPECT_FALSE(ScriptPathOf({script, Bytes(32, 0xc0)}));
    EXPECT_FALSE(ScriptPathOf({script, Bytes(34, 0xc0)}));
    EXPECT_FALSE(ScriptPathOf({script, Bytes(33 + 32 * 129, 0xc0)}));
    EXPECT_TRUE(ScriptPathOf({script, Bytes(33 + 32 * 128, 0xc0)}));
    EXPECT_FALSE(ScriptPathOf({}));
    EXPECT_FALSE(IsKeyPathSpend({}));
}

TEST(taproot_tests, P2TRScriptAndProgram)
{
    const XOnlyPubKey p = Key(7);
    const Bytes spk = P2TRScript(p.span());
    ASSERT_EQ(spk.size(), 34u);
    EXPECT_EQ(spk[0], 0x51);
    EXPECT_EQ(spk[1], 0x20);
    auto prog = P2TRProgram(spk);
    ASSERT_TRUE(prog);
    EXPECT_TRUE(Equal(*prog, p.span()));
    Bytes v0 = spk;
    v0[0] = 0x00; // P2WSH shape
    EXPECT_FALSE(P2TRProgram(v0));
    EXPECT_FALSE(P2TRProgram(ByteSpan{spk}.first(33)));
    Bytes longer = spk;
    longer.push_back(0);
    EXPECT_FALSE(P2TRProgram(longer));
    Bytes push33 = spk;
    push33[1] = 0x21;
    EXPECT_FALSE(P2TRProgram(push33));
}

TEST(taproot_tests, TreeShapes)
{
    struct Shape {
        std::vector<int> depths;
        std::optional<TaprootError> error;
    };
    const Shape shapes[] = {
        {{0}, std::nullopt},
        {{1, 1}, std::nullopt},
        {{1, 2, 2}, std::nullopt},
        {{2, 2, 1}, std::nullopt},
        {{2, 2, 2, 2}, std::nullopt},
        {{1, 2, 3, 3}, std::nullopt},
        {{}, TaprootError::IncompleteTree},
        {{1}, TaprootError::IncompleteTree},
        {{0, 0}, TaprootError::IncompleteTree},
        {{1, 1, 1}, TaprootError::IncompleteTree},
        {{1, 2}, TaprootError::IncompleteTree},
        {{2, 1, 2}, TaprootError::IncompleteTree},  // not DFS order (Core's TaprootBuilder refuses it)
        {{3, 3, 1, 2}, TaprootError::IncompleteTree},
        {{-1}, TaprootError::BadTreeDepth},
        {{129}, TaprootError::BadTreeDepth},
    };
    for (const auto& s : shapes) {
        std::vector<Leaf> leaves;
        for (size_t i = 0; i < s.depths.size(); ++i) leaves.push_back(MakeLeaf(static_cast<uint8_t>(i), s.depths[i]));
        auto t = TapTree::FromLeaves(leaves);
        std::string name;
        for (int d : s.depths) name += std::to_string(d) + " ";
        EXPECT_EQ(t.has_value(), !s.error) << name;
        if (!t && s.error) {
            EXPECT_EQ(t.error(), *s.error) << name;
            EXPECT_FALSE(ToString(t.error()).empty());
        }
        if (!t) continue;
        // Every leaf's path leads to the root, with one node per level.
        for (size_t i = 0; i < leaves.size(); ++i) {
            EXPECT_EQ(t->LeafHashAt(i), LeafHash(leaves[i].version, leaves[i].script)) << name;
            EXPECT_EQ(t->PathAt(i).size(), static_cast<size_t>(s.depths[i])) << name;
            EXPECT_EQ(RootFromPath(t->LeafHashAt(i), t->PathAt(i)), t->MerkleRoot()) << name << "leaf " << i;
        }
    }
    // A 128-deep leaf is allowed (a caterpillar tree).
    std::vector<Leaf> deep;
    for (int d = 1; d <= 128; ++d) deep.push_back(MakeLeaf(static_cast<uint8_t>(d), d));
    deep.push_back(MakeLeaf(0, 128));
    auto t = TapTree::FromLeaves(deep);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->PathAt(128).size(), 128u);
}

TEST(taproot_tests, ExplicitThreeLeafTree)
{
    // depths 1,2,2: root = Branch(A, Branch(B, C)).
    const std::vector<Leaf> leaves{MakeLeaf(1, 1), MakeLeaf(2, 2), MakeLeaf(3, 2, 0xc2)};
    auto t = TapTree::FromLeaves(leaves);
    ASSERT_TRUE(t);
    const Uint256 a = LeafHash(0xc0, leaves[0].script), b = LeafHash(0xc0, leaves[1].script), c = LeafHash(0xc2, leaves[2].script);
    EXPECT_EQ(t->MerkleRoot(), BranchHash(a, BranchHash(b, c)));
    EXPECT_EQ(t->PathAt(0), (std::vector<Uint256>{BranchHash(b, c)}));
    EXPECT_EQ(t->PathAt(1), (std::vector<Uint256>{c, a}));
    EXPECT_EQ(t->PathAt(2), (std::vector<Uint256>{b, a}));
    // Replacing a leaf keeps the shape and the other leaves.
    const TapTree r = t->WithLeafReplaced(1, Bytes{0x51});
    EXPECT_EQ(r.LeafHashAt(0), a);
    EXPECT_EQ(r.LeafHashAt(2), c);
    EXPECT_EQ(r.LeafHashAt(1), LeafHash(0xc0, Bytes{0x51}));
    EXPECT_EQ(r.MerkleRoot(), BranchHash(a, BranchHash(LeafHash(0xc0, Bytes{0x51}), c)));
    EXPECT_EQ(r.leaves()[1].depth, 2);
}

TEST(taproot_tests, ControlBlockSizesAndRoundTrip)
{
    const XOnlyPubKey p = Key(3);
    auto make = [&](size_t nodes, uint8_t first) {
        Bytes cb{first};
        cb.insert(cb.end(), p.bytes().begin(), p.bytes().end());
        for (size_t i = 0; i < nodes; ++i) cb.insert(cb.end(), 32, static_cast<uint8_t>(i));
        return cb;
    };
    for (size_t nodes : {0u, 1u, 7u, 128u}) {
        const Bytes cb = make(nodes, 0xc1);
        auto parsed = ParseControlBlock(cb);
        ASSERT_TRUE(parsed) << nodes;
        EXPECT_EQ(parsed->leaf_version, 0xc0);
        EXPECT_EQ(parsed->parity, 1);
        EXPECT_EQ(parsed->internal_key, p.bytes());
        EXPECT_EQ(parsed->path.size(), nodes);
        EXPECT_EQ(parsed->Serialize(), cb) << nodes;
    }
    EXPECT_EQ(ParseControlBlock(make(129, 0xc0)).error(), TaprootError::BadControlSize);
    EXPECT_EQ(ParseControlBlock(ByteSpan{make(0, 0xc0)}.first(32)).error(), TaprootError::BadControlSize);
    Bytes odd = make(1, 0xc0);
    odd.pop_back();
    EXPECT_EQ(ParseControlBlock(odd).error(), TaprootError::BadControlSize);
    EXPECT_EQ(ParseControlBlock(ByteSpan{}).error(), TaprootError::BadControlSize);
    // An internal key that is not on the curve (x = 5).
    Bytes bad_key(33, 0);
    bad_key[0] = 0xc0;
    bad_key[32] = 5;
    EXPECT_EQ(ParseControlBlock(bad_key).error(), TaprootError::BadInternalKey);
    // Any leaf version byte parses (unknown versions are future soft forks).
    auto other = ParseControlBlock(make(0, 0xc3));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->leaf_version, 0xc2);
    EXPECT_EQ(other->parity, 1);
}

TEST(taproot_tests, ScriptPathVerificationFailsForAnythingWrong)
{
    const XOnlyPubKey p = Key(11);
    const std::vector<Leaf> leaves{MakeLeaf(1, 1), MakeLeaf(2, 2), MakeLeaf(3, 2)};
    auto t = TapTree::FromLeaves(leaves);
    ASSERT_TRUE(t);
    auto q = OutputKey(p, t->MerkleRoot());
    ASSERT_TRUE(q);
    const ByteSpan program{q->xonly.data(), 32};
    for (size_t i = 0; i < leaves.size(); ++i) {
        SCOPED_TRACE(i);
        auto cb = MakeControlBlock(*t, i, p);
        ASSERT_TRUE(cb);
        EXPECT_EQ(cb->parity, q->parity);
        const Bytes& script = leaves[i].script;
        EXPECT_TRUE(VerifyScriptPath(*cb, script, program));
        EXPECT_EQ(ScriptPathOutputKey(*cb, script), q->xonly);
        auto reparsed = ParseControlBlock(cb->Serialize());
        ASSERT_TRUE(reparsed);
        EXPECT_EQ(*reparsed, *cb);

        EXPECT_FALSE(VerifyScriptPath(*cb, leaves[(i + 1) % 3].script, program)) << "other leaf's script";
        EXPECT_FALSE(VerifyScriptPath(*cb, script, ByteSpan{q->xonly.data(), 31})) << "31-byte program";
        Bytes wrong_program(q->xonly.begin(), q->xonly.end());
        wrong_program[0] ^= 1;
        EXPECT_FALSE(VerifyScriptPath(*cb, script, wrong_program));
        ControlBlock flipped = *cb;
        flipped.parity ^= 1;
        EXPECT_FALSE(VerifyScriptPath(flipped, script, program)) << "parity";
        EXPECT_FALSE(ScriptPathOutputKey(flipped, script)) << "parity";
        ControlBlock version = *cb;
        version.leaf_version = 0xc2;
        EXPECT_FALSE(VerifyScriptPath(version, script, program)) << "leaf version";
        ControlBlock short_path = *cb;
        short_path.path.pop_back();
        EXPECT_FALSE(VerifyScriptPath(short_path, script, program)) << "path";
        ControlBlock other_key = *cb;
        other_key.internal_key = Key(12).bytes();
        EXPECT_FALSE(VerifyScriptPath(other_key, script, program)) << "internal key";
    }
}

TEST(taproot_tests, WitnessClassification)
{
    const Bytes sig(64, 0x01), script{0x51}, cb(33, 0xc0), item{0x07}, annex{0x50, 0x01}, empty;
    auto classify = [](std::vector<ByteSpan> items) { return ClassifyWitness(items); };

    EXPECT_EQ(classify({}).error(), TaprootError::EmptyWitness);

    auto k = classify({sig});
    ASSERT_TRUE(k);
    EXPECT_EQ(k->kind, Spend::Kind::KeyPath);
    EXPECT_TRUE(Equal(k->signature, sig));
    EXPECT_FALSE(k->annex);

    auto ka = classify({sig, annex});
    ASSERT_TRUE(ka);
    EXPECT_EQ(ka->kind, Spend::Kind::KeyPath);
    ASSERT_TRUE(ka->annex);
    EXPECT_TRUE(Equal(*ka->annex, annex));

    // A single element starting with 0x50 is a signature, not an annex (needs >= 2 elements).
    auto lone = classify({annex});
    ASSERT_TRUE(lone);
    EXPECT_EQ(lone->kind, Spend::Kind::KeyPath);
    EXPECT_FALSE(lone->annex);

    auto s = classify({item, item, script, cb});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, Spend::Kind::ScriptPath);
    EXPECT_TRUE(Equal(s->script, script));
    EXPECT_TRUE(Equal(s->control, cb));
    EXPECT_EQ(s->stack.size(), 2u);
    EXPECT_FALSE(s->annex);

    auto sa = classify({script, cb, annex});
    ASSERT_TRUE(sa);
    EXPECT_EQ(sa->kind, Spend::Kind::ScriptPath);
    EXPECT_TRUE(sa->stack.empty());
    EXPECT_TRUE(sa->annex);

    // An empty last element is not an annex.
    auto e = classify({script, empty});
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, Spend::Kind::ScriptPath);
    EXPECT_FALSE(e->annex);
}

} // namespace
TEST(taproot_tests, AnOutputKeyMemoAnswersOnlyForWhatEachKeyWasComputedFrom)
{
    const Uint256 root = H(7);
    const auto q1 = OutputKey(Key(1), root);
    const auto q2 = OutputKey(Key(2), root);
    ASSERT_TRUE(q1 && q2);
    OutputKeyMemo memo;
    EXPECT_EQ(memo.Find(Key(1), root), nullptr);
    memo.Add(Key(1), root, *q1);
    memo.Add(Key(2), root, *q2); // same root, another internal key: another entry
    EXPECT_EQ(memo.size(), 2u);
    ASSERT_NE(memo.Find(Key(2), root), nullptr);
    EXPECT_EQ(memo.Find(Key(2), root)->xonly, q2->xonly);
    EXPECT_EQ(memo.Find(Key(1), H(8)), nullptr) << "another root is a miss";
    // OutputKey through the memo: from it when held, computed when not; the same key either way.
    for (const Uint256& r : {root, H(8)}) {
        const auto direct = OutputKey(Key(1), r);
        const auto via = OutputKey(Key(1), r, &memo);
        ASSERT_TRUE(direct && via);
        EXPECT_EQ(via->xonly, direct->xonly);
        EXPECT_EQ(via->parity, direct->parity);
    }
    // Many keys under one root (a recovery group's triggers) stay distinct entries.
    OutputKeyMemo many;
    for (uint8_t i = 1; i <= 50; ++i) many.Add(Key(i), root, crypto::TweakedKey{{i}, 0});
    EXPECT_EQ(many.size(), 50u);
    for (uint8_t i = 1; i <= 50; ++i) EXPECT_EQ(many.Find(Key(i), root)->xonly[0], i);
}

} // namespace vw::taproot
