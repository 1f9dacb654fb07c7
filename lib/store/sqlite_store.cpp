#include "store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <string_view>
#include <unordered_map>

namespace vw::store {
namespace {

// Current schema (kept in step with schema.sql, which documents it). Migrations are forward-only:
// kMigrations[i] brings a database from version i to i+1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE version (version INTEGER NOT NULL);
INSERT INTO version VALUES (0);
CREATE TABLE cursor (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    height INTEGER NOT NULL CHECK (height >= -1),
    hash   BLOB    NOT NULL CHECK (length(hash) = 32)
);
CREATE TABLE blocks (
    height INTEGER PRIMARY KEY CHECK (height >= 0),
    hash   BLOB    NOT NULL CHECK (length(hash) = 32)
);
)sql",
    R"sql(
CREATE TABLE vaults (
    idx          INTEGER PRIMARY KEY CHECK (idx >= 0),
    vault_id     TEXT    NOT NULL UNIQUE CHECK (length(vault_id) = 18),
    kind         TEXT    NOT NULL CHECK (kind IN ('opvault', 'presigned')),
    registration TEXT    NOT NULL,
    policy       TEXT    NOT NULL,
    removed      INTEGER NOT NULL CHECK (removed IN (0, 1)),
    created_at   INTEGER NOT NULL
);
CREATE TABLE approvals (
    id            INTEGER PRIMARY KEY,
    vault_idx     INTEGER NOT NULL REFERENCES vaults(idx),
    kind          TEXT    NOT NULL CHECK (kind IN ('ctv_hash', 'trigger_txid')),
    value         BLOB    NOT NULL CHECK (length(value) = 32),
    expiry_height INTEGER,
    revoked       INTEGER NOT NULL CHECK (revoked IN (0, 1))
);
CREATE TABLE vault_txs (
    height     INTEGER NOT NULL CHECK (height >= 0),
    pos        INTEGER NOT NULL CHECK (pos >= 0),
    block_hash BLOB    NOT NULL CHECK (length(block_hash) = 32),
    txid       BLOB    NOT NULL CHECK (length(txid) = 32),
    tx         BLOB    NOT NULL,
    PRIMARY KEY (height, pos)
);
CREATE TABLE recoveries (
    txid             BLOB    PRIMARY KEY CHECK (length(txid) = 32),
    kind             TEXT    NOT NULL,
    trigger_txid     BLOB    NOT NULL CHECK (length(trigger_txid) = 32),
    vault_ids        TEXT    NOT NULL,
    tx               BLOB    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('planned', 'broadcast', 'confirmed', 'failed', 'replaced')),
    deadline_height  INTEGER,
    confirmed_height INTEGER,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    last_error       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    vault_id   TEXT    NOT NULL,
    txid       TEXT    NOT NULL,
    height     INTEGER,
    data       TEXT    NOT NULL
);
)sql",
    R"sql(
CREATE TABLE webhooks (
    id         TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    source     TEXT    NOT NULL CHECK (source IN ('config', 'rpc')),
    cursor     INTEGER NOT NULL CHECK (cursor >= 0),
    delivered  INTEGER NOT NULL CHECK (delivered >= 0),
    failed     INTEGER NOT NULL CHECK (failed >= 0),
    last_error TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT    NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL CHECK (event_seq > 0),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'failed')),
    attempts        INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT    NOT NULL,
    PRIMARY KEY (webhook_id, event_seq)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (webhook_id, state, event_seq);
)sql",
    R"sql(
CREATE TABLE rescans (
    id          INTEGER PRIMARY KEY CHECK (id > 0),
    vault_idx   INTEGER CHECK (vault_idx IS NULL OR vault_idx >= 0),
    next_height INTEGER NOT NULL CHECK (next_height >= 0),
    created_at  INTEGER NOT NULL
);
)sql",
    R"sql(
ALTER TABLE vaults ADD COLUMN output_key_cache BLOB;
)sql",
    R"sql(
CREATE TABLE IF NOT EXISTS sightings (
    txid     BLOB    PRIMARY KEY CHECK (length(txid) = 32),
    seen_at  INTEGER NOT NULL CHECK (seen_at >= -1)
) WITHOUT ROWID;
)sql",
    // The recovery_auth secret leaves the registration JSON for a column of its own, so that the
    // registration can be shown, logged or exported without it.
    R"sql(
ALTER TABLE vaults ADD COLUMN recovery_auth TEXT;
UPDATE vaults SET recovery_auth = json_extract(registration, '$.recovery_auth'),
                  registration  = json_remove(registration, '$.recovery_auth')
 WHERE json_valid(registration) AND json_type(registration, '$.recovery_auth') = 'text';
)sql",
    // A recovery another confirmed transaction conflicted was refused by the state CHECK (the
    // block's whole batch with it); the kinds get theirs. SQLite changes a CHECK only by
    // rebuilding the table.
    R"sql(
CREATE TABLE recoveries_v8 (
    txid             BLOB    PRIMARY KEY CHECK (length(txid) = 32),
    kind             TEXT    NOT NULL CHECK (kind IN ('opvault_unauthorized', 'opvault_authorized', 'presigned', 'presigned_emergency')),
    trigger_txid     BLOB    NOT NULL CHECK (length(trigger_txid) = 32),
    vault_ids        TEXT    NOT NULL,
    tx               BLOB    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('planned', 'broadcast', 'confirmed', 'failed', 'conflicted', 'replaced')),
    deadline_height  INTEGER,
    confirmed_height INTEGER,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    last_error       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
INSERT INTO recoveries_v8 SELECT txid, kind, trigger_txid, vault_ids, tx, state, deadline_height, confirmed_height, attempts, last_error, created_at
  FROM recoveries;
DROP TABLE recoveries;
ALTER TABLE recoveries_v8 RENAME TO recoveries;
)sql",
    // Vault families (vault/family.h); their members are vaults with a link back.
    R"sql(
CREATE TABLE families (
    id            TEXT    PRIMARY KEY CHECK (length(id) = 18),
    text          TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    recovery_auth TEXT,
    gap_limit     INTEGER NOT NULL CHECK (gap_limit BETWEEN 1 AND 100000),
    derived       INTEGER NOT NULL CHECK (derived >= 0),
    birth_height  INTEGER CHECK (birth_height IS NULL OR birth_height >= 0),
    created_at    INTEGER NOT NULL
);
ALTER TABLE vaults ADD COLUMN family_id TEXT CHECK (family_id IS NULL OR length(family_id) = 18);
ALTER TABLE vaults ADD COLUMN family_index INTEGER CHECK (family_index IS NULL OR family_index >= 0);
)sql",
    // 9 -> 10: the compact form of each opvault vault, what a cold start loads instead of the
    // registration; the registrations (written once, read whole only when a transaction touches the
    // vault) move to a table of their own, so that the start reads a narrow table.
    R"sql(
ALTER TABLE vaults ADD COLUMN compact BLOB;
CREATE TABLE registrations (
    idx          INTEGER PRIMARY KEY CHECK (idx >= 0),
    registration TEXT    NOT NULL
);
INSERT INTO registrations (idx, registration) SELECT idx, registration FROM vaults;
ALTER TABLE vaults DROP COLUMN registration;
)sql",
    // 10 -> 11: the third vault kind, ccv (BIP-443), and its recoveries. A CHECK changes only by
    // rebuilding its table; approvals (which reference vaults) are rebuilt to point at the new
    // table first, so no foreign key is ever left dangling inside the transaction (renaming a
    // table rewrites the references to it).
    R"sql(
CREATE TABLE vaults_v11 (
    idx              INTEGER PRIMARY KEY CHECK (idx >= 0),
    vault_id         TEXT    NOT NULL UNIQUE CHECK (length(vault_id) = 18),
    kind             TEXT    NOT NULL CHECK (kind IN ('opvault', 'presigned', 'ccv')),
    policy           TEXT    NOT NULL,
    removed          INTEGER NOT NULL CHECK (removed IN (0, 1)),
    created_at       INTEGER NOT NULL,
    output_key_cache BLOB,
    recovery_auth    TEXT,
    family_id        TEXT    CHECK (family_id IS NULL OR length(family_id) = 18),
    family_index     INTEGER CHECK (family_index IS NULL OR family_index >= 0),
    compact          BLOB
);
INSERT INTO vaults_v11 (idx, vault_id, kind, policy, removed, created_at, output_key_cache, recovery_auth, family_id, family_index, compact)
  SELECT idx, vault_id, kind, policy, removed, created_at, output_key_cache, recovery_auth, family_id, family_index, compact FROM vaults;
CREATE TABLE approvals_v11 (
    id            INTEGER PRIMARY KEY,
    vault_idx     INTEGER NOT NULL REFERENCES vaults_v11(idx),
    kind          TEXT    NOT NULL CHECK (kind IN ('ctv_hash', 'trigger_txid')),
    value         BLOB    NOT NULL CHECK (length(value) = 32),
    expiry_height INTEGER,
    revoked       INTEGER NOT NULL CHECK (revoked IN (0, 1))
);
INSERT INTO approvals_v11 (id, vault_idx, kind, value, expiry_height, revoked)
  SELECT id, vault_idx, kind, value, expiry_height, revoked FROM approvals;
DROP TABLE approvals;
DROP TABLE vaults;
ALTER TABLE vaults_v11 RENAME TO vaults;
ALTER TABLE approvals_v11 RENAME TO approvals;
CREATE TABLE recoveries_v11 (
    txid             BLOB    PRIMARY KEY CHECK (length(txid) = 32),
    kind             TEXT    NOT NULL CHECK (kind IN ('opvault_unauthorized', 'opvault_authorized', 'presigned', 'presigned_emergency', 'ccv')),
    trigger_txid     BLOB    NOT NULL CHECK (length(trigger_txid) = 32),
    vault_ids        TEXT    NOT NULL,
    tx               BLOB    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('planned', 'broadcast', 'confirmed', 'failed', 'conflicted', 'replaced')),
    deadline_height  INTEGER,
    confirmed_height INTEGER,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    last_error       TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
INSERT INTO recoveries_v11 SELECT txid, kind, trigger_txid, vault_ids, tx, state, deadline_height, confirmed_height, attempts, last_error, created_at
  FROM recoveries;
DROP TABLE recoveries;
ALTER TABLE recoveries_v11 RENAME TO recoveries;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

//! Keep this many blocks below the tip for fork-point search; deeper reorgs are refused loudly.
constexpr int kRememberedBlocks = 2000;

StoreError Err(sqlite3* db, int rc, const std::string& what)
{
    StoreError e;
    const int primary = rc & 0xff;
    e.kind = primary == SQLITE_FULL ? StoreError::Kind::Full
           : primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? StoreError::Kind::Busy
           : primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? StoreError::Kind::Corrupt
                                                                  : StoreError::Kind::Io;
    e.message = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return e;
}

//! The connection's prepared statements, kept for its life. Parsing a statement costs more than
//! running it for one row, and the tower reads one registration per triggered vault: a mass exit
//! of 10,000 vaults spent most of its store time in sqlite3_prepare.
class StmtCache
{
public:
    explicit StmtCache(sqlite3* db) : m_db(db) {}
    ~StmtCache() { Clear(); }
    StmtCache(const StmtCache&) = delete;
    StmtCache& operator=(const StmtCache&) = delete;
    sqlite3* db() const { return m_db; }

    //! A statement for sql, idle and reset; *cached says whether it must be given back (a
    //! statement already in use, e.g. by a caller further up, is prepared afresh for this use).
    sqlite3_stmt* Take(const char* sql, int& rc, bool& cached)
    {
        std::lock_guard lock{m_mutex};
        auto it = m_map.find(std::string_view{sql});
        if (it != m_map.end() && !it->second.busy) {
            it->second.busy = true;
            cached = true;
            rc = SQLITE_OK;
            return it->second.stmt;
        }
        sqlite3_stmt* stmt{nullptr};
        rc = sqlite3_prepare_v3(m_db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        cached = rc == SQLITE_OK && it == m_map.end();
        if (cached) m_map.emplace(std::string{sql}, Entry{stmt, true});
        return stmt;
    }
    void Give(sqlite3_stmt* stmt, bool cached)
    {
        if (!cached) {
            sqlite3_finalize(stmt);
            return;
        }
        // Reset at once: a SELECT left mid-way would hold its read snapshot (and the WAL) open.
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        std::lock_guard lock{m_mutex};
        for (auto& [sql, e] : m_map) {
            if (e.stmt == stmt) e.busy = false;
        }
    }
    void Clear()
    {
        std::lock_guard lock{m_mutex};
        for (auto& [sql, e] : m_map) sqlite3_finalize(e.stmt);
        m_map.clear();
    }

private:
    struct Entry {
        sqlite3_stmt* stmt;
        bool busy;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    sqlite3* m_db;
    std::mutex m_mutex; // the cold start reads on a helper thread (never two at once)
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> m_map;
};

//! One use of a statement from the cache.
class Stmt
{
public:
    Stmt(StmtCache& cache, const char* sql) : m_cache(cache) { m_stmt = cache.Take(sql, m_rc, m_cached); }
    ~Stmt()
    {
        if (m_stmt) m_cache.Give(m_stmt, m_cached);
    }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    int rc() const { return m_rc; }
    sqlite3_stmt* get() { return m_stmt; }
    void Reset() { sqlite3_reset(m_stmt); sqlite3_clear_bindings(m_stmt); }

private:
    StmtCache& m_cache;
    sqlite3_stmt* m_stmt{nullptr};
    int m_rc{SQLITE_OK};
    bool m_cached{false};
};

//! Copies the WAL into the database file on a thread and a connection of its own. SQLite's own
//! checkpoint runs inside whichever commit takes the WAL past 1,000 pages: a thousand page writes
//! and two fsyncs, 1-2 ms, in that commit, which may be the one written between a trigger and
//! its sweep. Commits only append to the WAL; this thread does the copying (PASSIVE: it never
//! waits for the writer, which keeps appending meanwhile).
//! It also syncs the WAL for the commits that ask it to (StateChanges::sync_in_background), through
//! its own handle on the same file: one fsync covers every commit written before it starts, and
//! the committing thread (the one that answers triggers) is not held for it. A failed sync is
//! kept for the next commit to report.
class Checkpointer
{
public:
    static constexpr int kPages = 1000;     //!< SQLite's own threshold (wal_autocheckpoint)
    static constexpr int kInline = 20 * kPages; //!< this thread fell behind: the committer copies

    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;
    ~Checkpointer()
    {
        {
            std::lock_guard lk(m_mu);
            m_stop = true;
        }
        m_cv.notify_one();
        if (m_thread.joinable()) m_thread.join();
        sqlite3_close_v2(m_db);
    }

    //! Takes the checkpoints of main's database off main's commits. nullptr when it cannot (an
    //! in-memory database, or a second connection that does not open): SQLite's own stay.
    static std::unique_ptr<Checkpointer> Start(sqlite3* main)
    {
        const char* file = sqlite3_db_filename(main, "main");
        if (!file || !*file) return nullptr;
        sqlite3* db = nullptr;
        if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
            sqlite3_close_v2(db);
            return nullptr;
        }
        sqlite3_busy_timeout(db, 5000);
        // A connection opens the file lazily: until it reads, it does not know the WAL is there,
        // and a checkpoint through it is a no-op.
        if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) != SQLITE_OK) {
            sqlite3_close_v2(db);
            return nullptr;
        }
        std::unique_ptr<Checkpointer> c{new Checkpointer(db)};
        c->m_thread = std::thread([p = c.get()] { p->Run(); });
        // Replaces the automatic checkpoint (itself a wal hook).
        sqlite3_wal_hook(main, &Checkpointer::Hook, c.get());
        return c;
    }

    StoreStats Stats() const { return {m_background.load(), m_inline.load(), m_synced.load()}; }

    //! After a COMMIT: its WAL frames are on the disk once this thread's next sync is done.
    void RequestSync()
    {
        {
            std::lock_guard lk(m_mu);
            ++m_sync_wanted;
        }
        m_cv.notify_one();
    }
    //! The error of a sync this thread failed, once.
    std::optional<std::string> TakeSyncError()
    {
        std::lock_guard lk(m_mu);
        return std::exchange(m_sync_error, std::nullopt);
    }

private:
    explicit Checkpointer(sqlite3* db) : m_db(db) {}

    //! After each commit of the main connection, its write lock released; frames: the WAL's length.
    static int Hook(void* self, sqlite3* main, const char* schema, int frames)
    {
        auto* c = static_cast<Checkpointer*>(self);
        if (frames >= kInline) {
            (void)sqlite3_wal_checkpoint_v2(main, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            ++c->m_inline;
        } else if (frames >= kPages) {
            {
                std::lock_guard lk(c->m_mu);
                c->m_wanted = true;
            }
            c->m_cv.notify_one();
        }
        return SQLITE_OK;
    }

    void Run()
    {
        std::unique_lock lk(m_mu);
        while (true) {
            m_cv.wait(lk, [&] { return m_wanted || m_sync_wanted > m_sync_done || m_stop; });
            if (m_sync_wanted > m_sync_done) {
                // Syncs first (a commit waits on it to be durable), and before stopping.
                const uint64_t upto = m_sync_wanted;
                lk.unlock();
                std::optional<std::string> err = SyncWal();
                lk.lock();
                m_sync_done = upto;
                if (err) {
                    m_sync_error = std::move(err);
                } else {
                    ++m_synced;
                }
                continue;
            }
            if (m_stop) return;
            m_wanted = false;
            lk.unlock();
            // A failure (the disk) is the next commit's to report; this one is tried again at the
            // next 1,000 pages, and the committer copies past kInline.
            if (sqlite3_wal_checkpoint_v2(m_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) ++m_background;
            lk.lock();
        }
    }

    //! The WAL synced as synchronous=FULL would, through this connection's handle on it (the
    //! same file as the writer's: an fsync covers what any handle wrote).
    std::optional<std::string> SyncWal()
    {
        sqlite3_file* wal = nullptr;
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (sqlite3_file_control(m_db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK) wal = nullptr;
            if (wal && wal->pMethods) break;
            // Not open on this connection (yet, or again): a read opens it.
            (void)sqlite3_exec(m_db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
        }
        if (!wal || !wal->pMethods) return "cannot reach the WAL to sync it";
        if (int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL); rc != SQLITE_OK) return std::string("sync the WAL: ") + sqlite3_errstr(rc);
        return std::nullopt;
    }

    sqlite3* m_db;
    std::mutex m_mu;
    std::condition_variable m_cv;
    bool m_wanted{false};
    bool m_stop{false};
    uint64_t m_sync_wanted{0}, m_sync_done{0}; //!< commits that asked for a sync; covered by one done
    std::optional<std::string> m_sync_error;
    std::atomic<uint64_t> m_background{0}, m_inline{0}, m_synced{0};
    std::thread m_thread;
};

class SqliteStore final : public Store
{
public:
    explicit SqliteStore(sqlite3* db) : m_db(db), m_stmts(db) {}
    ~SqliteStore() override
    {
        m_stmts.Clear();
        sqlite3_wal_hook(m_db, nullptr, nullptr);
        m_checkpointer.reset(); // its thread and connection before the main one
        sqlite3_close_v2(m_db);
    }

    void StartCheckpointer() { m_checkpointer = Checkpointer::Start(m_db); }
    StoreStats Stats() const override { return m_checkpointer ? m_checkpointer->Stats() : StoreStats{}; }

    Expected<void, StoreError> Init()
    {
        // NORMAL: a commit writes the WAL without syncing it; SyncWal does, after every commit
        // that must wait for the disk (all but the record of a sweep sent at first sight). Switching
        // synchronous per commit instead costs 50 us a PRAGMA, parsed again at every run.
        if (auto r = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"); !r) return r;
        sqlite3_busy_timeout(m_db, 5000);
        int version = 0;
        {
            Stmt s{m_stmts, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='version'"};
            if (s.rc() != SQLITE_OK || sqlite3_step(s.get()) != SQLITE_ROW) return Unexpected{Err(m_db, s.rc(), "read schema")};
            if (sqlite3_column_int(s.get(), 0) == 1) {
                Stmt v{m_stmts, "SELECT version FROM version"};
                if (v.rc() != SQLITE_OK || sqlite3_step(v.get()) != SQLITE_ROW) {
                    return Unexpected{StoreError{StoreError::Kind::Corrupt, "version table has no row"}};
                }
                version = sqlite3_column_int(v.get(), 0);
            }
        }
        if (version > kSchemaVersion) {
            return Unexpected{StoreError{StoreError::Kind::Corrupt, "database schema version " + std::to_string(version) +
                                                                        " is newer than this vaultwatchd (" +
                                                                        std::to_string(kSchemaVersion) + ")"}};
        }
        for (int v = version; v < kSchemaVersion; ++v) {
            const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                                    "UPDATE version SET version = " + std::to_string(v + 1) + "; COMMIT;";
            if (auto r = Exec(sql.c_str()); !r) {
                (void)Exec("ROLLBACK");
                return r;
            }
        }
        return version < kSchemaVersion ? SyncWal() : Expected<void, StoreError>{};
    }

    Expected<Cursor, StoreError> LoadCursor() override
    {
        Stmt s{m_stmts, "SELECT height, hash FROM cursor WHERE id = 1"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load cursor")};
        const int rc = sqlite3_step(s.get());
        if (rc == SQLITE_DONE) return Cursor{};
        if (rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "load cursor")};
        Cursor c;
        c.height = sqlite3_column_int(s.get(), 0);
        auto hash = ReadHash(s.get(), 1);
        if (!hash) return Unexpected{StoreError{StoreError::Kind::Corrupt, "cursor.hash is not 32 bytes"}};
        c.hash = *hash;
        return c;
    }

    Expected<std::optional<BlockHash>, StoreError> BlockAt(int height) override
    {
        Stmt s{m_stmts, "SELECT hash FROM blocks WHERE height = ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "read block")};
        sqlite3_bind_int(s.get(), 1, height);
        const int rc = sqlite3_step(s.get());
        if (rc == SQLITE_DONE) return std::optional<BlockHash>{};
        if (rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "read block")};
        auto hash = ReadHash(s.get(), 0);
        if (!hash) return Unexpected{StoreError{StoreError::Kind::Corrupt, "blocks.hash is not 32 bytes at height " + std::to_string(height)}};
        return std::optional<BlockHash>{*hash};
    }

    Expected<void, StoreError> Commit(const BlockBatch& b) override
    {
        if (auto e = EarlierSyncFailed()) return Unexpected{*e};
        if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
        auto fail = [&](int rc, const char* what) {
            StoreError e = Err(m_db, rc, what);
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        };
        if (b.disconnect_from) {
            Stmt d{m_stmts, "DELETE FROM blocks WHERE height >= ?"};
            sqlite3_bind_int(d.get(), 1, *b.disconnect_from);
            if (int rc = sqlite3_step(d.get()); rc != SQLITE_DONE) return fail(rc, "forget disconnected blocks");
            Stmt t{m_stmts, "DELETE FROM vault_txs WHERE height >= ?"};
            sqlite3_bind_int(t.get(), 1, *b.disconnect_from);
            if (int rc = sqlite3_step(t.get()); rc != SQLITE_DONE) return fail(rc, "forget disconnected vault txs");
        }
        if (auto r = WriteState(b.state, nullptr); !r) {
            StoreError e = r.error();
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        }
        for (const auto& [h, hash] : b.connected) {
            Stmt i{m_stmts, "INSERT OR REPLACE INTO blocks (height, hash) VALUES (?, ?)"};
            sqlite3_bind_int(i.get(), 1, h);
            sqlite3_bind_blob(i.get(), 2, hash.span().data(), 32, SQLITE_STATIC);
            if (int rc = sqlite3_step(i.get()); rc != SQLITE_DONE) return fail(rc, "remember block");
        }
        {
            Stmt c{m_stmts, "INSERT INTO cursor (id, height, hash) VALUES (1, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET height = excluded.height, hash = excluded.hash"};
            sqlite3_bind_int(c.get(), 1, b.new_cursor.height);
            sqlite3_bind_blob(c.get(), 2, b.new_cursor.hash.span().data(), 32, SQLITE_STATIC);
            if (int rc = sqlite3_step(c.get()); rc != SQLITE_DONE) return fail(rc, "write cursor");
        }
        {
            Stmt p{m_stmts, "DELETE FROM blocks WHERE height < ?"};
            sqlite3_bind_int(p.get(), 1, b.new_cursor.height - kRememberedBlocks);
            if (int rc = sqlite3_step(p.get()); rc != SQLITE_DONE) return fail(rc, "prune blocks");
        }
        if (int rc = sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) return fail(rc, "commit");
        return SyncWal();
    }

    Expected<std::vector<int64_t>, StoreError> Apply(const StateChanges& c) override
    {
        std::vector<int64_t> seqs;
        if (c.empty()) return seqs;
        if (auto e = EarlierSyncFailed()) return Unexpected{*e};
        if (auto r = Step("BEGIN IMMEDIATE"); !r) return Unexpected{r.error()};
        if (auto r = WriteState(c, &seqs); !r) {
            StoreError e = r.error();
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        }
        if (int rc = sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
            StoreError e = Err(m_db, rc, "commit");
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        }
        // Not waiting for the disk: the commit is in the WAL (the OS has it; a crash of this
        // process loses nothing), and the next commit's sync covers it.
        if (c.wait_for_disk) {
            if (c.sync_in_background && m_checkpointer) {
                m_checkpointer->RequestSync();
            } else if (auto r = SyncWal(); !r) {
                return Unexpected{r.error()};
            }
        }
        return seqs;
    }

    Expected<std::optional<VaultRow>, StoreError> LoadVault(uint32_t idx) override
    {
        // The same decoding as every other read of the table (a gap before the next row is corrupt).
        auto rows = LoadVaults(idx, 1);
        if (!rows) return Unexpected{rows.error()};
        if (rows->empty()) return std::optional<VaultRow>{};
        return std::optional<VaultRow>{std::move(rows->front())};
    }

    Expected<size_t, StoreError> VaultSlots() override
    {
        Stmt s{m_stmts, "SELECT max(idx) FROM vaults"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "count vaults")};
        if (int rc = sqlite3_step(s.get()); rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "count vaults")};
        if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL) return size_t{0};
        const int64_t max = sqlite3_column_int64(s.get(), 0);
        if (max < 0 || max >= UINT32_MAX) return Unexpected{Corrupt("vaults.idx " + std::to_string(max) + " is out of range")};
        return static_cast<size_t>(max) + 1;
    }

    Expected<size_t, StoreError> ScanVaults(uint32_t from, size_t max, const std::function<void(const VaultRowView&)>& f) override
    {
        Stmt s{m_stmts, "SELECT idx, vault_id, kind, policy, removed, recovery_auth IS NOT NULL, family_id, family_index, compact "
                     "FROM vaults WHERE idx >= ? ORDER BY idx LIMIT ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "scan vaults")};
        sqlite3_bind_int64(s.get(), 1, from);
        sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
        auto view = [&](int col) {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), col));
            return std::string_view{p ? p : "", static_cast<size_t>(sqlite3_column_bytes(s.get(), col))};
        };
        size_t seen = 0;
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            const int64_t idx = sqlite3_column_int64(s.get(), 0);
            if (idx != static_cast<int64_t>(from) + static_cast<int64_t>(seen) || idx > UINT32_MAX) {
                return Unexpected{Corrupt("vaults.idx " + std::to_string(idx) + " breaks the registration order")};
            }
            const std::string where = "vaults row " + std::to_string(idx);
            for (int col : {1, 2, 3}) {
                if (sqlite3_column_type(s.get(), col) != SQLITE_TEXT) return Unexpected{Corrupt(where + " has a non-text column")};
            }
            const int ct = sqlite3_column_type(s.get(), 8);
            if (ct != SQLITE_NULL && ct != SQLITE_BLOB) return Unexpected{Corrupt(where + ": compact is not a blob")};
            VaultRowView v;
            v.idx = static_cast<uint32_t>(idx);
            v.vault_id = view(1);
            v.kind = view(2);
            v.policy = view(3);
            v.removed = sqlite3_column_int(s.get(), 4) != 0;
            v.has_recovery_auth = sqlite3_column_int(s.get(), 5) != 0;
            if (sqlite3_column_type(s.get(), 6) != SQLITE_NULL) {
                const int64_t fi = sqlite3_column_int64(s.get(), 7);
                if (sqlite3_column_type(s.get(), 6) != SQLITE_TEXT || sqlite3_column_type(s.get(), 7) != SQLITE_INTEGER || fi < 0 || fi > UINT32_MAX) {
                    return Unexpected{Corrupt(where + ": a broken family link")};
                }
                v.family_id = view(6);
                v.family_index = static_cast<uint32_t>(fi);
                if (v.family_id.empty()) return Unexpected{Corrupt(where + ": a broken family link")};
            }
            if (ct == SQLITE_BLOB) {
                const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s.get(), 8));
                v.compact = ByteSpan{p, static_cast<size_t>(sqlite3_column_bytes(s.get(), 8))};
            }
            f(v);
            ++seen;
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "scan vaults")};
        return seen;
    }

    Expected<std::vector<VaultRow>, StoreError> LoadVaults(uint32_t from, size_t max) override
    {
        std::vector<VaultRow> out;
        Stmt s{m_stmts, "SELECT v.idx, vault_id, kind, (SELECT registration FROM registrations r WHERE r.idx = v.idx), policy, removed, "
                     "created_at, output_key_cache, recovery_auth, family_id, family_index, compact FROM vaults v "
                     "WHERE v.idx >= ? ORDER BY v.idx LIMIT ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load vaults")};
        sqlite3_bind_int64(s.get(), 1, from);
        sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(std::min<size_t>(max, INT64_MAX)));
        if (max != SIZE_MAX) out.reserve(max);
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            VaultRow v;
            const int64_t idx = sqlite3_column_int64(s.get(), 0);
            if (idx < 0 || idx > UINT32_MAX || (!out.empty() && idx != out.back().idx + 1) || (out.empty() && idx != from)) {
                return Unexpected{Corrupt("vaults.idx " + std::to_string(idx) + " breaks the registration order")};
            }
            v.idx = static_cast<uint32_t>(idx);
            auto id = Text(s.get(), 1), kind = Text(s.get(), 2), reg = Text(s.get(), 3), pol = Text(s.get(), 4);
            if (sqlite3_column_type(s.get(), 3) == SQLITE_NULL) return Unexpected{Corrupt("vaults row " + std::to_string(idx) + " has no registration")};
            if (!id || !kind || !reg || !pol) return Unexpected{Corrupt("vaults row " + std::to_string(idx) + " has a non-text column")};
            v.vault_id = *id;
            v.kind = *kind;
            v.registration = *reg;
            v.policy = *pol;
            v.removed = sqlite3_column_int(s.get(), 5) != 0;
            v.created_at = sqlite3_column_int64(s.get(), 6);
            if (auto c = OptBlob(s.get(), 7)) v.output_key_cache = std::move(*c);
            else return Unexpected{Corrupt("vaults row " + std::to_string(idx) + ": output_key_cache is not a blob")};
            if (sqlite3_column_type(s.get(), 8) != SQLITE_NULL) {
                auto a = Text(s.get(), 8);
                if (!a) return Unexpected{Corrupt("vaults row " + std::to_string(idx) + ": recovery_auth is not text")};
                v.recovery_auth = std::move(*a);
            }
            if (sqlite3_column_type(s.get(), 9) != SQLITE_NULL) {
                auto f = Text(s.get(), 9);
                const int64_t fi = sqlite3_column_int64(s.get(), 10);
                if (!f || f->empty() || sqlite3_column_type(s.get(), 10) != SQLITE_INTEGER || fi < 0 || fi > UINT32_MAX) {
                    return Unexpected{Corrupt("vaults row " + std::to_string(idx) + ": a broken family link")};
                }
                v.family_id = std::move(*f);
                v.family_index = static_cast<uint32_t>(fi);
            }
            if (auto c = OptBlob(s.get(), 11)) v.compact = std::move(*c);
            else return Unexpected{Corrupt("vaults row " + std::to_string(idx) + ": compact is not a blob")};
            out.push_back(std::move(v));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load vaults")};
        return out;
    }

    Expected<std::vector<ApprovalRow>, StoreError> LoadApprovals() override
    {
        std::vector<ApprovalRow> out;
        Stmt s{m_stmts, "SELECT id, vault_idx, kind, value, expiry_height, revoked FROM approvals ORDER BY id"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load approvals")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            ApprovalRow a;
            a.id = sqlite3_column_int64(s.get(), 0);
            const int64_t vi = sqlite3_column_int64(s.get(), 1);
            auto kind = Text(s.get(), 2);
            auto value = Blob32(s.get(), 3);
            if (vi < 0 || vi > UINT32_MAX || !kind || !value) return Unexpected{Corrupt("approvals row " + std::to_string(a.id) + " is malformed")};
            a.vault_idx = static_cast<uint32_t>(vi);
            a.kind = *kind;
            a.value = *value;
            a.expiry_height = OptInt(s.get(), 4);
            a.revoked = sqlite3_column_int(s.get(), 5) != 0;
            out.push_back(std::move(a));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load approvals")};
        return out;
    }

    Expected<void, StoreError> LimitPages(uint32_t max_pages) override
    {
        // SQLite's default maximum (PRAGMA max_page_count) when uncapped.
        const std::string sql = "PRAGMA max_page_count = " + std::to_string(max_pages ? max_pages : 4294967294u) + ";";
        return Exec(sql.c_str());
    }

    Expected<std::vector<FamilyRow>, StoreError> LoadFamilies() override
    {
        std::vector<FamilyRow> out;
        Stmt s{m_stmts, "SELECT id, text, label, policy, recovery_auth, gap_limit, derived, birth_height, created_at FROM families ORDER BY created_at, id"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load families")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            FamilyRow f;
            auto id = Text(s.get(), 0), text = Text(s.get(), 1), label = Text(s.get(), 2), pol = Text(s.get(), 3);
            if (!id || !text || !label || !pol) return Unexpected{Corrupt("families: a row with a non-text column")};
            f.id = *id;
            f.text = *text;
            f.label = *label;
            f.policy = *pol;
            if (sqlite3_column_type(s.get(), 4) != SQLITE_NULL) {
                auto a = Text(s.get(), 4);
                if (!a) return Unexpected{Corrupt("families " + f.id + ": recovery_auth is not text")};
                f.recovery_auth = *a;
            }
            const int64_t gap = sqlite3_column_int64(s.get(), 5), derived = sqlite3_column_int64(s.get(), 6);
            if (gap < 1 || gap > 100'000 || derived < 0 || derived > UINT32_MAX) return Unexpected{Corrupt("families " + f.id + ": gap or count out of range")};
            f.gap_limit = static_cast<uint32_t>(gap);
            f.derived = static_cast<uint32_t>(derived);
            f.birth_height = OptInt(s.get(), 7);
            f.created_at = sqlite3_column_int64(s.get(), 8);
            out.push_back(std::move(f));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load families")};
        return out;
    }

    Expected<std::vector<SightingRow>, StoreError> LoadSightings() override
    {
        std::vector<SightingRow> out;
        Stmt s{m_stmts, "SELECT txid, seen_at FROM sightings"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load sightings")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            auto txid = Blob32(s.get(), 0);
            if (!txid) return Unexpected{Corrupt("sightings: a txid is not 32 bytes")};
            const int64_t h = sqlite3_column_int64(s.get(), 1);
            if (h < -1 || h > INT32_MAX) return Unexpected{Corrupt("sightings: a bad height")};
            SightingRow r;
            r.txid = Txid::FromUint256(*txid);
            r.seen_at = static_cast<int>(h);
            out.push_back(r);
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load sightings")};
        return out;
    }

    Expected<std::vector<RescanRow>, StoreError> LoadRescans() override
    {
        std::vector<RescanRow> out;
        Stmt s{m_stmts, "SELECT id, vault_idx, next_height, created_at FROM rescans ORDER BY id"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load rescans")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            RescanRow r;
            r.id = sqlite3_column_int64(s.get(), 0);
            if (sqlite3_column_type(s.get(), 1) != SQLITE_NULL) {
                const int64_t vi = sqlite3_column_int64(s.get(), 1);
                if (vi < 0 || vi > UINT32_MAX) return Unexpected{Corrupt("rescans row " + std::to_string(r.id) + " names no vault")};
                r.vault_idx = static_cast<uint32_t>(vi);
            }
            const int64_t h = sqlite3_column_int64(s.get(), 2);
            if (h < 0 || h > INT32_MAX) return Unexpected{Corrupt("rescans row " + std::to_string(r.id) + " has a bad height")};
            r.next_height = static_cast<int>(h);
            r.created_at = sqlite3_column_int64(s.get(), 3);
            out.push_back(r);
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load rescans")};
        return out;
    }

    Expected<std::vector<VaultTxRow>, StoreError> LoadVaultTxs() override
    {
        std::vector<VaultTxRow> out;
        Stmt s{m_stmts, "SELECT height, pos, block_hash, txid, tx FROM vault_txs ORDER BY height, pos"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load vault txs")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            VaultTxRow t;
            t.height = sqlite3_column_int(s.get(), 0);
            t.pos = static_cast<uint32_t>(sqlite3_column_int64(s.get(), 1));
            auto bh = Blob32(s.get(), 2), txid = Blob32(s.get(), 3);
            if (!bh || !txid || sqlite3_column_type(s.get(), 4) != SQLITE_BLOB) {
                return Unexpected{Corrupt("vault_txs row at height " + std::to_string(t.height) + " is malformed")};
            }
            t.block = BlockHash::FromUint256(*bh);
            t.txid = Txid::FromUint256(*txid);
            const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s.get(), 4));
            t.tx.assign(p, p + sqlite3_column_bytes(s.get(), 4));
            out.push_back(std::move(t));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load vault txs")};
        return out;
    }

    Expected<std::vector<RecoveryRow>, StoreError> LoadRecoveries() override
    {
        std::vector<RecoveryRow> out;
        Stmt s{m_stmts, "SELECT txid, kind, trigger_txid, vault_ids, tx, state, deadline_height, confirmed_height, attempts, "
                     "last_error, created_at FROM recoveries ORDER BY created_at, txid"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load recoveries")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            RecoveryRow r;
            auto txid = Blob32(s.get(), 0), trig = Blob32(s.get(), 2);
            auto kind = Text(s.get(), 1), ids = Text(s.get(), 3), state = Text(s.get(), 5), err = Text(s.get(), 9);
            if (!txid || !trig || !kind || !ids || !state || !err || sqlite3_column_type(s.get(), 4) != SQLITE_BLOB) {
                return Unexpected{Corrupt("recoveries row is malformed")};
            }
            r.txid = Txid::FromUint256(*txid);
            r.trigger_txid = Txid::FromUint256(*trig);
            auto pk = vault::ParsePlanKind(*kind);
            auto rs = vault::ParseRecoveryState(*state);
            if (!pk || !rs) {
                return Unexpected{Corrupt("recoveries row " + r.txid.ToString() + " has an unknown " + (pk ? "state '" + *state : "kind '" + *kind) + "'")};
            }
            r.kind = *pk;
            for (size_t start = 0; start < ids->size();) {
                const size_t comma = std::min(ids->find(',', start), ids->size());
                r.vault_ids.push_back(ids->substr(start, comma - start));
                start = comma + 1;
            }
            const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s.get(), 4));
            r.tx.assign(p, p + sqlite3_column_bytes(s.get(), 4));
            r.state = *rs;
            r.deadline_height = OptInt(s.get(), 6);
            r.confirmed_height = OptInt(s.get(), 7);
            r.attempts = sqlite3_column_int(s.get(), 8);
            r.last_error = *err;
            r.created_at = sqlite3_column_int64(s.get(), 10);
            out.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load recoveries")};
        return out;
    }

    Expected<std::vector<EventRow>, StoreError> LoadEvents(int64_t after_seq, size_t limit) override
    {
        std::vector<EventRow> out;
        Stmt s{m_stmts, "SELECT seq, created_at, type, vault_id, txid, height, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load events")};
        sqlite3_bind_int64(s.get(), 1, after_seq);
        sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            EventRow e;
            e.seq = sqlite3_column_int64(s.get(), 0);
            e.created_at = sqlite3_column_int64(s.get(), 1);
            auto type = Text(s.get(), 2), vid = Text(s.get(), 3), txid = Text(s.get(), 4), data = Text(s.get(), 6);
            if (!type || !vid || !txid || !data) return Unexpected{Corrupt("events row " + std::to_string(e.seq) + " is malformed")};
            e.type = *type;
            e.vault_id = *vid;
            e.txid = *txid;
            e.height = OptInt(s.get(), 5);
            e.data = *data;
            out.push_back(std::move(e));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load events")};
        return out;
    }

    Expected<int64_t, StoreError> LastEventSeq() override
    {
        Stmt s{m_stmts, "SELECT coalesce(max(seq), 0) FROM events"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "last event seq")};
        const int rc = sqlite3_step(s.get());
        if (rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "last event seq")};
        return sqlite3_column_int64(s.get(), 0);
    }

    Expected<void, StoreError> ApplyWebhooks(const WebhookChanges& c) override
    {
        if (c.empty()) return {};
        if (auto e = EarlierSyncFailed()) return Unexpected{*e};
        if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
        auto fail = [&](int rc, const char* what) {
            StoreError e = Err(m_db, rc, what);
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        };
        auto text = [](Stmt& st, int col, const std::string& v) {
            sqlite3_bind_text(st.get(), col, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        };
        for (const auto& id : c.removed) {
            // deliveries go with it (ON DELETE CASCADE)
            Stmt st{m_stmts, "DELETE FROM webhooks WHERE id = ?"};
            text(st, 1, id);
            if (int rc = sqlite3_step(st.get()); rc != SQLITE_DONE) return fail(rc, "remove webhook");
        }
        for (const auto& w : c.webhooks) {
            // An upsert, never INSERT OR REPLACE: a replace deletes the row and cascades to its deliveries.
            Stmt st{m_stmts, "INSERT INTO webhooks (id, url, secret, events, enabled, source, cursor, delivered, failed, last_error, created_at) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET url = excluded.url, secret = excluded.secret, "
                          "events = excluded.events, enabled = excluded.enabled, source = excluded.source, cursor = excluded.cursor, "
                          "delivered = excluded.delivered, failed = excluded.failed, last_error = excluded.last_error, "
                          "created_at = excluded.created_at"};
            if (st.rc() != SQLITE_OK) return fail(st.rc(), "write webhook");
            text(st, 1, w.id);
            text(st, 2, w.url);
            text(st, 3, w.secret);
            text(st, 4, w.events);
            sqlite3_bind_int(st.get(), 5, w.enabled ? 1 : 0);
            text(st, 6, w.source);
            sqlite3_bind_int64(st.get(), 7, w.cursor);
            sqlite3_bind_int64(st.get(), 8, w.delivered);
            sqlite3_bind_int64(st.get(), 9, w.failed);
            text(st, 10, w.last_error);
            sqlite3_bind_int64(st.get(), 11, w.created_at);
            if (int rc = sqlite3_step(st.get()); rc != SQLITE_DONE) return fail(rc, "write webhook");
        }
        for (const auto& d : c.deliveries) {
            Stmt st{m_stmts, "INSERT OR REPLACE INTO webhook_deliveries (webhook_id, event_seq, state, attempts, next_attempt_at, created_at, "
                          "last_status, last_error) VALUES (?,?,?,?,?,?,?,?)"};
            if (st.rc() != SQLITE_OK) return fail(st.rc(), "write delivery");
            text(st, 1, d.webhook_id);
            sqlite3_bind_int64(st.get(), 2, d.event_seq);
            const std::string_view state = ToString(d.state); // static storage: SQLITE_STATIC holds
            sqlite3_bind_text(st.get(), 3, state.data(), static_cast<int>(state.size()), SQLITE_STATIC);
            sqlite3_bind_int(st.get(), 4, d.attempts);
            sqlite3_bind_int64(st.get(), 5, d.next_attempt_at);
            sqlite3_bind_int64(st.get(), 6, d.created_at);
            BindOptInt(st.get(), 7, d.last_status);
            text(st, 8, d.last_error);
            if (int rc = sqlite3_step(st.get()); rc != SQLITE_DONE) return fail(rc, "write delivery");
        }
        for (const auto& [id, seq] : c.delivered) {
            Stmt st{m_stmts, "DELETE FROM webhook_deliveries WHERE webhook_id = ? AND event_seq = ?"};
            text(st, 1, id);
            sqlite3_bind_int64(st.get(), 2, seq);
            if (int rc = sqlite3_step(st.get()); rc != SQLITE_DONE) return fail(rc, "delete delivery");
        }
        if (int rc = sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) return fail(rc, "commit");
        if (c.sync_in_background && m_checkpointer) {
            m_checkpointer->RequestSync();
            return {};
        }
        return SyncWal();
    }

    Expected<std::vector<WebhookRow>, StoreError> LoadWebhooks() override
    {
        std::vector<WebhookRow> out;
        Stmt s{m_stmts, "SELECT id, url, secret, events, enabled, source, cursor, delivered, failed, last_error, created_at "
                     "FROM webhooks ORDER BY created_at, id"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load webhooks")};
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            WebhookRow w;
            auto id = Text(s.get(), 0), url = Text(s.get(), 1), secret = Text(s.get(), 2), events = Text(s.get(), 3),
                 source = Text(s.get(), 5), err = Text(s.get(), 9);
            if (!id || !url || !secret || !events || !source || !err) return Unexpected{Corrupt("webhooks row has a non-text column")};
            w.id = *id;
            w.url = *url;
            w.secret = *secret;
            w.events = *events;
            w.enabled = sqlite3_column_int(s.get(), 4) != 0;
            w.source = *source;
            w.cursor = sqlite3_column_int64(s.get(), 6);
            w.delivered = sqlite3_column_int64(s.get(), 7);
            w.failed = sqlite3_column_int64(s.get(), 8);
            w.last_error = *err;
            w.created_at = sqlite3_column_int64(s.get(), 10);
            out.push_back(std::move(w));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load webhooks")};
        return out;
    }

    Expected<std::vector<DeliveryRow>, StoreError> LoadDeliveries(const std::string& webhook_id, DeliveryState wanted,
                                                                 size_t limit) override
    {
        std::vector<DeliveryRow> out;
        Stmt s{m_stmts, "SELECT event_seq, state, attempts, next_attempt_at, created_at, last_status, last_error FROM webhook_deliveries "
                     "WHERE webhook_id = ? AND state = ? ORDER BY event_seq LIMIT ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "load deliveries")};
        sqlite3_bind_text(s.get(), 1, webhook_id.data(), static_cast<int>(webhook_id.size()), SQLITE_STATIC);
        const std::string_view state = ToString(wanted);
        sqlite3_bind_text(s.get(), 2, state.data(), static_cast<int>(state.size()), SQLITE_STATIC);
        sqlite3_bind_int64(s.get(), 3, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
        int rc;
        while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
            DeliveryRow d;
            d.webhook_id = webhook_id;
            d.event_seq = sqlite3_column_int64(s.get(), 0);
            auto st = Text(s.get(), 1), err = Text(s.get(), 6);
            if (!st || !err) return Unexpected{Corrupt("webhook_deliveries row " + std::to_string(d.event_seq) + " is malformed")};
            auto ds = st ? ParseDeliveryState(*st) : std::nullopt;
            if (!ds) return Unexpected{Corrupt("webhook_deliveries row " + std::to_string(d.event_seq) + " has an unknown state")};
            d.state = *ds;
            d.attempts = sqlite3_column_int(s.get(), 2);
            d.next_attempt_at = sqlite3_column_int64(s.get(), 3);
            d.created_at = sqlite3_column_int64(s.get(), 4);
            d.last_status = OptInt(s.get(), 5);
            d.last_error = *err;
            out.push_back(std::move(d));
        }
        if (rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, "load deliveries")};
        return out;
    }

    Expected<int64_t, StoreError> CountDeliveries(const std::string& webhook_id, DeliveryState wanted) override
    {
        Stmt s{m_stmts, "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ? AND state = ?"};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "count deliveries")};
        sqlite3_bind_text(s.get(), 1, webhook_id.data(), static_cast<int>(webhook_id.size()), SQLITE_STATIC);
        const std::string_view state = ToString(wanted);
        sqlite3_bind_text(s.get(), 2, state.data(), static_cast<int>(state.size()), SQLITE_STATIC);
        const int rc = sqlite3_step(s.get());
        if (rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "count deliveries")};
        return sqlite3_column_int64(s.get(), 0);
    }

private:
    static StoreError Corrupt(std::string what) { return StoreError{StoreError::Kind::Corrupt, "corrupt database: " + std::move(what)}; }

    static std::optional<std::string> Text(sqlite3_stmt* s, int col)
    {
        if (sqlite3_column_type(s, col) != SQLITE_TEXT) return std::nullopt;
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
        return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, col)));
    }
    //! Returns: the bytes of a BLOB column, empty for NULL, nullopt for any other type.
    static std::optional<Bytes> OptBlob(sqlite3_stmt* s, int col)
    {
        const int type = sqlite3_column_type(s, col);
        if (type == SQLITE_NULL) return Bytes{};
        if (type != SQLITE_BLOB) return std::nullopt;
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(s, col));
        return Bytes(p, p + sqlite3_column_bytes(s, col));
    }
    static std::optional<Uint256> Blob32(sqlite3_stmt* s, int col)
    {
        if (sqlite3_column_type(s, col) != SQLITE_BLOB || sqlite3_column_bytes(s, col) != 32) return std::nullopt;
        return Uint256::FromSpan(ByteSpan{static_cast<const uint8_t*>(sqlite3_column_blob(s, col)), 32});
    }
    static std::optional<int> OptInt(sqlite3_stmt* s, int col)
    {
        if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
        return sqlite3_column_int(s, col);
    }
    static void BindOptInt(sqlite3_stmt* s, int col, const std::optional<int>& v)
    {
        if (v) sqlite3_bind_int(s, col, *v);
        else sqlite3_bind_null(s, col);
    }

    //! Writes c inside the caller's open transaction.
    Expected<void, StoreError> WriteState(const StateChanges& c, std::vector<int64_t>* seqs)
    {
        auto step = [&](Stmt& st, const char* what) -> Expected<void, StoreError> {
            if (st.rc() != SQLITE_OK) return Unexpected{Err(m_db, st.rc(), what)};
            if (int rc = sqlite3_step(st.get()); rc != SQLITE_DONE) return Unexpected{Err(m_db, rc, what)};
            return {};
        };
        // One prepared statement per table, reset per row: a batch registration writes thousands.
        std::optional<Stmt> vault_st, registration_st;
        // Families before their members: a member's family_id refers to its row.
        auto text = [](Stmt& st, int col, const std::string& v) {
            sqlite3_bind_text(st.get(), col, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        };
        for (const auto& f : c.families) {
            // An upsert, not REPLACE: replacing deletes the row, which its members refer to.
            Stmt st{m_stmts, "INSERT INTO families (id, text, label, policy, recovery_auth, gap_limit, derived, birth_height, created_at) "
                          "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET text = excluded.text, label = excluded.label, "
                          "policy = excluded.policy, recovery_auth = excluded.recovery_auth, gap_limit = excluded.gap_limit, "
                          "derived = excluded.derived, birth_height = excluded.birth_height, created_at = excluded.created_at"};
            if (st.rc() == SQLITE_OK) {
                text(st, 1, f.id);
                text(st, 2, f.text);
                text(st, 3, f.label);
                text(st, 4, f.policy);
                if (f.recovery_auth.empty()) sqlite3_bind_null(st.get(), 5);
                else text(st, 5, f.recovery_auth);
                sqlite3_bind_int64(st.get(), 6, f.gap_limit);
                sqlite3_bind_int64(st.get(), 7, f.derived);
                BindOptInt(st.get(), 8, f.birth_height);
                sqlite3_bind_int64(st.get(), 9, f.created_at);
            }
            if (auto r = step(st, "write family"); !r) return r;
        }
        for (const auto& v : c.vaults) {
            if (!vault_st) {
                // ?4, the registration, goes to its own table.
                vault_st.emplace(m_stmts, "INSERT OR REPLACE INTO vaults (idx, vault_id, kind, policy, removed, created_at, output_key_cache, "
                                       "recovery_auth, family_id, family_index, compact) VALUES (?1,?2,?3,?5,?6,?7,?8,?9,?10,?11,?12)");
                registration_st.emplace(m_stmts, "INSERT OR REPLACE INTO registrations (idx, registration) VALUES (?,?)");
            }
            Stmt& st = *vault_st;
            st.Reset();
            sqlite3_bind_int64(st.get(), 1, v.idx);
            sqlite3_bind_text(st.get(), 2, v.vault_id.data(), static_cast<int>(v.vault_id.size()), SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 3, v.kind.data(), static_cast<int>(v.kind.size()), SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 4, v.registration.data(), static_cast<int>(v.registration.size()), SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 5, v.policy.data(), static_cast<int>(v.policy.size()), SQLITE_STATIC);
            sqlite3_bind_int(st.get(), 6, v.removed ? 1 : 0);
            sqlite3_bind_int64(st.get(), 7, v.created_at);
            if (v.output_key_cache.empty()) sqlite3_bind_null(st.get(), 8);
            else sqlite3_bind_blob(st.get(), 8, v.output_key_cache.data(), static_cast<int>(v.output_key_cache.size()), SQLITE_STATIC);
            if (v.recovery_auth.empty()) sqlite3_bind_null(st.get(), 9);
            else sqlite3_bind_text(st.get(), 9, v.recovery_auth.data(), static_cast<int>(v.recovery_auth.size()), SQLITE_STATIC);
            if (v.family_id.empty()) {
                sqlite3_bind_null(st.get(), 10);
                sqlite3_bind_null(st.get(), 11);
            } else {
                sqlite3_bind_text(st.get(), 10, v.family_id.data(), static_cast<int>(v.family_id.size()), SQLITE_STATIC);
                sqlite3_bind_int64(st.get(), 11, v.family_index);
            }
            if (v.compact.empty()) sqlite3_bind_null(st.get(), 12);
            else sqlite3_bind_blob(st.get(), 12, v.compact.data(), static_cast<int>(v.compact.size()), SQLITE_STATIC);
            if (auto r = step(st, "write vault"); !r) return r;
            Stmt& rs = *registration_st;
            rs.Reset();
            sqlite3_bind_int64(rs.get(), 1, v.idx);
            sqlite3_bind_text(rs.get(), 2, v.registration.data(), static_cast<int>(v.registration.size()), SQLITE_STATIC);
            if (auto r = step(rs, "write registration"); !r) return r;
        }
        for (const auto& a : c.approvals) {
            Stmt st{m_stmts, a.id == 0 ? "INSERT INTO approvals (vault_idx, kind, value, expiry_height, revoked) VALUES (?,?,?,?,?)"
                                    : "INSERT OR REPLACE INTO approvals (vault_idx, kind, value, expiry_height, revoked, id) VALUES (?,?,?,?,?,?)"};
            sqlite3_bind_int64(st.get(), 1, a.vault_idx);
            sqlite3_bind_text(st.get(), 2, a.kind.data(), static_cast<int>(a.kind.size()), SQLITE_STATIC);
            sqlite3_bind_blob(st.get(), 3, a.value.bytes.data(), 32, SQLITE_STATIC);
            BindOptInt(st.get(), 4, a.expiry_height);
            sqlite3_bind_int(st.get(), 5, a.revoked ? 1 : 0);
            if (a.id != 0) sqlite3_bind_int64(st.get(), 6, a.id);
            if (auto r = step(st, "write approval"); !r) return r;
        }
        std::optional<Stmt> tx_st;
        for (const auto& t : c.vault_txs) {
            if (!tx_st) tx_st.emplace(m_stmts, "INSERT OR IGNORE INTO vault_txs (height, pos, block_hash, txid, tx) VALUES (?,?,?,?,?)");
            Stmt& st = *tx_st;
            st.Reset();
            sqlite3_bind_int(st.get(), 1, t.height);
            sqlite3_bind_int64(st.get(), 2, t.pos);
            sqlite3_bind_blob(st.get(), 3, t.block.span().data(), 32, SQLITE_STATIC);
            sqlite3_bind_blob(st.get(), 4, t.txid.span().data(), 32, SQLITE_STATIC);
            sqlite3_bind_blob(st.get(), 5, t.tx.data(), static_cast<int>(t.tx.size()), SQLITE_STATIC);
            if (auto r = step(st, "write vault tx"); !r) return r;
        }
        for (const auto& r : c.recoveries) {
            Stmt st{m_stmts, "INSERT OR REPLACE INTO recoveries (txid, kind, trigger_txid, vault_ids, tx, state, deadline_height, "
                          "confirmed_height, attempts, last_error, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"};
            std::string ids;
            for (const auto& id : r.vault_ids) ids += (ids.empty() ? "" : ",") + id;
            sqlite3_bind_blob(st.get(), 1, r.txid.span().data(), 32, SQLITE_STATIC);
            const std::string_view kind = vault::ToString(r.kind);
            sqlite3_bind_text(st.get(), 2, kind.data(), static_cast<int>(kind.size()), SQLITE_STATIC);
            sqlite3_bind_blob(st.get(), 3, r.trigger_txid.span().data(), 32, SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 4, ids.data(), static_cast<int>(ids.size()), SQLITE_TRANSIENT);
            sqlite3_bind_blob(st.get(), 5, r.tx.data(), static_cast<int>(r.tx.size()), SQLITE_STATIC);
            const std::string_view state = vault::ToString(r.state);
            sqlite3_bind_text(st.get(), 6, state.data(), static_cast<int>(state.size()), SQLITE_STATIC);
            BindOptInt(st.get(), 7, r.deadline_height);
            BindOptInt(st.get(), 8, r.confirmed_height);
            sqlite3_bind_int(st.get(), 9, r.attempts);
            sqlite3_bind_text(st.get(), 10, r.last_error.data(), static_cast<int>(r.last_error.size()), SQLITE_STATIC);
            sqlite3_bind_int64(st.get(), 11, r.created_at);
            if (auto res = step(st, "write recovery"); !res) return res;
        }
        for (const auto& r : c.rescans) {
            Stmt st{m_stmts, "INSERT OR REPLACE INTO rescans (id, vault_idx, next_height, created_at) VALUES (?,?,?,?)"};
            sqlite3_bind_int64(st.get(), 1, r.id);
            if (r.vault_idx) sqlite3_bind_int64(st.get(), 2, *r.vault_idx);
            else sqlite3_bind_null(st.get(), 2);
            sqlite3_bind_int(st.get(), 3, r.next_height);
            sqlite3_bind_int64(st.get(), 4, r.created_at);
            if (auto res = step(st, "write rescan"); !res) return res;
        }
        for (const auto& s : c.sightings) {
            // The first sight stays: a later one (a restart, a reorg) is not the first.
            Stmt st{m_stmts, "INSERT INTO sightings (txid, seen_at) VALUES (?,?) ON CONFLICT(txid) DO UPDATE SET seen_at = MIN(seen_at, excluded.seen_at)"};
            sqlite3_bind_blob(st.get(), 1, s.txid.span().data(), 32, SQLITE_STATIC);
            sqlite3_bind_int(st.get(), 2, s.seen_at);
            if (auto res = step(st, "write sighting"); !res) return res;
        }
        for (const int64_t id : c.rescans_done) {
            Stmt st{m_stmts, "DELETE FROM rescans WHERE id = ?"};
            sqlite3_bind_int64(st.get(), 1, id);
            if (auto res = step(st, "delete rescan"); !res) return res;
        }
        std::optional<Stmt> event_st;
        for (const auto& e : c.events) {
            if (!event_st) event_st.emplace(m_stmts, "INSERT INTO events (created_at, type, vault_id, txid, height, data) VALUES (?,?,?,?,?,?)");
            Stmt& st = *event_st;
            st.Reset();
            sqlite3_bind_int64(st.get(), 1, e.created_at);
            sqlite3_bind_text(st.get(), 2, e.type.data(), static_cast<int>(e.type.size()), SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 3, e.vault_id.data(), static_cast<int>(e.vault_id.size()), SQLITE_STATIC);
            sqlite3_bind_text(st.get(), 4, e.txid.data(), static_cast<int>(e.txid.size()), SQLITE_STATIC);
            BindOptInt(st.get(), 5, e.height);
            sqlite3_bind_text(st.get(), 6, e.data.data(), static_cast<int>(e.data.size()), SQLITE_STATIC);
            if (auto r = step(st, "append event"); !r) return r;
            if (seqs) seqs->push_back(sqlite3_last_insert_rowid(m_db));
        }
        return {};
    }

    //! One statement without results, prepared once (Exec parses it at every call).
    Expected<void, StoreError> Step(const char* sql)
    {
        Stmt s{m_stmts, sql};
        if (s.rc() != SQLITE_OK) return Unexpected{Err(m_db, s.rc(), "prepare")};
        if (int rc = sqlite3_step(s.get()); rc != SQLITE_DONE && rc != SQLITE_ROW) return Unexpected{Err(m_db, rc, "exec")};
        return {};
    }

    //! A sync the store's thread failed for an earlier commit: that commit may not be on the disk,
    //! and this one fails with it, once (the caller treats it as any failed commit).
    std::optional<StoreError> EarlierSyncFailed()
    {
        if (!m_checkpointer) return std::nullopt;
        auto e = m_checkpointer->TakeSyncError();
        if (!e) return std::nullopt;
        return StoreError{StoreError::Kind::Io, "an earlier commit may not be on the disk: " + *e};
    }

    //! Syncs the WAL as synchronous=FULL does at each commit (the connection runs NORMAL). A
    //! failure is an error of the commit: it may not be on the disk, and a later sync may not
    //! say so again (the kernel can drop what it could not write).
    Expected<void, StoreError> SyncWal()
    {
        sqlite3_file* wal = nullptr;
        if (int rc = sqlite3_file_control(m_db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal); rc != SQLITE_OK) return Unexpected{Err(m_db, rc, "find the WAL")};
        if (!wal || !wal->pMethods) return {}; // an in-memory database: nothing to sync
        if (int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL); rc != SQLITE_OK) return Unexpected{Err(m_db, rc, "sync the WAL")};
        return {};
    }

    Expected<void, StoreError> Exec(const char* sql)
    {
        char* msg = nullptr;
        const int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, &msg);
        if (rc != SQLITE_OK) {
            StoreError e = Err(m_db, rc, "exec");
            if (msg) e.message += std::string(" (") + msg + ")";
            sqlite3_free(msg);
            return Unexpected{e};
        }
        return {};
    }

    static std::optional<BlockHash> ReadHash(sqlite3_stmt* s, int col)
    {
        if (sqlite3_column_type(s, col) != SQLITE_BLOB || sqlite3_column_bytes(s, col) != 32) return std::nullopt;
        return BlockHash::FromUint256(Uint256::FromSpan(ByteSpan{static_cast<const uint8_t*>(sqlite3_column_blob(s, col)), 32}));
    }

    sqlite3* m_db;
    StmtCache m_stmts;
    std::unique_ptr<Checkpointer> m_checkpointer;
};

} // namespace

Expected<std::unique_ptr<Store>, StoreError> OpenSqliteStore(const std::string& path)
{
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        StoreError e{StoreError::Kind::Open, "open " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
        sqlite3_close_v2(db);
        return Unexpected{e};
    }
    auto store = std::make_unique<SqliteStore>(db);
    if (auto r = store->Init(); !r) return Unexpected{r.error()};
    store->StartCheckpointer();
    return std::unique_ptr<Store>{std::move(store)};
}

std::string_view ToString(DeliveryState s) { return s == DeliveryState::Pending ? "pending" : "failed"; }

std::optional<DeliveryState> ParseDeliveryState(std::string_view s)
{
    if (s == "pending") return DeliveryState::Pending;
    if (s == "failed") return DeliveryState::Failed;
    return std::nullopt;
}

} // namespace vw::store
