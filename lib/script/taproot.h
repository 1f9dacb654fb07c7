#pragma once
// BIP-341 taproot: leaf/branch/tweak hashing, script trees, control blocks, witness
// classification.

#include "crypto/secp.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"

#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace vw::taproot {

inline constexpr uint8_t LEAF_VERSION_TAPSCRIPT = 0xc0;
inline constexpr uint8_t ANNEX_TAG = 0x50;
inline constexpr size_t CONTROL_BASE_SIZE = 33;
inline constexpr size_t CONTROL_NODE_SIZE = 32;
inline constexpr size_t MAX_TREE_DEPTH = 128;

enum class TaprootError {
    BadControlSize,     //!< not 33 + 32m bytes with m <= 128
    BadInternalKey,     //!< internal key is not a valid x-only point
    TweakOutOfRange,    //!< tweak >= curve order (negligible, but checked)
    EmptyWitness,
    BadTreeDepth,       //!< a leaf deeper than 128
    IncompleteTree,     //!< depths do not describe a complete binary tree
    NotP2TR,            //!< scriptPubKey is not OP_1 <32 bytes>
};
std::string_view ToString(TaprootError e);

Uint256 LeafHash(uint8_t leaf_version, ByteSpan script);
Uint256 BranchHash(const Uint256& a, const Uint256& b);
//! Returns: TapTweak(P || root), or TapTweak(P) with no script tree.
Uint256 TweakHash(ByteSpan internal_key32, const std::optional<Uint256>& merkle_root);
//! Returns: the output key Q = P + TapTweak(P||root)*G with its parity.
Expected<crypto::TweakedKey, TaprootError> OutputKey(const crypto::XOnlyPubKey& internal,
                                                     const std::optional<Uint256>& merkle_root);

//! Output keys computed ahead of need (a block's triggers, on every core), keyed by what each is
//! computed from: a lookup can miss, but never answers with another tree's key.
class OutputKeyMemo
{
public:
    void Add(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root, const crypto::TweakedKey& q);
    const crypto::TweakedKey* Find(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root) const;
    size_t size() const { return m_keys.size(); }

private:
    using From = std::array<uint8_t, 64>; // internal key || merkle root
    struct FromHash {
        size_t operator()(const From& f) const;
    };
    std::unordered_map<From, crypto::TweakedKey, FromHash> m_keys;
};
//! OutputKey, taken from memo when it holds it (memo may be null).
Expected<crypto::TweakedKey, TaprootError> OutputKey(const crypto::XOnlyPubKey& internal, const Uint256& merkle_root,
                                                     const OutputKeyMemo* memo);

//! Returns: the P2TR scriptPubKey OP_1 <x>.
Bytes P2TRScript(ByteSpan xonly32);
//! Returns: the 32-byte witness program if spk is exactly OP_1 0x20 <32>, else nullopt.
std::optional<ByteSpan> P2TRProgram(ByteSpan spk);

struct Leaf {
    Bytes script;
    int depth{0};
    uint8_t version{LEAF_VERSION_TAPSCRIPT};
};

//! A script tree built from leaves in BIP-341 depth-first order with their depths (the form of
//! descriptors' tr() and of Core's TaprootBuilder). Keeps each leaf's hash and merkle path.
class TapTree
{
public:
    static Expected<TapTree, TaprootError> FromLeaves(std::vector<Leaf> leaves);

    const Uint256& MerkleRoot() const { return m_root; }
    const std::vector<Leaf>& leaves() const { return m_leaves; }
    const Uint256& LeafHashAt(size_t i) const { return m_leaf_hashes.at(i); }
    //! Sibling hashes from leaf i up to the root (the control block's path).
    const std::vector<Uint256>& PathAt(size_t i) const { return m_paths.at(i); }
    //! Returns: the tree with leaf i's script replaced (same shape, same other leaves).
    TapTree WithLeafReplaced(size_t i, Bytes script) const;

private:
    std::vector<Leaf> m_leaves;
    std::vector<Uint256> m_leaf_hashes;
    std::vector<std::vector<Uint256>> m_paths;
    Uint256 m_root;
};

struct ControlBlock {
    uint8_t leaf_version{LEAF_VERSION_TAPSCRIPT};
    int parity{0};
    std::array<uint8_t, 32> internal_key{};
    std::vector<Uint256> path;

    Bytes Serialize() const;
    friend bool operator==(const ControlBlock&, const ControlBlock&) = default;
};

//! Parses a control block; checks the size rule and that the internal key is a curve point.
Expected<ControlBlock, TaprootError> ParseControlBlock(ByteSpan cb);
//! Returns: the merkle root reached from leaf_hash along path.
Uint256 RootFromPath(const Uint256& leaf_hash, std::span<const Uint256> path);
//! Returns: the control block for leaf i of tree under internal key (parity computed).
Expected<ControlBlock, TaprootError> MakeControlBlock(const TapTree& tree, size_t i, const crypto::XOnlyPubKey& internal);
//! The same for a tree whose output key is already known (its parity is all the EC work a control
//! block needs): no second tweak. Pre: output_key = OutputKey(internal, tree.MerkleRoot()).
ControlBlock MakeControlBlock(const TapTree& tree, size_t i, const crypto::XOnlyPubKey& internal, const crypto::TweakedKey& output_key);
//! Returns: whether script + cb commit to the 32-byte witness program (BIP-341 script path
//! check, parity included).
bool VerifyScriptPath(const ControlBlock& cb, ByteSpan script, ByteSpan program32);
//! Returns: the x-only output key that script + cb commit to (one EC tweak), or nullopt if the
//! internal key is not a curve point or the computed parity differs from cb's (consensus would
//! reject the spend). Lets a caller look the spent output up once instead of verifying the path
//! against every candidate key.
std::optional<std::array<uint8_t, 32>> ScriptPathOutputKey(const ControlBlock& cb, ByteSpan script);

//! The script-path part of a witness (annex stripped), viewed in place: the leaf script, the
//! control block (its size checked: 33 + 32k bytes, k <= 128) and how many stack items lie below.
struct ScriptPathView {
    const Bytes* script{nullptr};
    const Bytes* control{nullptr};
    size_t stack_items{0};
};
//! Returns: the script path of witness, or nullopt for a key path spend or a control block of a
//! size no tree has. No copy: the hot path of the matcher, once per input.
std::optional<ScriptPathView> ScriptPathOf(const std::vector<Bytes>& witness);
//! Returns: whether witness is a key path spend (one item once an annex is stripped).
bool IsKeyPathSpend(const std::vector<Bytes>& witness);

//! How a witness v1 (32-byte program) input is being spent.
struct Spend {
    enum class Kind { KeyPath, ScriptPath } kind{Kind::KeyPath};
    ByteSpan signature;            //!< key path only
    ByteSpan script;               //!< script path: the leaf script (witness[-2] after annex)
    ByteSpan control;              //!< script path: the control block (witness[-1] after annex)
    std::span<const ByteSpan> stack; //!< script path: the initial stack, witness[0] first
    std::optional<ByteSpan> annex;
};
//! Classifies a taproot witness (BIP-341): strips an annex, then 1 item = key path, >=2 items =
//! script path. The spans view items, which must outlive the result.
Expected<Spend, TaprootError> ClassifyWitness(std::span<const ByteSpan> items);

} // namespace vw::taproot
