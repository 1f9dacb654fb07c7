#include "script/taproot.h"

#include "crypto/sha256.h"
#include "util/serialize.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace vw::taproot {

std::string_view ToString(TaprootError e)
{
    switch (e) {
    case TaprootError::BadControlSize: return "control block size is not 33 + 32*m (m <= 128)";
    case TaprootError::BadInternalKey: return "internal key is not a valid x-only public key";
    case TaprootError::TweakOutOfRange: return "taproot tweak out of range";
    case TaprootError::EmptyWitness: return "empty witness";
    case TaprootError::BadTreeDepth: return "leaf depth out of range (0..128)";
    case TaprootError::IncompleteTree: return "leaf depths do not form a complete binary tree in DFS order";
    case TaprootError::NotP2TR: return "scriptPubKey is not pay-to-taproot";
    }
    return "unknown error";
}

Uint256 LeafHash(uint8_t leaf_version, ByteSpan script)
{
    auto h = crypto::TapLeafTag().Hasher();
    uint8_t prefix[10];
    prefix[0] = leaf_version;
    Bytes cs;
    Writer{cs}.CompactSize(script.size());
    std::memcpy(prefix + 1, cs.data(), cs.size());
    h.Write(ByteSpan{prefix, 1 + cs.size()}).Write(script);
    return h.Finalize();
}

Uint256 BranchHash(const Uint256& a, const Uint256& b)
{
    auto h = crypto::TapBranchTag().Hasher();
    if (b < a) {
        h.Write(b.span()).Write(a.span());
    } else {
        h.Write(a.span()).Write(b.span());
    }
    return h.Finalize();
}

Uint256 TweakHash(ByteSpan internal_key32, const std::optional<Uint256>& merkle_root)
{
    auto h = crypto::TapTweakTag().Hasher();
    h.Write(internal_key32);
    if (merkle_root) h.Write(merkle_root->span());
    return h.Finalize();
}

Expected<crypto::TweakedKey, TaprootError> OutputKey(const crypto::XOnlyPubKey& internal,
                                                     const std::optional<Uint256>& merkle_root)
{
    auto q = crypto::TweakAdd(internal, TweakHash(internal.span(), merkle_root));
    if (!q) return Unexpected{TaprootError::TweakOutOfRange};
    return *q;
}

namespace {
std::array<uint8_t, 64> MemoKey(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root)
{
    std::array<uint8_t, 64> k;
    std::memcpy(k.data(), internal.bytes().data(), 32);
    std::memcpy(k.data() + 32, merkle_root.span().data(), 32);
    return k;
}
} // namespace

size_t OutputKeyMemo::FromHash::operator()(const From& f) const
{
    // Both halves: vaults of one recovery group share a Merkle root and differ by internal key.
    return std::hash<std::string_view>{}(std::string_view{reinterpret_cast<const char*>(f.data()), f.size()});
}

void OutputKeyMemo::Add(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root, const crypto::TweakedKey& q)
{
    m_keys.emplace(MemoKey(internal, merkle_root), q);
}

const crypto::TweakedKey* OutputKeyMemo::Find(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root) const
{
    auto it = m_keys.find(MemoKey(internal, merkle_root));
    return it == m_keys.end() ? nullptr : &it->second;
}

Expected<crypto::TweakedKey, TaprootError> OutputKey(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root,
                                                     const OutputKeyMemo* memo)
{
    if (memo) {
        if (const auto* q = memo->Find(internal, merkle_root)) return *q;
    }
    return OutputKey(internal, std::optional<Uint256>{merkle_root});
}

Bytes P2TRScript(ByteSpan xonly32)
{
    Bytes spk(2 + xonly32.size());
    spk[0] = 0x51;
    spk[1] = 0x20;
    std::copy(xonly32.begin(), xonly32.end(), spk.begin() + 2);
    return spk;
}

std::optional<ByteSpan> P2TRProgram(ByteSpan spk)
{
    if (spk.size() != 34 || spk[0] != 0x51 || spk[1] != 0x20) return std::nullopt;
    return spk.subspan(2);
}

Expected<TapTree, TaprootError> TapTree::FromLeaves(std::vector<Leaf> leaves)
{
    struct Node {
        Uint256 hash;
        std::vector<size_t> leaves;
    };
    TapTree t;
    t.m_leaf_hashes.resize(leaves.size());
    t.m_paths.resize(leaves.size());
    // Pending left siblings by depth, sized to the deepest leaf (vault trees are shallow).
    size_t max_depth = 0;
    for (const Leaf& leaf : leaves) {
        if (leaf.depth < 0 || static_cast<size_t>(leaf.depth) > MAX_TREE_DEPTH) return Unexpected{TaprootError::BadTreeDepth};
        max_depth = std::max(max_depth, static_cast<size_t>(leaf.depth));
    }
    std::vector<std::optional<Node>> pending(max_depth + 1);
    bool complete = false;
    for (size_t i = 0; i < leaves.size(); ++i) {
        const Leaf& leaf = leaves[i];
        if (complete) return Unexpected{TaprootError::IncompleteTree};
        t.m_leaf_hashes[i] = LeafHash(leaf.version, leaf.script);
        Node node{t.m_leaf_hashes[i], {i}};
        size_t d = static_cast<size_t>(leaf.depth);
        // A leaf shallower than an unfinished deeper branch breaks DFS order (TaprootBuilder's
        // "deeper branch is unfinished" check): depths 2,1,2 describe no DFS-ordered tree.
        for (size_t j = d + 1; j <= max_depth; ++j) {
            if (pending[j]) return Unexpected{TaprootError::IncompleteTree};
        }
        // Combine with a pending left sibling at the same depth, moving up, like TaprootBuilder.
        while (d > 0 && pending[d]) {
            Node left = std::move(*pending[d]);
            pending[d].reset();
            for (size_t l : left.leaves) t.m_paths[l].push_back(node.hash);
            for (size_t l : node.leaves) t.m_paths[l].push_back(left.hash);
            Node parent{BranchHash(left.hash, node.hash), std::move(left.leaves)};
            parent.leaves.insert(parent.leaves.end(), node.leaves.begin(), node.leaves.end());
            node = std::move(parent);
            --d;
        }
        if (d == 0) {
            t.m_root = node.hash;
            complete = true;
        } else {
            pending[d] = std::move(node);
        }
    }
    if (!complete) return Unexpected{TaprootError::IncompleteTree};
    t.m_leaves = std::move(leaves);
    return t;
}

TapTree TapTree::WithLeafReplaced(size_t i, Bytes script) const
{
    std::vector<Leaf> leaves = m_leaves;
    leaves.at(i).script = std::move(script);
    auto t = FromLeaves(std::move(leaves));
    return std::move(*t); // same shape as this tree, so it is complete
}

Bytes ControlBlock::Serialize() const
{
    Bytes out;
    out.reserve(CONTROL_BASE_SIZE + CONTROL_NODE_SIZE * path.size());
    out.push_back(static_cast<uint8_t>(leaf_version | (parity & 1)));
    out.insert(out.end(), internal_key.begin(), internal_key.end());
    for (const auto& n : path) out.insert(out.end(), n.bytes.begin(), n.bytes.end());
    return out;
}

Expected<ControlBlock, TaprootError> ParseControlBlock(ByteSpan cb)
{
    if (cb.size() < CONTROL_BASE_SIZE || (cb.size() - CONTROL_BASE_SIZE) % CONTROL_NODE_SIZE != 0 ||
        (cb.size() - CONTROL_BASE_SIZE) / CONTROL_NODE_SIZE > MAX_TREE_DEPTH) {
        return Unexpected{TaprootError::BadControlSize};
    }
    ControlBlock c;
    c.leaf_version = cb[0] & 0xfe;
    c.parity = cb[0] & 1;
    if (!crypto::XOnlyPubKey::Parse(cb.subspan(1, 32))) return Unexpected{TaprootError::BadInternalKey};
    std::memcpy(c.internal_key.data(), cb.data() + 1, 32);
    const size_t m = (cb.size() - CONTROL_BASE_SIZE) / CONTROL_NODE_SIZE;
    c.path.resize(m);
    for (size_t i = 0; i < m; ++i) c.path[i] = Uint256::FromSpan(cb.subspan(CONTROL_BASE_SIZE + 32 * i, 32));
    return c;
}

Uint256 RootFromPath(const Uint256& leaf_hash, std::span<const Uint256> path)
{
    Uint256 k = leaf_hash;
    for (const auto& e : path) k = BranchHash(k, e);
    return k;
}

Expected<ControlBlock, TaprootError> MakeControlBlock(const TapTree& tree, size_t i, const crypto::XOnlyPubKey& internal)
{
    auto q = OutputKey(internal, tree.MerkleRoot());
    if (!q) return Unexpected{q.error()};
    return MakeControlBlock(tree, i, internal, *q);
}

ControlBlock MakeControlBlock(const TapTree& tree, size_t i, const crypto::XOnlyPubKey& internal, const crypto::TweakedKey& output_key)
{
    ControlBlock c;
    c.leaf_version = tree.leaves().at(i).version;
    c.parity = output_key.parity;
    c.internal_key = internal.bytes();
    c.path = tree.PathAt(i);
    return c;
}

bool VerifyScriptPath(const ControlBlock& cb, ByteSpan script, ByteSpan program32)
{
    if (program32.size() != 32) return false;
    auto p = crypto::XOnlyPubKey::Parse(cb.internal_key);
    if (!p) return false;
    const Uint256 root = RootFromPath(LeafHash(cb.leaf_version, script), cb.path);
    std::array<uint8_t, 32> q;
    std::memcpy(q.data(), program32.data(), 32);
    return crypto::TweakAddCheck(q, cb.parity, *p, TweakHash(p->span(), root));
}

std::optional<std::array<uint8_t, 32>> ScriptPathOutputKey(const ControlBlock& cb, ByteSpan script)
{
    auto p = crypto::XOnlyPubKey::Parse(cb.internal_key);
    if (!p) return std::nullopt;
    const Uint256 root = RootFromPath(LeafHash(cb.leaf_version, script), cb.path);
    auto q = crypto::TweakAdd(*p, TweakHash(p->span(), root));
    if (!q || q->parity != cb.parity) return std::nullopt;
    return q->xonly;
}

std::optional<ScriptPathView> ScriptPathOf(const std::vector<Bytes>& w)
{
    size_t n = w.size();
    if (n >= 2 && !w.back().empty() && w.back()[0] == ANNEX_TAG) --n;
    if (n < 2) return std::nullopt;
    const Bytes& cb = w[n - 1];
    if (cb.size() < CONTROL_BASE_SIZE || (cb.size() - CONTROL_BASE_SIZE) % CONTROL_NODE_SIZE != 0 ||
        (cb.size() - CONTROL_BASE_SIZE) / CONTROL_NODE_SIZE > MAX_TREE_DEPTH) {
        return std::nullopt;
    }
    return ScriptPathView{&w[n - 2], &cb, n - 2};
}

bool IsKeyPathSpend(const std::vector<Bytes>& w)
{
    size_t n = w.size();
    if (n >= 2 && !w.back().empty() && w.back()[0] == ANNEX_TAG) --n;
    return n == 1;
}

Expected<Spend, TaprootError> ClassifyWitness(std::span<const ByteSpan> items)
{
    if (items.empty()) return Unexpected{TaprootError::EmptyWitness};
    Spend s;
    if (items.size() >= 2 && !items.back().empty() && items.back()[0] == ANNEX_TAG) {
        s.annex = items.back();
        items = items.first(items.size() - 1);
    }
    if (items.size() == 1) {
        s.kind = Spend::Kind::KeyPath;
        s.signature = items[0];
        return s;
    }
    s.kind = Spend::Kind::ScriptPath;
    s.control = items[items.size() - 1];
    s.script = items[items.size() - 2];
    s.stack = items.first(items.size() - 2);
    return s;
}

} // namespace vw::taproot
