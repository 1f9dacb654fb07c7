#pragma once
// The in-memory watch index behind the block/mempool matcher (docs/product.md §2.1, §9).
//
// Keys                                   Value
//   taproot leaves (version, script)  -> VaultRef   matched by TapLeaf hash (exact)
//   TapLeaf hashes without a script   -> VaultRef   (slower scan path, see below)
//   scriptPubKeys                     -> VaultRef   deposits, revault outputs, trigger outputs
//   outpoints                         -> VaultRef   watched UTXOs
//
// Layout. One open-addressing table of 8-byte slots {uint32 tag, uint32 entry} grouped in
// 64-byte buckets of 8 slots (one cache line), probed bucket by bucket (linear). The tag is the
// high half of a 64-bit fingerprint of the key and also chooses the home bucket, so the table
// can be grown without the keys. A lookup that misses (the overwhelming majority during a scan)
// is nearly always turned away by a blocked Bloom filter in front of the table (one 64-bit word
// per bucket, a table an eighth the size that stays in the cache); the rest read one cache line:
// the home bucket, which almost always has an empty slot and ends the probe. A tag hit is confirmed against the exact key, kept once in a dense per-kind array
// (32-byte hash + 4-byte ref for leaves, txid + n + ref for outpoints, bytes in an arena for
// scriptPubKeys). The table is a multimap: one key may belong to several vaults.
//
// Leaves registered with their script are filed under a fast non-cryptographic fingerprint of
// (leaf version, script) (FastHash64 below), and their dense entry keeps the exact TapLeaf hash.
// The scanner hashes a script-path input's script cheaply, and only on a tag hit computes the
// TapLeaf hash (SHA-256) and compares it with the stored one. Equal scripts have equal
// fingerprints, so the pre-filter can not cause a false negative; the exact decision is always the
// TapLeaf hash. Leaves known only by hash (InsertLeafHash) force the scanner to compute the
// TapLeaf hash of every script-path input; registration should pass scripts.
//
// Not thread-safe for writers; any number of concurrent readers when no writer runs.

#include "primitives/block.h"
#include "primitives/transaction.h"
#include "util/bytes.h"
#include "util/expected.h"
#include "util/uint256.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace vw::vault {

//! A fast 64-bit non-cryptographic hash (multiply-mix, wyhash style). Only for pre-filters: it
//! is deterministic, so equal inputs always collide, which is all a pre-filter needs.
uint64_t FastHash64(ByteSpan data, uint64_t seed);

//! What a key means for its vault.
enum class RefKind : uint8_t {
    TriggerLeaf = 0,     //!< an OP_VAULT trigger leaf
    RecoverLeaf = 1,     //!< an OP_VAULT_RECOVER leaf
    VaultSpk = 2,        //!< the vault's own scriptPubKey (deposits, revault outputs)
    TriggerSpk = 3,      //!< a trigger output's scriptPubKey
    VaultOutpoint = 4,   //!< a vault UTXO
    TriggerOutpoint = 5, //!< a trigger output being watched
    Other = 15,
};
std::string_view ToString(RefKind k);

//! Vault index (0 .. 2^28-1) and kind; stored packed in 4 bytes.
struct VaultRef {
    uint32_t vault{0};
    RefKind kind{RefKind::Other};

    static constexpr uint32_t MAX_VAULT = (1u << 28) - 1;
    uint32_t Pack() const { return (vault & MAX_VAULT) | (static_cast<uint32_t>(kind) << 28); }
    static VaultRef Unpack(uint32_t p) { return {p & MAX_VAULT, static_cast<RefKind>(p >> 28)}; }
    friend bool operator==(const VaultRef&, const VaultRef&) = default;
    friend auto operator<=>(const VaultRef&, const VaultRef&) = default;
};

//! Which key of a transaction matched.
enum class MatchWhat : uint8_t {
    InputOutpoint = 0, //!< input io_index spends a watched outpoint
    InputLeaf = 1,     //!< input io_index is a script-path spend of a registered leaf
    OutputSpk = 2,     //!< output io_index pays a registered scriptPubKey
};
std::string_view ToString(MatchWhat w);

struct Match {
    uint32_t tx_index{0};  //!< position in the block (0 for ScanTransaction)
    uint32_t io_index{0};  //!< input or output index
    MatchWhat what{MatchWhat::InputOutpoint};
    VaultRef ref;
    Txid txid;             //!< of the matching transaction (computed only for matches)
    uint32_t tx_offset{0}; //!< the transaction's bytes within the scanned buffer
    uint32_t tx_size{0};
    friend bool operator==(const Match&, const Match&) = default;
};

struct ScanStats {
    uint64_t txs{0};
    uint64_t inputs{0};
    uint64_t outputs{0};
    uint64_t leaf_candidates{0};  //!< script-path inputs whose script was fingerprinted
    uint64_t leaf_hashes{0};      //!< TapLeaf hashes (SHA-256) computed
    uint64_t table_reads{0};      //!< probes the Bloom filter let through to the bucket table
    uint64_t tag_hits{0};         //!< pre-filter hits (true and false positives)
    uint64_t matches{0};
};

class WatchIndex
{
public:
    WatchIndex();
    ~WatchIndex();
    WatchIndex(WatchIndex&&) noexcept;
    WatchIndex& operator=(WatchIndex&&) noexcept;
    WatchIndex(const WatchIndex&) = delete;
    WatchIndex& operator=(const WatchIndex&) = delete;

    //! Sizes the table for n keys in all (leaves + spks + outpoints) so that a cold start does
    //! not rehash. Optional.
    void Reserve(size_t keys);

    // Inserts return false when the same (key, ref) is already present or the key is invalid
    // (scriptPubKey over 10,000 bytes, vault index too large).
    bool InsertLeaf(uint8_t leaf_version, ByteSpan script, VaultRef ref);
    //! The same with the leaf's TapLeaf hash already known (pre: taproot::LeafHash(version, script)).
    bool InsertLeaf(uint8_t leaf_version, ByteSpan script, const Uint256& leaf_hash, VaultRef ref);
    bool InsertLeafHash(const Uint256& leaf_hash, VaultRef ref);
    //! The fingerprint a scripted leaf is filed under (what InsertLeaf computes from the script).
    static uint64_t LeafFingerprint(uint8_t leaf_version, ByteSpan script);
    //! A scripted leaf shared by several vaults, indexed once and counted: the first user files
    //! it under ref (script given by its size and LeafFingerprint, as a cold start has them), the
    //! others only count. Returns: the users after the call (0: refused, as InsertLeaf refuses).
    uint32_t AcquireLeaf(uint8_t leaf_version, uint32_t script_size, uint64_t script_fp, const Uint256& leaf_hash, VaultRef ref);
    //! One user fewer; the last one erases the leaf. Returns: the users left, or nullopt if the
    //! leaf was not acquired.
    std::optional<uint32_t> ReleaseLeaf(uint64_t script_fp, const Uint256& leaf_hash);
    bool InsertSpk(ByteSpan spk, VaultRef ref);
    bool InsertOutpoint(ByteSpan txid32, uint32_t n, VaultRef ref);
    bool InsertOutpoint(const OutPoint& o, VaultRef ref) { return InsertOutpoint(o.txid.span(), o.n, ref); }

    // Erase one (key, ref); returns whether it was present. Dense storage of erased keys is
    // reclaimed at the next rehash.
    bool EraseLeaf(uint8_t leaf_version, ByteSpan script, VaultRef ref);
    bool EraseLeafHash(const Uint256& leaf_hash, VaultRef ref);
    bool EraseSpk(ByteSpan spk, VaultRef ref);
    bool EraseOutpoint(ByteSpan txid32, uint32_t n, VaultRef ref);

    // Exact lookups; append every ref registered under the key, return how many.
    size_t FindLeaf(uint8_t leaf_version, ByteSpan script, std::vector<VaultRef>& out) const;
    size_t FindLeafHash(const Uint256& leaf_hash, std::vector<VaultRef>& out) const;
    size_t FindSpk(ByteSpan spk, std::vector<VaultRef>& out) const;
    size_t FindOutpoint(ByteSpan txid32, uint32_t n, std::vector<VaultRef>& out) const;

    size_t size() const { return m_live; }
    bool HasLeaves() const { return m_scripted_leaves + m_hash_leaves > 0; }
    //! Bytes allocated by the index (table capacity, dense chunks, arena), not just used.
    size_t MemoryUsage() const;

    struct Impl;

private:
    friend struct ScanAccess;
    std::unique_ptr<Impl> m_impl;
    size_t m_live{0};
    size_t m_scripted_leaves{0};
    size_t m_hash_leaves{0};
};

//! Parses a raw block without copying (no txid computed except for matching transactions) and
//! matches every input's prevout, every script-path input's leaf and every output's
//! scriptPubKey. Appends matches in block order (tx, then inputs, then outputs). Accepts and
//! rejects exactly the blocks DecodeBlock does, with the same error.
Expected<ScanStats, BlockError> ScanBlock(ByteSpan raw_block, const WatchIndex& index, std::vector<Match>& out);

//! The same for one serialized transaction (mempool, ZMQ rawtx); tx_index is reported in matches.
Expected<ScanStats, TxParseError> ScanTransaction(ByteSpan raw_tx, const WatchIndex& index, std::vector<Match>& out,
                                                  uint32_t tx_index = 0);

//! The script-path part of a witness, as ClassifyWitness defines it, if the control block has a
//! valid size (33 + 32m, m <= 128). Shared by the scanner and its reference tests.
struct ScriptPathView {
    uint8_t leaf_version{0};
    ByteSpan script;
    ByteSpan control;
};
std::optional<ScriptPathView> ScriptPathOf(ByteSpan witness, uint32_t items);

} // namespace vw::vault
