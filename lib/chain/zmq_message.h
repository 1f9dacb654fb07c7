#pragma once
// bitcoind ZMQ notifications: a multipart message [topic, body, uint32 LE sequence] parsed into a
// typed event. Pure: the subscriber thread copies frames into owned buffers and calls this.

#include "primitives/hash_types.h"
#include "util/bytes.h"
#include "util/expected.h"

#include <string>
#include <string_view>
#include <map>
#include <span>
#include <tuple>
#include <variant>

namespace vw::chain {

enum class ZmqTopic { RawTx, HashTx, RawBlock, HashBlock, Sequence };
std::string_view ToString(ZmqTopic t);

//! `sequence` topic bodies (bitcoind zmqpublishnotifier.cpp SendSequenceMsg).
struct SeqBlockConnected { BlockHash hash; };
struct SeqBlockDisconnected { BlockHash hash; };
struct SeqTxAdded { Txid txid; uint64_t mempool_seq{0}; };
struct SeqTxRemoved { Txid txid; uint64_t mempool_seq{0}; };
using SequenceBody = std::variant<SeqBlockConnected, SeqBlockDisconnected, SeqTxAdded, SeqTxRemoved>;

struct ZmqMessage {
    ZmqTopic topic{ZmqTopic::RawTx};
    uint32_t sequence{0};   //!< per-notifier counter, starts at 0 when bitcoind starts
    Bytes body;             //!< owned copy: rawtx / rawblock bytes, or the hash in display order
    //! For hashtx/hashblock: the id (converted from display order). For sequence: the parsed body.
    std::variant<std::monostate, Txid, BlockHash, SequenceBody> parsed;
};

enum class ZmqParseError {
    WrongFrameCount,  //!< not exactly 3 frames
    UnknownTopic,
    BadSequenceFrame, //!< third frame is not 4 bytes
    BadHashBody,      //!< hash topic body is not 32 bytes
    BadSequenceBody,  //!< sequence body has the wrong size or label
    EmptyBody,        //!< rawtx/rawblock with no bytes
};
std::string_view ToString(ZmqParseError e);

//! Parses one multipart message. Does not decode raw transactions or blocks (the caller does,
//! with the same checked parsers as for RPC replies).
Expected<ZmqMessage, ZmqParseError> ParseZmqMessage(std::span<const ByteSpan> frames);

//! Per-notifier sequence bookkeeping (docs/bip345.md §14): each (endpoint, topic) has its own
//! uint32 counter. A jump means messages were dropped (HWM); a counter going back without
//! wrapping means bitcoind restarted.
class SequenceTracker
{
public:
    enum class Verdict {
        First,     //!< first message seen on this notifier
        InOrder,   //!< exactly last + 1 (mod 2^32)
        Gap,       //!< messages were lost: resync from RPC
        Restart,   //!< counter restarted (bitcoind restarted): resync from RPC
    };
    //! Records seq for (endpoint, topic) and classifies it.
    Verdict Observe(std::string_view endpoint, ZmqTopic topic, uint32_t seq);
    //! Forget everything (e.g. after reconnecting the subscriber).
    void Reset() { m_last.clear(); }

private:
    struct Key {
        std::string endpoint;
        ZmqTopic topic;
        bool operator<(const Key& o) const { return std::tie(endpoint, topic) < std::tie(o.endpoint, o.topic); }
    };
    std::map<Key, uint32_t> m_last;
};

} // namespace vw::chain
