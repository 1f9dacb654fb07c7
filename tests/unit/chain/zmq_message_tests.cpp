// Holds the ZMQ parser to the real bitcoind v31.0 capture in tests/data/bitcoind-wire.
#include "chain/zmq_message.h"
#include "primitives/block.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace vw::chain {
namespace {

boost::json::value LoadCapture()
{
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/bitcoind-wire/zmq-messages.json");
    EXPECT_TRUE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    return boost::json::parse(ss.str());
}

struct Frames {
    std::vector<Bytes> owned;
    std::vector<ByteSpan> spans;
};

Frames FramesOf(const boost::json::value& msg)
{
    Frames fr;
    for (const auto& f : msg.at("frames").as_array()) fr.owned.push_back(*ParseHex(f.as_string()));
    for (const auto& b : fr.owned) fr.spans.emplace_back(b);
    return fr;
}

TEST(zmq_message_tests, ParsesEveryCapturedMessage)
{
    const auto cap = LoadCapture();
    const auto& msgs = cap.as_array();
    ASSERT_GT(msgs.size(), 900u);
    std::map<std::string, int> by_topic;
    SequenceTracker tracker;
    int restarts = 0, gaps = 0;
    for (const auto& m : msgs) {
        const Frames fr = FramesOf(m);
        auto parsed = ParseZmqMessage(fr.spans);
        ASSERT_TRUE(parsed) << ToString(parsed.error());
        by_topic[std::string{ToString(parsed->topic)}]++;
        const std::string endpoint{m.at("endpoint").as_string()};
        switch (tracker.Observe(endpoint, parsed->topic, parsed->sequence)) {
        case SequenceTracker::Verdict::Restart: ++restarts; break;
        case SequenceTracker::Verdict::Gap: ++gaps; break;
        default: break;
        }
        if (parsed->topic == ZmqTopic::RawTx) {
            auto tx = DecodeTransaction(parsed->body);
            ASSERT_TRUE(tx) << "rawtx body must be a full transaction";
        }
        if (parsed->topic == ZmqTopic::RawBlock) {
            auto b = DecodeBlock(parsed->body);
            ASSERT_TRUE(b);
            EXPECT_EQ(BlockMerkleRoot(*b), b->header.merkle_root);
        }
    }
    // The capture has no drops, and one bitcoind restart: every notifier seen both before and
    // after it restarts its counter once.
    EXPECT_EQ(gaps, 0);
    EXPECT_GT(restarts, 0);
    EXPECT_GT(by_topic["rawtx"], 0);
    EXPECT_GT(by_topic["rawblock"], 0);
}

TEST(zmq_message_tests, HashTopicsAreInDisplayOrder)
{
    // Pair each hashblock (endpoint 28604) with the rawblock (28603) of the same counter value
    // in the same run, and each hashtx (28602) with rawtx (28601).
    const auto cap = LoadCapture();
    std::vector<BlockHash> raw_blocks, hash_blocks;
    std::vector<Txid> raw_txs, hash_txs;
    for (const auto& m : cap.as_array()) {
        const Frames fr = FramesOf(m);
        auto p = ParseZmqMessage(fr.spans);
        ASSERT_TRUE(p);
        const std::string ep{m.at("endpoint").as_string()};
        if (p->topic == ZmqTopic::RawBlock) raw_blocks.push_back(DecodeBlock(p->body)->header.GetHash());
        if (p->topic == ZmqTopic::HashBlock && ep.ends_with(":28604")) hash_blocks.push_back(std::get<BlockHash>(p->parsed));
        if (p->topic == ZmqTopic::RawTx) raw_txs.push_back(DecodeTransaction(p->body)->GetTxid());
        if (p->topic == ZmqTopic::HashTx && ep.ends_with(":28602")) hash_txs.push_back(std::get<Txid>(p->parsed));
    }
    ASSERT_FALSE(raw_blocks.empty());
    EXPECT_EQ(raw_blocks, hash_blocks);
    ASSERT_FALSE(raw_txs.empty());
    EXPECT_EQ(raw_txs, hash_txs);
}

TEST(zmq_message_tests, SequenceBodies)
{
    const auto cap = LoadCapture();
    int c = 0, d = 0, a = 0, r = 0;
    for (const auto& m : cap.as_array()) {
        const Frames fr = FramesOf(m);
        auto p = ParseZmqMessage(fr.spans);
        ASSERT_TRUE(p);
        if (p->topic != ZmqTopic::Sequence) continue;
        const auto& body = std::get<SequenceBody>(p->parsed);
        if (std::holds_alternative<SeqBlockConnected>(body)) ++c;
        if (std::holds_alternative<SeqBlockDisconnected>(body)) ++d;
        if (std::holds_alternative<SeqTxAdded>(body)) ++a;
        if (std::holds_alternative<SeqTxRemoved>(body)) ++r;
    }
    // The scenario connects blocks, disconnects them in reorgs, adds and removes (RBF, conflict).
    EXPECT_GT(c, 100);
    EXPECT_GE(d, 5);
    EXPECT_GT(a, 5);
    EXPECT_GE(r, 2);
}

TEST(zmq_message_tests, RejectsMalformed)
{
    const Bytes topic{'r', 'a', 'w', 't', 'x'}, body{1, 2, 3}, seq{0, 0, 0, 0}, seq3{0, 0, 0};
    const Bytes seq_topic{'s', 'e', 'q', 'u', 'e', 'n', 'c', 'e'}, bad_topic{'x'};
    std::vector<ByteSpan> two{topic, body};
    EXPECT_EQ(ParseZmqMessage(two).error(), ZmqParseError::WrongFrameCount);
    std::vector<ByteSpan> badseq{topic, body, seq3};
    EXPECT_EQ(ParseZmqMessage(badseq).error(), ZmqParseError::BadSequenceFrame);
    std::vector<ByteSpan> unk{bad_topic, body, seq};
    EXPECT_EQ(ParseZmqMessage(unk).error(), ZmqParseError::UnknownTopic);
    Bytes sbody(33, 0);
    sbody[32] = 'X';
    std::vector<ByteSpan> sq{seq_topic, sbody, seq};
    EXPECT_EQ(ParseZmqMessage(sq).error(), ZmqParseError::BadSequenceBody);
    sbody[32] = 'A'; // 'A' needs 8 more bytes
    EXPECT_EQ(ParseZmqMessage(sq).error(), ZmqParseError::BadSequenceBody);
    const Bytes empty;
    std::vector<ByteSpan> e{topic, empty, seq};
    EXPECT_EQ(ParseZmqMessage(e).error(), ZmqParseError::EmptyBody);
}

TEST(zmq_message_tests, SequenceTrackerVerdicts)
{
    SequenceTracker t;
    using V = SequenceTracker::Verdict;
    EXPECT_EQ(t.Observe("a", ZmqTopic::RawTx, 5), V::First);
    EXPECT_EQ(t.Observe("a", ZmqTopic::RawTx, 6), V::InOrder);
    EXPECT_EQ(t.Observe("a", ZmqTopic::RawTx, 9), V::Gap);
    EXPECT_EQ(t.Observe("a", ZmqTopic::RawTx, 0), V::Restart);
    EXPECT_EQ(t.Observe("b", ZmqTopic::RawTx, 0), V::First); // other endpoint, own counter
    EXPECT_EQ(t.Observe("a", ZmqTopic::HashTx, 7), V::First); // other topic, own counter
    EXPECT_EQ(t.Observe("a", ZmqTopic::RawTx, 1), V::InOrder);
    EXPECT_EQ(t.Observe("c", ZmqTopic::Sequence, 0xffffffffu), V::First);
    EXPECT_EQ(t.Observe("c", ZmqTopic::Sequence, 0), V::InOrder); // wraps at 2^32
}

} // namespace
} // namespace vw::chain
