#pragma once
// Blocks, and zero-copy transaction views for the hot scanning path.

#include "primitives/transaction.h"

#include <optional>

namespace vw {

struct BlockHeader {
    int32_t version{0};
    BlockHash prev_block;
    Uint256 merkle_root;
    uint32_t time{0};
    uint32_t bits{0};
    uint32_t nonce{0};
    static constexpr size_t SIZE = 80;
    void Serialize(Writer& w) const;
    BlockHash GetHash() const;
};
std::optional<BlockHeader> ReadBlockHeader(SpanReader& r);

struct Block {
    BlockHeader header;
    std::vector<Transaction> txs;
};

enum class BlockParseError { Truncated, TrailingBytes, NoTransactions, BadTransaction };
struct BlockError {
    BlockParseError code{BlockParseError::Truncated};
    size_t tx_index{0};                        //!< for BadTransaction
    TxParseError tx_error{TxParseError::Truncated};
};
std::string ToString(const BlockError& e);

//! Decodes a full block (getblock verbosity 0 / ZMQ rawblock), computing every txid and wtxid.
Expected<Block, BlockError> DecodeBlock(ByteSpan bytes);
Bytes SerializeBlock(const Block& b);

//! Returns: the merkle root over leaves. *mutated is set when two identical adjacent hashes were
//! paired at some level (CVE-2012-2459), as Core's ComputeMerkleRoot does.
Uint256 ComputeMerkleRoot(std::vector<Uint256> leaves, bool* mutated = nullptr);
Uint256 BlockMerkleRoot(const Block& b, bool* mutated = nullptr);
//! Returns: the witness merkle root (coinbase wtxid replaced by zeros).
Uint256 BlockWitnessMerkleRoot(const Block& b);

// ---- zero-copy views -------------------------------------------------------------------------
// A view points into the caller's buffer and must not outlive it.

struct TxInView {
    ByteSpan prevout_txid;  //!< 32 bytes, serialization order
    uint32_t prevout_n{0};
    ByteSpan script_sig;
    uint32_t sequence{0};
    ByteSpan witness;       //!< the witness stack bytes (count prefix excluded)
    uint32_t witness_items{0};
};

struct TxOutView {
    int64_t value{0};
    ByteSpan script_pubkey;
};

struct TxView {
    ByteSpan raw;           //!< the whole serialized transaction
    ByteSpan stripped_body; //!< bytes between version (and segwit marker) and the witnesses
    uint32_t locktime{0};
    bool has_witness{false};
    std::vector<TxInView> vin;   //!< reused across calls: no allocation in steady state
    std::vector<TxOutView> vout;

    //! Computes the txid (double SHA-256 of the stripped serialization).
    Txid ComputeTxid() const;
};

//! Parses one transaction at the reader into out without copying bytes. Same acceptance rules
//! as ReadTransaction.
Expected<void, TxParseError> ReadTxView(SpanReader& r, TxView& out);

//! Splits a witness stack span into its items. Returns false if malformed (cannot happen for a
//! span produced by ReadTxView).
bool WitnessItems(ByteSpan witness, uint32_t count, std::vector<ByteSpan>& out);

} // namespace vw
