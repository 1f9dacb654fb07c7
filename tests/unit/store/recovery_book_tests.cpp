#include "store/recovery_book.h"

#include "unit/vault/scenario_test_util.h"
#include "vault/lifecycle.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace vw::store {
namespace {

using vault::testutil::T;

//! A recovery of `trigger` spending `ins` (the transaction is real: the book decodes its inputs).
RecoveryRow Row(const std::vector<OutPoint>& ins, const Txid& trigger, vault::RecoveryState state = vault::RecoveryState::Planned)
{
    MutableTransaction m;
    for (const auto& o : ins) m.vin.push_back(TxIn{o, {}, 0, {}});
    m.vout.push_back({Amount{1'000}, Bytes{0x51}});
    const Transaction tx{m};
    RecoveryRow r;
    r.txid = tx.GetTxid();
    r.trigger_txid = trigger;
    r.tx = SerializeTransaction(tx);
    r.state = state;
    return r;
}

TEST(recovery_book_tests, LiveRowsSpendTheirInputsAndLiveOrConfirmedOnesAnswerTheirTrigger)
{
    RecoveryBook book;
    const OutPoint trig_out{T(1), 0}, fee{T(9), 3};
    const RecoveryRow r = Row({trig_out, fee}, T(1));
    EXPECT_TRUE(book.Insert(r));
    EXPECT_FALSE(book.Insert(r)); // once per txid
    EXPECT_TRUE(book.LiveSpends(trig_out));
    EXPECT_TRUE(book.LiveSpends(fee));
    EXPECT_FALSE(book.LiveSpends({T(1), 1}));
    EXPECT_EQ(book.LiveSpenders(fee), std::vector<Txid>{r.txid});
    EXPECT_TRUE(book.Answers(T(1)));
    EXPECT_EQ(book.InputsOf(r.txid), (std::vector<OutPoint>{trig_out, fee}));
    const uint64_t before = book.losses();

    // Broadcast: still live, nothing lost.
    book.Change(r.txid)->state = vault::RecoveryState::Broadcast;
    EXPECT_TRUE(book.LiveSpends(fee));
    EXPECT_EQ(book.losses(), before);

    // Confirmed: it answers its trigger still, and spends nothing the wallet could give again.
    book.Change(r.txid)->state = vault::RecoveryState::Confirmed;
    EXPECT_FALSE(book.LiveSpends(fee));
    EXPECT_TRUE(book.Answers(T(1)));
    EXPECT_GT(book.losses(), before);

    // Back to Broadcast (a reorg), then dead: it answers nothing and holds no coin.
    book.Change(r.txid)->state = vault::RecoveryState::Broadcast;
    EXPECT_TRUE(book.LiveSpends(fee));
    const uint64_t live_again = book.losses();
    book.Change(r.txid)->state = vault::RecoveryState::Failed;
    EXPECT_FALSE(book.LiveSpends(fee));
    EXPECT_FALSE(book.Answers(T(1)));
    EXPECT_GT(book.losses(), live_again);
    EXPECT_TRUE(book.CheckIndexes());
}

TEST(recovery_book_tests, TwoRowsOfOneTriggerAnswerItUntilBothAreDead)
{
    RecoveryBook book;
    // A sweep and its fee bump: the same trigger output, two fee coins.
    const RecoveryRow a = Row({{T(1), 0}, {T(9), 0}}, T(1));
    const RecoveryRow b = Row({{T(1), 0}, {T(9), 1}}, T(1));
    book.Insert(a);
    book.Insert(b);
    EXPECT_EQ(book.LiveSpenders({T(1), 0}).size(), 2u);
    book.Change(a.txid)->state = vault::RecoveryState::Replaced;
    EXPECT_TRUE(book.Answers(T(1)));
    EXPECT_EQ(book.LiveSpenders({T(1), 0}), std::vector<Txid>{b.txid});
    EXPECT_FALSE(book.LiveSpends({T(9), 0}));
    book.Change(b.txid)->state = vault::RecoveryState::Conflicted;
    EXPECT_FALSE(book.Answers(T(1)));
    EXPECT_FALSE(book.LiveSpends({T(1), 0}));
    EXPECT_TRUE(book.CheckIndexes());
}

TEST(recovery_book_tests, AnOperatorsRecoveryAnswersNoTriggerAndAnUndecodableRowSpendsNothing)
{
    RecoveryBook book;
    const RecoveryRow op = Row({{T(2), 0}}, Txid{}); // recovervault: no trigger
    book.Insert(op);
    EXPECT_FALSE(book.Answers(Txid{}));
    EXPECT_TRUE(book.LiveSpends({T(2), 0}));
    RecoveryRow junk = Row({{T(3), 0}}, T(3));
    junk.tx = Bytes{0x01, 0x02};
    book.Insert(junk);
    EXPECT_TRUE(book.InputsOf(junk.txid).empty());
    EXPECT_TRUE(book.Answers(T(3)));
    EXPECT_TRUE(book.CheckIndexes());
}

TEST(recovery_book_tests, ResetReplacesEveryRowAndCountsAsALoss)
{
    RecoveryBook book;
    book.Insert(Row({{T(1), 0}}, T(1)));
    const uint64_t before = book.losses();
    std::vector<RecoveryRow> rows{Row({{T(2), 0}}, T(2)), Row({{T(3), 0}}, T(3), vault::RecoveryState::Failed)};
    book.Reset(rows);
    EXPECT_GT(book.losses(), before);
    EXPECT_EQ(book.size(), 2u);
    EXPECT_FALSE(book.Answers(T(1)));
    EXPECT_FALSE(book.LiveSpends({T(1), 0}));
    EXPECT_TRUE(book.Answers(T(2)));
    EXPECT_FALSE(book.Answers(T(3)));
    EXPECT_TRUE(book.CheckIndexes());
}

// The indexes after any sequence of inserts and state changes are those a fresh pass over the
// rows computes: CheckIndexes finds nothing to correct.
TEST(recovery_book_tests, UnsentListsThePlannedRowsAndSendingOneLosesNothing)
{
    RecoveryBook book;
    const RecoveryRow a = Row({{T(1), 0}}, T(1));
    const RecoveryRow b = Row({{T(2), 0}}, T(2), vault::RecoveryState::Broadcast);
    const RecoveryRow c = Row({{T(3), 0}}, T(3));
    ASSERT_TRUE(book.Insert(a));
    ASSERT_TRUE(book.Insert(b));
    ASSERT_TRUE(book.Insert(c));
    EXPECT_EQ(book.Unsent(), (std::set<Txid>{a.txid, c.txid}));
    const uint64_t losses = book.losses();
    book.Change(a.txid)->state = vault::RecoveryState::Broadcast; // a node accepted it
    EXPECT_EQ(book.Unsent(), (std::set<Txid>{c.txid}));
    EXPECT_EQ(book.losses(), losses) << "still live, still answering: no decision has anything to redo";
    book.Change(c.txid)->state = vault::RecoveryState::Failed; // refused: dead, planned again elsewhere
    EXPECT_TRUE(book.Unsent().empty());
    book.Change(b.txid)->state = vault::RecoveryState::Planned; // refused once, then back to be sent
    EXPECT_EQ(book.Unsent(), (std::set<Txid>{b.txid}));
    EXPECT_TRUE(book.CheckIndexes());
    book.Reset({a, b}); // as stored: a planned, b broadcast
    EXPECT_EQ(book.Unsent(), (std::set<Txid>{a.txid}));
}

TEST(recovery_book_tests, RandomChangesLeaveTheIndexesAsAFreshPassComputesThem)
{
    std::mt19937 rng(7);
    const vault::RecoveryState states[] = {vault::RecoveryState::Planned, vault::RecoveryState::Broadcast, vault::RecoveryState::Confirmed,
                                           vault::RecoveryState::Failed, vault::RecoveryState::Replaced, vault::RecoveryState::Conflicted};
    RecoveryBook book;
    std::vector<Txid> ids;
    for (int step = 0; step < 2'000; ++step) {
        if (ids.empty() || rng() % 3 == 0) {
            const uint8_t trig = static_cast<uint8_t>(rng() % 16);
            RecoveryRow r = Row({{T(trig), 0}, {T(200), static_cast<uint32_t>(rng() % 64)}}, T(trig), states[rng() % 6]);
            if (book.Insert(r)) ids.push_back(r.txid); // a repeat of a transaction is refused
        } else {
            book.Change(ids[rng() % ids.size()])->state = states[rng() % 6];
        }
        ASSERT_TRUE(book.CheckIndexes()) << "step " << step;
    }
}

} // namespace
} // namespace vw::store
