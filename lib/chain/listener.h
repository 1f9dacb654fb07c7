#pragma once
// What the chain follower tells the rest of the daemon. Implementations stage their state
// changes in the block's batch so that they commit together with the cursor.

#include "primitives/block.h"
#include "store/store.h"

#include <chrono>

namespace vw::chain {

//! When the tower first held a transaction's bytes (a ZMQ frame's arrival, or the node's reply);
//! the epoch when unknown. The reaction time of an answer is counted from here.
using SeenAt = std::chrono::steady_clock::time_point;

class ChainListener
{
public:
    virtual ~ChainListener() = default;
    //! A block became part of our best chain at height. Called in height order.
    virtual void BlockConnected(const Block& block, int height, store::BlockBatch& batch) = 0;
    //! The block at height left our best chain. Called tip first, down to the fork point. Only
    //! its hash: the node may no longer have the block (lost in a crash before it was flushed,
    //! or a different node), and what it changed is known from the store.
    virtual void BlockDisconnected(const BlockHash& hash, int height, store::BlockBatch& batch) = 0;
    //! A transaction entered the node's mempool (or was found there on a resync): the node said so
    //! and these are its bytes.
    virtual void TxAddedToMempool(const Transaction& tx, SeenAt seen = {}) = 0;
    //! A transaction as ZMQ announced it, not confirmed by the node: whoever can publish on the
    //! ZMQ port (a process that took it before bitcoind did) can send anything, and a txid does
    //! not commit to the witness. A listener that acts on it asks the node first. Default: as
    //! TxAddedToMempool, for listeners that only record.
    virtual void TxAnnounced(const Transaction& tx, SeenAt seen = {}) { TxAddedToMempool(tx, seen); }
    //! A transaction left the mempool for a reason other than being mined (replaced, conflict,
    //! expiry, or found missing on a resync).
    virtual void TxRemovedFromMempool(const Txid& txid) = 0;
    //! The batch of the block just connected or disconnected is durable (cursor at height):
    //! what it decided may now be acted on (broadcasts happen only after their intent is stored).
    virtual void BatchCommitted(int /*height*/) {}
    //! The batch could not be committed (disk full, I/O error): nothing of it is durable, and the
    //! same blocks come again. Drop what was applied in memory for it.
    virtual void BatchAborted() {}
};

} // namespace vw::chain
