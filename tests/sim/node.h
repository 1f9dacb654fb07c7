#pragma once
// The regtest node model: block index with forks, active chain, UTXO set with undo data, mempool
// with mempool_sequence, and Core's validation-signal order (ActivateBestChain, InvalidateBlock,
// MaybeUpdateMempoolForReorg, removeForBlock). Scripts are executed only as ScriptRules asks
// (ccv_interp: BIP-443 tapscripts on a CCV node, the v31 OP_SUCCESSx policy without one).
// Single-threaded: the owner calls it from one thread.

#include "primitives/block.h"
#include "primitives/transaction.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace vw::sim {

//! Receives validation signals in bitcoind's order; the ZMQ layer implements it.
class NotificationSink
{
public:
    virtual ~NotificationSink() = default;
    //! rawtx/hashtx: a tx entered the mempool or belongs to a connected/disconnected block.
    virtual void Transaction(const vw::Transaction& tx) = 0;
    virtual void BlockConnected(const BlockHash& hash) = 0;     //!< sequence C
    virtual void BlockDisconnected(const BlockHash& hash) = 0;  //!< sequence D
    virtual void TipUpdated(const BlockHash& hash, const Bytes& raw_block) = 0;  //!< hashblock/rawblock
    virtual void MempoolAdded(const Txid& txid, uint64_t mempool_seq) = 0;      //!< sequence A
    virtual void MempoolRemoved(const Txid& txid, uint64_t mempool_seq) = 0;    //!< sequence R
};

struct Coin {
    TxOut out;
    int height{0};
    bool coinbase{false};
};

struct BlockIndex {
    BlockHash hash;
    BlockHeader header;
    int height{0};
    BlockIndex* prev{nullptr};
    uint64_t seq_id{0};   //!< arrival order: ties between equal-work tips go to the first seen
    bool failed{false};   //!< invalidateblock marked this block (descendants are invalid too)
    Block block;
    Bytes raw;
    std::string hex;  //!< HexStr(raw), built once (getblock verbosity 0 is the hot path)
    size_t stripped_size{0};
    size_t weight{0};
    std::vector<Coin> undo;       //!< coins spent by the block, in input order (set once connected)
    std::vector<Amount> tx_fees;  //!< per tx (coinbase 0), computed at connect
    bool have_undo{false};
    uint64_t ChainWork() const { return uint64_t{2} * static_cast<uint64_t>(height + 1); }  // regtest: 2 per block
};

struct MempoolEntry {
    vw::Transaction tx;
    Amount fee;
    int64_t time{0};
    int height{0};   //!< tip height at entry
    uint64_t order{0};
};

//! Result of mempool validation, in Core's TxValidationState terms.
struct AcceptResult {
    bool ok{false};
    int rpc_code{0};          //!< -25 or -26 for sendrawtransaction
    std::string reason;       //!< reject-reason
    std::string debug;        //!< appended after ", " in the full message
    bool missing_inputs{false};
    Amount fee;
    size_t vsize{0};
    std::vector<Txid> conflicts;   //!< mempool txs that would be replaced (with descendants)
    std::string Message() const { return debug.empty() ? reason : reason + ", " + debug; }
};

//! Extra txs (package members) whose outputs count as available.
using TxOverlay = std::vector<const vw::Transaction*>;

//! A hook for tests: return a reject reason to refuse a tx with -26.
using TxPolicyHook = std::function<std::optional<std::string>(const vw::Transaction&)>;

//! Which script rules the node applies (RegtestSim derives them from SimConfig). All off: no
//! script runs, as before.
struct ScriptRules {
    //! 0xbb is OP_CHECKCONTRACTVERIFY (the CCV node): every tx entering the mempool has its
    //! tapscript spends run by ccv_interp (policy flags, the node's mandatory/non-mandatory
    //! labels), and generateblock's txs under the block flags.
    bool ccv{false};
    //! Without CCV: a mempool spend of a tapscript leaf holding an OP_SUCCESSx (0xbb included)
    //! is refused as v31 refuses it (mempool-script-verify-flag-failed). Blocks take them.
    bool discourage_op_success{false};
    //! BIP-68 relative locks at the tip for the mempool ("non-BIP68-final"), for generateblock
    //! ("bad-txns-nonfinal") and after a reorg.
    bool bip68{false};
};

class Node
{
public:
    Node(NotificationSink& sink, std::function<int64_t()> clock);

    //! Loads the regtest genesis block and connects it (tx + C, no hashblock: IBD).
    void Init();

    // ---- chain ----
    const BlockIndex* Tip() const { return m_chain.empty() ? nullptr : m_chain.back(); }
    int Height() const { return static_cast<int>(m_chain.size()) - 1; }
    const BlockIndex* AtHeight(int h) const;
    const BlockIndex* Lookup(const BlockHash& h) const;
    bool InActiveChain(const BlockIndex* idx) const;
    const BlockIndex* Next(const BlockIndex* idx) const;  //!< successor in the active chain
    int64_t MedianTimePast(const BlockIndex* idx) const;
    bool InitialBlockDownload() const;
    std::vector<const BlockIndex*> AllBlocks() const;
    bool IsValidChain(const BlockIndex* idx) const;  //!< no failed block at or below idx
    uint64_t SizeOnDisk() const { return m_size_on_disk; }

    // ---- coins ----
    std::optional<Coin> GetUtxo(const OutPoint& o) const;

    // ---- mempool ----
    const MempoolEntry* GetMempool(const Txid& t) const;
    std::vector<const MempoolEntry*> MempoolInOrder() const;
    std::optional<Txid> MempoolSpender(const OutPoint& o) const;
    uint64_t MempoolSequence() const { return m_mempool_seq; }
    std::vector<Txid> MempoolParents(const MempoolEntry& e) const;
    std::vector<Txid> MempoolChildren(const MempoolEntry& e) const;
    std::vector<Txid> MempoolAncestors(const Txid& t) const;    //!< excluding t
    std::vector<Txid> MempoolDescendants(const Txid& t) const;  //!< excluding t

    //! Full policy check without side effects.
    AcceptResult CheckTx(const vw::Transaction& tx, const TxOverlay& overlay = {}, bool check_fee = true) const;
    //! Check and, on success, replace conflicts and add (signals R..., then tx + A).
    AcceptResult AcceptToMempool(const vw::Transaction& tx, bool check_fee = true);

    void SetPolicyHook(TxPolicyHook hook) { m_hook = std::move(hook); }
    void SetScriptRules(ScriptRules rules) { m_rules = rules; }
    const ScriptRules& Rules() const { return m_rules; }
    //! Mempool eviction (expiry, the size limit): t and its descendants leave (R for each).
    //! Returns: whether t was in the mempool.
    bool Evict(const Txid& t);
    //! -blockmintxfee: packages whose ancestor feerate is below this (sat/kvB) stay out of blocks.
    void SetBlockMinFee(int64_t sat_per_kvb) { m_block_min_fee = sat_per_kvb; }

    // ---- mining ----
    //! Builds a block on parent paying spk. txs: explicit list (generateblock) or nullopt for a
    //! template from the mempool. Returns the block or an error string.
    struct BuiltBlock {
        Block block;
        std::string error;
    };
    BuiltBlock BuildBlock(const BlockIndex* parent, const Bytes& spk, const std::optional<std::vector<vw::Transaction>>& txs) const;
    //! Stores the block (ProcessNewBlock) and activates the best chain. Returns its index.
    const BlockIndex* SubmitBlock(Block block, bool activate = true);
    void ActivateBestChain();
    //! invalidateblock / reconsiderblock.
    void InvalidateBlock(BlockIndex* idx);
    void ReconsiderBlock(BlockIndex* idx);
    BlockIndex* LookupMutable(const BlockHash& h);

    //! A crash before the last n blocks were flushed (bitcoind killed on regtest loses them): they
    //! are disconnected and forgotten, with any block built on them; getblock no longer finds them.
    void ForgetTip(int n);
    //! Simulated restart: mempool sequence restarts at 1; kept txs are re-announced (tx + A).
    void RestartMempool(bool keep);

    static Amount Subsidy(int height);
    //! Core's IsFinalTx at the next block (height = tip+1, time = tip MTP).
    bool IsFinalAtTip(const vw::Transaction& tx) const;
    //! BIP-68 at the next block (CheckSequenceLocksAtTip); a coin in the mempool or the overlay
    //! counts at height tip+1. An input whose coin is unknown does not lock.
    bool SequenceLocksAtTip(const vw::Transaction& tx, const TxOverlay& overlay = {}) const;

private:
    struct DisconnectPool {
        std::vector<vw::Transaction> txs;  //!< in the order they should be re-added
    };
    void ConnectTip(BlockIndex* idx, DisconnectPool* pool);
    void DisconnectTip(DisconnectPool* pool);
    void MaybeUpdateMempoolForReorg(DisconnectPool& pool, bool add);
    void RemoveForBlock(const std::vector<vw::Transaction>& txs);
    void RemoveEntry(const Txid& txid, bool signal);
    void RemoveRecursive(const Txid& txid);  //!< with R for each
    void AddEntry(const vw::Transaction& tx, Amount fee);
    BlockIndex* FindBestCandidate();
    std::optional<Coin> FindCoin(const OutPoint& o, const TxOverlay& overlay) const;

    NotificationSink& m_sink;
    std::function<int64_t()> m_clock;
    std::unordered_map<BlockHash, std::unique_ptr<BlockIndex>, HashIdHasher> m_index;
    std::vector<BlockIndex*> m_chain;
    std::unordered_map<OutPoint, Coin, OutPointHasher> m_utxo;
    uint64_t m_next_seq_id{0};
    uint64_t m_size_on_disk{0};
    mutable bool m_ibd_latched_off{false};

    std::unordered_map<Txid, MempoolEntry, HashIdHasher> m_pool;
    std::unordered_map<OutPoint, Txid, OutPointHasher> m_spenders;
    uint64_t m_mempool_seq{1};
    uint64_t m_order{0};
    TxPolicyHook m_hook;
    ScriptRules m_rules;
    int64_t m_block_min_fee{0};
};

} // namespace vw::sim
