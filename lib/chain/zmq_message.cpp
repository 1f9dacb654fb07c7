#include "chain/zmq_message.h"

namespace vw::chain {

std::string_view ToString(ZmqTopic t)
{
    switch (t) {
    case ZmqTopic::RawTx: return "rawtx";
    case ZmqTopic::HashTx: return "hashtx";
    case ZmqTopic::RawBlock: return "rawblock";
    case ZmqTopic::HashBlock: return "hashblock";
    case ZmqTopic::Sequence: return "sequence";
    }
    return "?";
}

std::string_view ToString(ZmqParseError e)
{
    switch (e) {
    case ZmqParseError::WrongFrameCount: return "ZMQ message does not have exactly 3 frames";
    case ZmqParseError::UnknownTopic: return "unknown ZMQ topic";
    case ZmqParseError::BadSequenceFrame: return "ZMQ sequence frame is not 4 bytes";
    case ZmqParseError::BadHashBody: return "ZMQ hash body is not 32 bytes";
    case ZmqParseError::BadSequenceBody: return "malformed ZMQ sequence body";
    case ZmqParseError::EmptyBody: return "empty ZMQ raw body";
    }
    return "unknown error";
}

namespace {
std::optional<ZmqTopic> TopicOf(ByteSpan f)
{
    const std::string_view s{reinterpret_cast<const char*>(f.data()), f.size()};
    if (s == "rawtx") return ZmqTopic::RawTx;
    if (s == "hashtx") return ZmqTopic::HashTx;
    if (s == "rawblock") return ZmqTopic::RawBlock;
    if (s == "hashblock") return ZmqTopic::HashBlock;
    if (s == "sequence") return ZmqTopic::Sequence;
    return std::nullopt;
}

// ZMQ hash bodies are in display order (bitcoind writes data[31-i] = hash[i]).
Uint256 FromDisplay(ByteSpan b)
{
    Uint256 u;
    for (size_t i = 0; i < 32; ++i) u.bytes[i] = b[31 - i];
    return u;
}

uint64_t LE64(ByteSpan b)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) v |= uint64_t{b[i]} << (8 * i);
    return v;
}
} // namespace

Expected<ZmqMessage, ZmqParseError> ParseZmqMessage(std::span<const ByteSpan> frames)
{
    if (frames.size() != 3) return Unexpected{ZmqParseError::WrongFrameCount};
    auto topic = TopicOf(frames[0]);
    if (!topic) return Unexpected{ZmqParseError::UnknownTopic};
    if (frames[2].size() != 4) return Unexpected{ZmqParseError::BadSequenceFrame};
    const ByteSpan body = frames[1];
    ZmqMessage m;
    m.topic = *topic;
    m.sequence = uint32_t{frames[2][0]} | uint32_t{frames[2][1]} << 8 | uint32_t{frames[2][2]} << 16 |
                 uint32_t{frames[2][3]} << 24;
    switch (*topic) {
    case ZmqTopic::RawTx:
    case ZmqTopic::RawBlock:
        if (body.empty()) return Unexpected{ZmqParseError::EmptyBody};
        break;
    case ZmqTopic::HashTx:
        if (body.size() != 32) return Unexpected{ZmqParseError::BadHashBody};
        m.parsed = Txid::FromUint256(FromDisplay(body));
        break;
    case ZmqTopic::HashBlock:
        if (body.size() != 32) return Unexpected{ZmqParseError::BadHashBody};
        m.parsed = BlockHash::FromUint256(FromDisplay(body));
        break;
    case ZmqTopic::Sequence: {
        if (body.size() < 33) return Unexpected{ZmqParseError::BadSequenceBody};
        const Uint256 h = FromDisplay(body.first(32));
        const uint8_t label = body[32];
        if ((label == 'C' || label == 'D') && body.size() == 33) {
            if (label == 'C') m.parsed = SequenceBody{SeqBlockConnected{BlockHash::FromUint256(h)}};
            else m.parsed = SequenceBody{SeqBlockDisconnected{BlockHash::FromUint256(h)}};
        } else if ((label == 'A' || label == 'R') && body.size() == 41) {
            const uint64_t seq = LE64(body.subspan(33, 8));
            if (label == 'A') m.parsed = SequenceBody{SeqTxAdded{Txid::FromUint256(h), seq}};
            else m.parsed = SequenceBody{SeqTxRemoved{Txid::FromUint256(h), seq}};
        } else {
            return Unexpected{ZmqParseError::BadSequenceBody};
        }
        break;
    }
    }
    m.body.assign(body.begin(), body.end());
    return m;
}

SequenceTracker::Verdict SequenceTracker::Observe(std::string_view endpoint, ZmqTopic topic, uint32_t seq)
{
    Key k{std::string{endpoint}, topic};
    auto it = m_last.find(k);
    if (it == m_last.end()) {
        m_last.emplace(std::move(k), seq);
        return Verdict::First;
    }
    const uint32_t last = it->second;
    it->second = seq;
    if (seq == last + 1) return Verdict::InOrder; // unsigned arithmetic wraps at 2^32
    // A restart sets the counter back to 0 (and counts up from there); a smaller value that is
    // not the wrap-around successor can only mean a new publisher.
    if (seq < last) return Verdict::Restart;
    return Verdict::Gap;
}

} // namespace vw::chain
