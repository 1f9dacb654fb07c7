#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

namespace vw::store {
namespace {

class TempDb
{
public:
    TempDb()
    {
        std::random_device rd;
        m_dir = std::filesystem::temp_directory_path() / ("vw-store-" + std::to_string(rd()));
        std::filesystem::create_directories(m_dir);
    }
    ~TempDb() { std::filesystem::remove_all(m_dir); }
    std::string path() const { return (m_dir / "vaultwatch.sqlite").string(); }

private:
    std::filesystem::path m_dir;
};

BlockHash H(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return BlockHash::FromUint256(u);
}

void RawExec(const std::string& path, const char* sql)
{
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
}

TEST(sqlite_store_tests, FreshDatabaseHasNoCursor)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s) << s.error().message;
    auto c = (*s)->LoadCursor();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->height, -1);
}

TEST(sqlite_store_tests, CursorAndBlocksSurviveReopen)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        for (int h = 0; h < 5; ++h) {
            BlockBatch b;
            b.new_cursor = {h, H(static_cast<uint8_t>(h + 1))};
            b.connected = {{h, H(static_cast<uint8_t>(h + 1))}};
            ASSERT_TRUE((*s)->Commit(b));
        }
        // A reorg of depth 2: forget heights >= 3, connect a new block at 3.
        BlockBatch r;
        r.disconnect_from = 3;
        r.new_cursor = {3, H(0x33)};
        r.connected = {{3, H(0x33)}};
        ASSERT_TRUE((*s)->Commit(r));
    }
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto c = (*s)->LoadCursor();
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, (Cursor{3, H(0x33)}));
    EXPECT_EQ(*(*s)->BlockAt(2), H(3));
    EXPECT_EQ(*(*s)->BlockAt(3), H(0x33));
    EXPECT_FALSE((*s)->BlockAt(4)->has_value());
}

TEST(sqlite_store_tests, CorruptRowIsAnErrorNotADefault)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        BlockBatch b;
        b.new_cursor = {0, H(1)};
        b.connected = {{0, H(1)}};
        ASSERT_TRUE((*s)->Commit(b));
    }
    // Bypass the CHECK constraint the only way an outside writer could: drop and recreate.
    RawExec(t.path(), "PRAGMA ignore_check_constraints=ON; UPDATE blocks SET hash = x'00' WHERE height = 0;");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto b = (*s)->BlockAt(0);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().kind, StoreError::Kind::Corrupt);
}

TEST(sqlite_store_tests, RefusesNewerSchemaAndGarbageFiles)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
    }
    RawExec(t.path(), "UPDATE version SET version = 999;");
    auto s = OpenSqliteStore(t.path());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, StoreError::Kind::Corrupt);

    TempDb g;
    {
        FILE* f = std::fopen(g.path().c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::fputs("this is not a database, just some bytes that are long enough to matter.............", f);
        std::fclose(f);
    }
    auto bad = OpenSqliteStore(g.path());
    ASSERT_FALSE(bad);
}


StateChanges SampleState()
{
    StateChanges c;
    c.vaults.push_back({0, "v-0123456789abcdef", "opvault", R"({"kind":"opvault"})", R"({"mode":"recover"})", false, 1700000000, Bytes{1, 2, 3}});
    c.vaults.push_back({1, "v-fedcba9876543210", "presigned", R"({"kind":"presigned"})", R"({"mode":"alert"})", false, 1700000001, {}});
    Uint256 v;
    v.bytes.fill(7);
    c.approvals.push_back({0, 1, "trigger_txid", v, 120, false});
    VaultTxRow t;
    t.height = 5;
    t.pos = 2;
    t.block = H(5);
    t.txid = Txid::FromUint256(v);
    t.tx = {1, 2, 3};
    c.vault_txs.push_back(t);
    RecoveryRow r;
    r.txid = Txid::FromUint256(v);
    r.kind = vault::PlanKind::Presigned;
    r.trigger_txid = Txid::FromUint256(v);
    r.vault_ids = {"v-fedcba9876543210", "v-0123456789abcdef"};
    r.tx = {9, 9};
    r.state = vault::RecoveryState::Planned;
    r.deadline_height = 144;
    r.created_at = 1700000002;
    c.recoveries.push_back(r);
    c.events.push_back({0, 1700000003, "vault.trigger", "v-fedcba9876543210", std::string(64, 'a'), std::nullopt, "{}"});
    return c;
}

TEST(sqlite_store_tests, StateRowsRoundTripAndSurviveReopen)
{
    TempDb t;
    const auto c = SampleState();
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        auto seqs = (*s)->Apply(c);
        ASSERT_TRUE(seqs) << seqs.error().message;
        ASSERT_EQ(seqs->size(), 1u);
        EXPECT_EQ((*seqs)[0], 1);
    }
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto vaults = (*s)->LoadVaults();
    ASSERT_TRUE(vaults);
    EXPECT_EQ(*vaults, c.vaults);
    auto apps = (*s)->LoadApprovals();
    ASSERT_TRUE(apps);
    ASSERT_EQ(apps->size(), 1u);
    EXPECT_EQ((*apps)[0].id, 1);
    EXPECT_EQ((*apps)[0].value, c.approvals[0].value);
    EXPECT_EQ((*apps)[0].expiry_height, 120);
    auto txs = (*s)->LoadVaultTxs();
    ASSERT_TRUE(txs);
    EXPECT_EQ(*txs, c.vault_txs);
    auto recs = (*s)->LoadRecoveries();
    ASSERT_TRUE(recs);
    EXPECT_EQ(*recs, c.recoveries);
    auto ev = (*s)->LoadEvents(0, 10);
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->size(), 1u);
    EXPECT_EQ((*ev)[0].type, "vault.trigger");
    EXPECT_EQ((*ev)[0].seq, 1);
    EXPECT_TRUE((*s)->LoadEvents(1, 10)->empty());
}

TEST(sqlite_store_tests, StatementsAreKeptAndAReadInsideAReadOfTheSameKindStillWorks)
{
    // Statements are prepared once per connection and reused. A read made while the same read is
    // under way (a callback of ScanVaults reading the table again) gets a statement of its own;
    // a read left half-way holds nothing open (another connection's write goes through).
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto c = SampleState();
    ASSERT_TRUE((*s)->Apply(c));
    for (int round = 0; round < 3; ++round) {
        auto v = (*s)->LoadVaults();
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(*v, c.vaults) << "round " << round;
    }
    size_t inner = 0;
    auto outer = (*s)->ScanVaults(0, SIZE_MAX, [&](const VaultRowView& row) {
        auto again = (*s)->ScanVaults(0, SIZE_MAX, [&](const VaultRowView&) { ++inner; });
        EXPECT_TRUE(again) << (again ? "" : again.error().message);
        auto one = (*s)->LoadVault(row.idx);
        ASSERT_TRUE(one && *one);
        EXPECT_EQ((*one)->vault_id, row.vault_id);
    });
    ASSERT_TRUE(outer) << outer.error().message;
    EXPECT_EQ(*outer, c.vaults.size());
    EXPECT_EQ(inner, c.vaults.size() * c.vaults.size());
    // A scan stopped after one row: the statement is reset when given back, so no read snapshot
    // stays open and another connection can checkpoint the whole WAL.
    (void)(*s)->LoadVaults(0, 1);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(t.path().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* cp = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &cp, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(cp), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(cp, 0), 0) << "the checkpoint was blocked by a reader";
    sqlite3_finalize(cp);
    sqlite3_close(db);
    auto after = (*s)->LoadVaults();
    ASSERT_TRUE(after);
    EXPECT_EQ(*after, c.vaults);
}

TEST(sqlite_store_tests, ACommitThatDoesNotWaitForTheDiskIsStillInTheFileForAnotherReader)
{
    // A sweep planned at first sight is committed without waiting for the fsync: the commit is
    // in the WAL, so another connection (the process after a crash) reads it while this one is
    // still open, and the next commit that waits makes both durable.
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto c = SampleState();
    c.wait_for_disk = false;
    ASSERT_TRUE((*s)->Apply(c));
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(t.path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM recoveries", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), static_cast<int>(c.recoveries.size()));
    sqlite3_finalize(st);
    sqlite3_close(db);
    store::StateChanges next;
    next.events = c.events;
    auto seqs = (*s)->Apply(next);
    ASSERT_TRUE(seqs) << seqs.error().message;
    EXPECT_EQ((*seqs)[0], 2);
}

TEST(sqlite_store_tests, TheWalIsCopiedIntoTheDatabaseByAThreadOfItsOwnNotByACommit)
{
    // SQLite's own checkpoint runs inside the commit that takes the WAL past 1,000 pages (1-2 ms),
    // which could be the one written between a trigger and its sweep. The store's thread copies.
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    const auto before = std::filesystem::file_size(t.path());
    constexpr int kCommits = 400;
    for (int i = 0; i < kCommits; ++i) {
        StateChanges c;
        c.wait_for_disk = false;
        // About three pages of WAL a commit: 1,200 in all, past the threshold.
        c.events.push_back({0, 1700000000 + i, "vault.trigger", "", "", std::nullopt, "{\"pad\":\"" + std::string(10'000, 'x') + "\"}"});
        ASSERT_TRUE((*s)->Apply(c));
    }
    for (int i = 0; i < 1000 && (*s)->Stats().checkpoints_background == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{10});
    EXPECT_GE((*s)->Stats().checkpoints_background, 1u);
    EXPECT_EQ((*s)->Stats().checkpoints_inline, 0u);
    // The pages are in the database file itself, and every commit reads back.
    EXPECT_GT(std::filesystem::file_size(t.path()), before + 1'000'000); // a checkpoint's worth: 1,000 frames of 10 kB events
    s->reset();
    auto again = OpenSqliteStore(t.path());
    ASSERT_TRUE(again);
    auto events = (*again)->LoadEvents(0, kCommits + 1);
    ASSERT_TRUE(events);
    EXPECT_EQ(events->size(), static_cast<size_t>(kCommits));
}

//! The default VFS, counting the syncs of WAL files while it is installed: what a commit waits
//! for the disk on is what it syncs.
class WalSyncCounter
{
public:
    WalSyncCounter()
    {
        s_real = sqlite3_vfs_find(nullptr);
        m_vfs = *s_real;
        m_vfs.zName = "vw-count-wal-syncs";
        m_vfs.szOsFile = static_cast<int>(sizeof(File)) + s_real->szOsFile;
        m_vfs.xOpen = &Open;
        m_vfs.pNext = nullptr;
        s_syncs = 0;
        sqlite3_vfs_register(&m_vfs, 1);
    }
    ~WalSyncCounter()
    {
        sqlite3_vfs_unregister(&m_vfs);
        sqlite3_vfs_register(s_real, 1);
    }
    static int syncs() { return s_syncs.load(); }

private:
    struct File {
        sqlite3_file base;
        sqlite3_file* real;
        bool wal;
    };
    static sqlite3_file* R(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
    static int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out)
    {
        auto* p = reinterpret_cast<File*>(f);
        p->real = reinterpret_cast<sqlite3_file*>(p + 1);
        p->wal = (flags & SQLITE_OPEN_WAL) != 0;
        p->base.pMethods = nullptr;
        const int rc = s_real->xOpen(s_real, name, p->real, flags, out);
        if (rc == SQLITE_OK && p->real->pMethods) p->base.pMethods = &s_methods;
        return rc;
    }
    static int Close(sqlite3_file* f) { return R(f)->pMethods->xClose(R(f)); }
    static int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return R(f)->pMethods->xRead(R(f), b, n, o); }
    static int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) { return R(f)->pMethods->xWrite(R(f), b, n, o); }
    static int Truncate(sqlite3_file* f, sqlite3_int64 n) { return R(f)->pMethods->xTruncate(R(f), n); }
    static int Sync(sqlite3_file* f, int flags)
    {
        if (!reinterpret_cast<File*>(f)->wal) return R(f)->pMethods->xSync(R(f), flags);
        {
            // Held: the sync waits (at most 2 s) until the test lets it go.
            std::unique_lock lk(s_gate_mu);
            s_waiting_at_gate += s_gate_closed ? 1 : 0;
            s_gate_cv.notify_all();
            s_gate_cv.wait_for(lk, std::chrono::seconds{2}, [] { return !s_gate_closed; });
        }
        ++s_syncs;
        if (s_fail_next.exchange(false)) return SQLITE_IOERR_FSYNC;
        return R(f)->pMethods->xSync(R(f), flags);
    }

public:
    //! WAL syncs wait until Open() while closed.
    static void CloseGate()
    {
        std::lock_guard lk(s_gate_mu);
        s_gate_closed = true;
        s_waiting_at_gate = 0;
    }
    static void OpenGate()
    {
        {
            std::lock_guard lk(s_gate_mu);
            s_gate_closed = false;
        }
        s_gate_cv.notify_all();
    }
    //! Whether a sync reached the closed gate within the timeout.
    static bool WaitForSyncAtGate(std::chrono::milliseconds timeout)
    {
        std::unique_lock lk(s_gate_mu);
        return s_gate_cv.wait_for(lk, timeout, [] { return s_waiting_at_gate > 0; });
    }
    static void FailNextSync() { s_fail_next = true; }

private:
    static inline std::mutex s_gate_mu;
    static inline std::condition_variable s_gate_cv;
    static inline bool s_gate_closed{false};
    static inline int s_waiting_at_gate{0};
    static inline std::atomic<bool> s_fail_next{false};
    static int FileSize(sqlite3_file* f, sqlite3_int64* n) { return R(f)->pMethods->xFileSize(R(f), n); }
    static int Lock(sqlite3_file* f, int l) { return R(f)->pMethods->xLock(R(f), l); }
    static int Unlock(sqlite3_file* f, int l) { return R(f)->pMethods->xUnlock(R(f), l); }
    static int CheckReserved(sqlite3_file* f, int* r) { return R(f)->pMethods->xCheckReservedLock(R(f), r); }
    static int FileControl(sqlite3_file* f, int op, void* a) { return R(f)->pMethods->xFileControl(R(f), op, a); }
    static int SectorSize(sqlite3_file* f) { return R(f)->pMethods->xSectorSize(R(f)); }
    static int DeviceChars(sqlite3_file* f) { return R(f)->pMethods->xDeviceCharacteristics(R(f)); }
    static int ShmMap(sqlite3_file* f, int i, int sz, int ext, void volatile** pp) { return R(f)->pMethods->xShmMap(R(f), i, sz, ext, pp); }
    static int ShmLock(sqlite3_file* f, int o, int n, int fl) { return R(f)->pMethods->xShmLock(R(f), o, n, fl); }
    static void ShmBarrier(sqlite3_file* f) { R(f)->pMethods->xShmBarrier(R(f)); }
    static int ShmUnmap(sqlite3_file* f, int d) { return R(f)->pMethods->xShmUnmap(R(f), d); }
    static int Fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** pp) { return R(f)->pMethods->xFetch(R(f), o, n, pp); }
    static int Unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return R(f)->pMethods->xUnfetch(R(f), o, p); }

    static inline sqlite3_vfs* s_real{nullptr};
    static inline std::atomic<int> s_syncs{0};
    static inline const sqlite3_io_methods s_methods{3, &Close, &Read, &Write, &Truncate, &Sync, &FileSize, &Lock, &Unlock, &CheckReserved,
                                                     &FileControl, &SectorSize, &DeviceChars, &ShmMap, &ShmLock, &ShmBarrier, &ShmUnmap, &Fetch, &Unfetch};
    sqlite3_vfs m_vfs{};
};

TEST(sqlite_store_tests, ACommitThatWaitsForTheDiskSyncsTheWalAndASweepsDoesNot)
{
    // A sweep planned at first sight is written without waiting for the disk (its row must be in
    // the WAL before the send; the fsync comes with the broadcaster's commit right after). Every
    // other commit waits. Neither may cost the trigger a PRAGMA, which SQLite parses again at
    // every run (50 us on a cold thread).
    WalSyncCounter counter;
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto event = [](int i) { return EventRow{0, 1700000000 + i, "vault.trigger", "", "", std::nullopt, "{}"}; };
    StateChanges sweep;
    sweep.wait_for_disk = false;
    sweep.events.push_back(event(1));
    int before = WalSyncCounter::syncs();
    ASSERT_TRUE((*s)->Apply(sweep));
    EXPECT_EQ(WalSyncCounter::syncs(), before) << "the sweep's commit waited for the disk";
    StateChanges after;
    after.events.push_back(event(2));
    before = WalSyncCounter::syncs();
    ASSERT_TRUE((*s)->Apply(after));
    EXPECT_GT(WalSyncCounter::syncs(), before) << "a commit returned before its WAL was on disk";
    BlockBatch b;
    b.new_cursor = {5, H(5)};
    b.connected.emplace_back(5, H(5));
    b.state.events.push_back(event(3));
    before = WalSyncCounter::syncs();
    ASSERT_TRUE((*s)->Commit(b));
    EXPECT_GT(WalSyncCounter::syncs(), before) << "a block's commit returned before its WAL was on disk";
    WebhookChanges w;
    w.webhooks.push_back(WebhookRow{"wh-0123456789abcdef", "http://127.0.0.1:1/", "secret", "*", true, "rpc", 0, 0, 0, "", 1700000000});
    before = WalSyncCounter::syncs();
    ASSERT_TRUE((*s)->ApplyWebhooks(w));
    EXPECT_GT(WalSyncCounter::syncs(), before) << "a webhook commit returned before its WAL was on disk";
    // Three more sweeps: none waits; all are read back after a reopen.
    before = WalSyncCounter::syncs();
    for (int i = 4; i < 7; ++i) {
        StateChanges c;
        c.wait_for_disk = false;
        c.events.push_back(event(i));
        ASSERT_TRUE((*s)->Apply(c));
    }
    EXPECT_EQ(WalSyncCounter::syncs(), before);
    s->reset();
    auto again = OpenSqliteStore(t.path());
    ASSERT_TRUE(again);
    auto events = (*again)->LoadEvents(0, 10);
    ASSERT_TRUE(events);
    EXPECT_EQ(events->size(), 6u);
}

//! One event, in a commit that waits for the disk: on the store's thread, or on the caller's.
StateChanges OneEvent(int64_t at, const char* type, bool in_background)
{
    StateChanges c;
    c.sync_in_background = in_background;
    c.events.push_back(EventRow{0, at, type, "", "", std::nullopt, "{}"});
    return c;
}

TEST(sqlite_store_tests, ACommitSyncedInTheBackgroundReturnsBeforeItsSyncAndTheStoresThreadDoesIt)
{
    // The broadcaster's bookkeeping and the webhooks' deliveries: the thread that answers triggers
    // must not wait for their fsync (0.5-10 ms on this VM's disk).
    WalSyncCounter counter;
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    const StateChanges c = OneEvent(1700000000, "recovery.broadcast", true);
    const auto synced0 = (*s)->Stats().wal_syncs_background;
    const int syncs0 = WalSyncCounter::syncs();
    WalSyncCounter::CloseGate();
    ASSERT_TRUE((*s)->Apply(c));
    EXPECT_EQ(WalSyncCounter::syncs(), syncs0) << "the commit waited for its sync";
    EXPECT_TRUE(WalSyncCounter::WaitForSyncAtGate(std::chrono::seconds{10})) << "the store's thread syncs it";
    WebhookChanges w;
    w.sync_in_background = true;
    w.webhooks.push_back(WebhookRow{"wh-0123456789abcdef", "http://127.0.0.1:1/", "secret", "*", true, "rpc", 0, 0, 0, "", 1700000000});
    ASSERT_TRUE((*s)->ApplyWebhooks(w));
    EXPECT_EQ(WalSyncCounter::syncs(), syncs0) << "the webhook commit waited for its sync";
    WalSyncCounter::OpenGate();
    for (int i = 0; i < 1000 && (*s)->Stats().wal_syncs_background < synced0 + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{10});
    EXPECT_GE((*s)->Stats().wal_syncs_background, synced0 + 1);
    // Both are there after a reopen.
    s->reset();
    auto again = OpenSqliteStore(t.path());
    ASSERT_TRUE(again);
    auto events = (*again)->LoadEvents(0, 10);
    ASSERT_TRUE(events);
    EXPECT_EQ(events->size(), 1u);
    auto hooks = (*again)->LoadWebhooks();
    ASSERT_TRUE(hooks);
    EXPECT_EQ(hooks->size(), 1u);
}

TEST(sqlite_store_tests, ABackgroundSyncThatFailsIsTheNextCommitsErrorOnce)
{
    // The commit it covered may not be on the disk: the caller must hear it, as it hears an
    // inline sync's failure (the engine rebuilds from the store, the follower retries its block).
    WalSyncCounter counter;
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    const StateChanges c = OneEvent(1700000000, "recovery.broadcast", true);
    const int syncs0 = WalSyncCounter::syncs();
    WalSyncCounter::FailNextSync();
    ASSERT_TRUE((*s)->Apply(c));
    for (int i = 0; i < 1000 && WalSyncCounter::syncs() == syncs0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds{10});
    ASSERT_GT(WalSyncCounter::syncs(), syncs0);
    std::this_thread::sleep_for(std::chrono::milliseconds{50}); // the thread records the failure after the call
    const StateChanges next = OneEvent(1700000001, "recovery.confirmed", false);
    auto r = (*s)->Apply(next);
    ASSERT_FALSE(r) << "the failed sync was not reported";
    EXPECT_NE(r.error().message.find("may not be on the disk"), std::string::npos) << r.error().message;
    EXPECT_TRUE((*s)->Apply(next)) << "reported once";
}

TEST(sqlite_store_tests, AnInMemoryDatabaseKeepsSQLitesOwnCheckpoints)
{
    auto s = OpenSqliteStore(":memory:");
    ASSERT_TRUE(s);
    StateChanges c;
    c.events.push_back({0, 1700000000, "vault.trigger", "", "", std::nullopt, "{}"});
    ASSERT_TRUE((*s)->Apply(c));
    EXPECT_EQ((*s)->Stats().checkpoints_background, 0u);
}

TEST(sqlite_store_tests, BlockBatchCommitsStateWithTheCursorAndDisconnectForgetsVaultTxs)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    BlockBatch b;
    b.new_cursor = {5, H(5)};
    b.connected.emplace_back(5, H(5));
    b.state = SampleState();
    ASSERT_TRUE((*s)->Commit(b));
    EXPECT_EQ((*s)->LoadVaultTxs()->size(), 1u);
    // A failing statement inside the batch rolls everything back, cursor included.
    BlockBatch bad;
    bad.new_cursor = {6, H(6)};
    bad.state.recoveries.push_back(b.state.recoveries[0]);
    bad.state.recoveries[0].attempts = -1; // violates a CHECK
    EXPECT_FALSE((*s)->Commit(bad));
    EXPECT_EQ((*s)->LoadCursor()->height, 5);
    EXPECT_EQ((*s)->LoadRecoveries()->at(0).attempts, 0);
    BlockBatch d;
    d.new_cursor = {4, H(4)};
    d.disconnect_from = 5;
    ASSERT_TRUE((*s)->Commit(d));
    EXPECT_TRUE((*s)->LoadVaultTxs()->empty());
    EXPECT_EQ((*s)->LoadVaults()->size(), 2u); // registrations are not chain state
}

TEST(sqlite_store_tests, CorruptVaultRowsAreFatalErrors)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        ASSERT_TRUE((*s)->Apply(SampleState()));
    }
    RawExec(t.path(), "UPDATE registrations SET registration = x'00' WHERE idx = 1");
    RawExec(t.path(), "PRAGMA ignore_check_constraints=1; UPDATE vault_txs SET txid = x'0102'");
    RawExec(t.path(), "PRAGMA ignore_check_constraints=1; UPDATE approvals SET value = x'01'");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto v = (*s)->LoadVaults();
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().kind, StoreError::Kind::Corrupt);
    EXPECT_FALSE((*s)->LoadVaultTxs());
    EXPECT_FALSE((*s)->LoadApprovals());
}

TEST(sqlite_store_tests, AFamilyGrowsWhileItsMembersReferToIt)
{
    // The family row is updated as members come (derived grows) while member rows refer to it:
    // an update, never a delete-and-insert that the members' foreign key refuses.
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    FamilyRow f{"f-0123456789abcdef", "opvault(...)#x", "book", R"({"mode":"recover"})", "", 20, 2, 100, 1700000000};
    StateChanges c;
    c.families.push_back(f);
    c.vaults.push_back({0, "v-0000000000000001", "opvault", "{}", "{}", false, 1, {}, "", f.id, 0});
    c.vaults.push_back({1, "v-0000000000000002", "opvault", "{}", "{}", false, 1, {}, "", f.id, 1});
    auto ok = (*s)->Apply(c);
    ASSERT_TRUE(ok) << ok.error().message;
    StateChanges grow;
    f.derived = 3;
    grow.families.push_back(f);
    grow.vaults.push_back({2, "v-0000000000000003", "opvault", "{}", "{}", false, 1, {}, "", f.id, 2});
    ok = (*s)->Apply(grow);
    ASSERT_TRUE(ok) << ok.error().message;
    auto fams = (*s)->LoadFamilies();
    ASSERT_TRUE(fams);
    ASSERT_EQ(fams->size(), 1u);
    EXPECT_EQ(fams->at(0), f);
    auto vaults = (*s)->LoadVaults(0, 10);
    ASSERT_TRUE(vaults);
    ASSERT_EQ(vaults->size(), 3u);
    EXPECT_EQ(vaults->at(2).family_id, f.id);
    EXPECT_EQ(vaults->at(2).family_index, 2u);
    EXPECT_TRUE(vaults->at(0).family_id == f.id);
}

TEST(sqlite_store_tests, EveryRecoveryStateAndKindIsStoredAndAStateItDoesNotKnowIsNamed)
{
    // Every state of the lifecycle commits (a conflicted recovery once failed the table's CHECK,
    // and with it the whole block's batch), and reads back as it was.
    TempDb t;
    using RS = vault::RecoveryState;
    using PK = vault::PlanKind;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        StateChanges c;
        const RS states[] = {RS::Planned, RS::Broadcast, RS::Confirmed, RS::Failed, RS::Conflicted, RS::Replaced};
        const PK kinds[] = {PK::OpVaultUnauthorized, PK::OpVaultAuthorized, PK::Presigned, PK::PresignedEmergency};
        for (size_t i = 0; i < std::size(states); ++i) {
            RecoveryRow r = SampleState().recoveries.at(0);
            r.txid = Txid::FromUint256(H(static_cast<uint8_t>(100 + i)).ToUint256());
            r.state = states[i];
            r.kind = kinds[i % std::size(kinds)];
            c.recoveries.push_back(r);
        }
        auto ok = (*s)->Apply(c);
        ASSERT_TRUE(ok) << ok.error().message;
        auto back = (*s)->LoadRecoveries();
        ASSERT_TRUE(back);
        ASSERT_EQ(back->size(), c.recoveries.size());
        for (const auto& want : c.recoveries) {
            EXPECT_NE(std::find(back->begin(), back->end(), want), back->end()) << vault::ToString(want.state);
        }
    }
    // A database written by something else: the load says which row and what it did not know.
    RawExec(t.path(), "PRAGMA ignore_check_constraints=1; UPDATE recoveries SET state = 'lost' WHERE state = 'failed'");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto r = (*s)->LoadRecoveries();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, StoreError::Kind::Corrupt);
    EXPECT_NE(r.error().message.find("unknown state 'lost'"), std::string::npos) << r.error().message;
}

} // namespace
} // namespace vw::store

namespace vw::store {
namespace {

TEST(sqlite_store_tests, RescansPersistAdvanceAndEnd)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        StateChanges c;
        c.rescans = {RescanRow{1, std::nullopt, 100, 1700000000}, RescanRow{2, 7u, 150, 1700000001}};
        ASSERT_TRUE((*s)->Apply(c));
    }
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto rows = (*s)->LoadRescans();
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0], (RescanRow{1, std::nullopt, 100, 1700000000}));
    EXPECT_EQ((*rows)[1], (RescanRow{2, 7u, 150, 1700000001}));
    // Progress is a replace; the end is a delete; both commit with the found transactions.
    StateChanges c;
    c.rescans = {RescanRow{1, std::nullopt, 140, 1700000000}};
    c.rescans_done = {2};
    c.vault_txs = {VaultTxRow{120, 3, H(5), Txid::FromUint256(H(6).ToUint256()), Bytes{1, 2, 3}}};
    ASSERT_TRUE((*s)->Apply(c));
    rows = (*s)->LoadRescans();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].next_height, 140);
    EXPECT_EQ((*s)->LoadVaultTxs()->size(), 1u);
    // A row no version of vaultwatchd writes is a clear error.
    RawExec(t.path(), "UPDATE rescans SET vault_idx = 99999999999 WHERE id = 1;");
    auto again = OpenSqliteStore(t.path());
    ASSERT_TRUE(again);
    auto bad = (*again)->LoadRescans();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, StoreError::Kind::Corrupt);
    EXPECT_NE(bad.error().message.find("rescans row 1"), std::string::npos) << bad.error().message;
}

TEST(sqlite_store_tests, AVersion3DatabaseGainsTheRescansTable)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
    }
    RawExec(t.path(), "DROP TABLE rescans; ALTER TABLE vaults DROP COLUMN output_key_cache; ALTER TABLE vaults DROP COLUMN recovery_auth; "
                      "ALTER TABLE vaults DROP COLUMN family_id; ALTER TABLE vaults DROP COLUMN family_index; ALTER TABLE vaults DROP COLUMN compact; ALTER TABLE vaults ADD COLUMN registration TEXT NOT NULL DEFAULT ''; UPDATE vaults SET registration = (SELECT registration FROM registrations r WHERE r.idx = vaults.idx); DROP TABLE registrations; DROP TABLE families; UPDATE version SET version = 3;");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s) << s.error().message;
    auto rows = (*s)->LoadRescans();
    ASSERT_TRUE(rows) << rows.error().message;
    EXPECT_TRUE(rows->empty());
}

TEST(sqlite_store_tests, AVersion4DatabaseGainsTheOutputKeyCacheColumn)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
    }
    RawExec(t.path(), "ALTER TABLE vaults DROP COLUMN output_key_cache; ALTER TABLE vaults DROP COLUMN recovery_auth; "
                      "ALTER TABLE vaults DROP COLUMN family_id; ALTER TABLE vaults DROP COLUMN family_index; ALTER TABLE vaults DROP COLUMN compact; ALTER TABLE vaults ADD COLUMN registration TEXT NOT NULL DEFAULT ''; UPDATE vaults SET registration = (SELECT registration FROM registrations r WHERE r.idx = vaults.idx); DROP TABLE registrations; DROP TABLE families; UPDATE version SET version = 4;"
                      "INSERT INTO vaults (idx, vault_id, kind, registration, policy, removed, created_at) "
                      "VALUES (0, 'v-0000000000000001', 'opvault', '{}', '{}', 0, 1);");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s) << s.error().message;
    auto rows = (*s)->LoadVaults();
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_TRUE(rows->at(0).output_key_cache.empty()); // filled by the engine at its next start
}

TEST(sqlite_store_tests, AVersion10DatabaseTakesCcvVaultsAndKeepsItsApprovals)
{
    TempDb t;
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
    }
    // Back to version 10: the kind CHECKs without 'ccv', a vault with an approval, a recovery.
    RawExec(t.path(), R"sql(
CREATE TABLE v10 (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0), vault_id TEXT NOT NULL UNIQUE CHECK (length(vault_id) = 18),
    kind TEXT NOT NULL CHECK (kind IN ('opvault', 'presigned')), policy TEXT NOT NULL,
    removed INTEGER NOT NULL CHECK (removed IN (0, 1)), created_at INTEGER NOT NULL, output_key_cache BLOB,
    recovery_auth TEXT, family_id TEXT, family_index INTEGER, compact BLOB);
DROP TABLE approvals; DROP TABLE vaults; ALTER TABLE v10 RENAME TO vaults;
CREATE TABLE approvals (id INTEGER PRIMARY KEY, vault_idx INTEGER NOT NULL REFERENCES vaults(idx),
    kind TEXT NOT NULL CHECK (kind IN ('ctv_hash', 'trigger_txid')), value BLOB NOT NULL CHECK (length(value) = 32),
    expiry_height INTEGER, revoked INTEGER NOT NULL CHECK (revoked IN (0, 1)));
CREATE TABLE r10 (txid BLOB PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('opvault_unauthorized', 'opvault_authorized',
    'presigned', 'presigned_emergency')), trigger_txid BLOB NOT NULL, vault_ids TEXT NOT NULL, tx BLOB NOT NULL,
    state TEXT NOT NULL, deadline_height INTEGER, confirmed_height INTEGER, attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL, created_at INTEGER NOT NULL);
DROP TABLE recoveries; ALTER TABLE r10 RENAME TO recoveries;
INSERT INTO vaults (idx, vault_id, kind, policy, removed, created_at) VALUES (0, 'v-0000000000000001', 'presigned', '{}', 0, 1);
INSERT INTO registrations (idx, registration) VALUES (0, '{}');
INSERT INTO approvals (vault_idx, kind, value, expiry_height, revoked) VALUES (0, 'trigger_txid', zeroblob(32), 50, 0);
UPDATE version SET version = 10;
)sql");
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s) << s.error().message;
    auto vaults = (*s)->LoadVaults();
    ASSERT_TRUE(vaults) << vaults.error().message;
    ASSERT_EQ(vaults->size(), 1u);
    auto approvals = (*s)->LoadApprovals();
    ASSERT_TRUE(approvals) << approvals.error().message;
    ASSERT_EQ(approvals->size(), 1u);
    EXPECT_EQ(approvals->at(0).vault_idx, 0u);
    // The new kind is stored, and so are its recoveries.
    StateChanges c;
    c.vaults = {VaultRow{1, "v-0000000000000002", "ccv", "{}", "{\"mode\":\"recover\"}", false, 2, {}}};
    RecoveryRow r;
    r.txid = Txid::FromUint256(H(9).ToUint256());
    r.kind = vault::PlanKind::Ccv;
    r.trigger_txid = Txid::FromUint256(H(8).ToUint256());
    r.vault_ids = {"v-0000000000000002"};
    r.tx = Bytes{1, 2, 3};
    c.recoveries = {r};
    auto applied = (*s)->Apply(c);
    ASSERT_TRUE(applied) << applied.error().message;
    EXPECT_EQ((*s)->LoadVaults()->size(), 2u);
    EXPECT_EQ((*s)->LoadRecoveries()->at(0).kind, vault::PlanKind::Ccv);
}

} // namespace
} // namespace vw::store

namespace vw::store {
namespace {

TEST(sqlite_store_tests, LoadVaultReadsOneRow)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    StateChanges c;
    c.vaults = {VaultRow{0, "v-0000000000000001", "presigned", "{}", "{\"mode\":\"recover\"}", false, 1, {}},
                VaultRow{1, "v-0000000000000002", "opvault", "{\"k\":1}", "{\"mode\":\"alert\"}", true, 2, Bytes(42, 7)}};
    ASSERT_TRUE((*s)->Apply(c));
    auto one = (*s)->LoadVault(1);
    ASSERT_TRUE(one && *one);
    EXPECT_EQ(**one, c.vaults[1]);
    auto none = (*s)->LoadVault(2);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
}

TEST(sqlite_store_tests, VaultsAreReadInRangesOfSlots)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    EXPECT_EQ(*(*s)->VaultSlots(), 0u);
    StateChanges c;
    for (uint32_t i = 0; i < 5; ++i) {
        c.vaults.push_back(VaultRow{i, "v-000000000000000" + std::to_string(i), "presigned", "{}", "{}", false, i, {}});
    }
    ASSERT_TRUE((*s)->Apply(c));
    EXPECT_EQ(*(*s)->VaultSlots(), 5u);
    auto mid = (*s)->LoadVaults(2, 2);
    ASSERT_TRUE(mid);
    ASSERT_EQ(mid->size(), 2u);
    EXPECT_EQ(mid->at(0), c.vaults[2]);
    EXPECT_EQ(mid->at(1), c.vaults[3]);
    EXPECT_EQ((*s)->LoadVaults(4, 10)->size(), 1u);
    EXPECT_TRUE((*s)->LoadVaults(5, 10)->empty());
    EXPECT_EQ(*(*s)->LoadVaults(), c.vaults);
    // A gap in the slots is a corrupt database, whichever range meets it.
    RawExec(t.path(), "DELETE FROM vaults WHERE idx = 3");
    EXPECT_EQ(*(*s)->VaultSlots(), 5u);
    auto gap = (*s)->LoadVaults(2, 3);
    ASSERT_FALSE(gap);
    EXPECT_EQ(gap.error().kind, StoreError::Kind::Corrupt);
    EXPECT_FALSE((*s)->LoadVaults(3, 2));
}

} // namespace
} // namespace vw::store
