#include "store/store.h"

#include <sqlite3.h>

#include <cstring>

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

class Stmt
{
public:
    Stmt(sqlite3* db, const char* sql) { m_rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &m_stmt, nullptr); }
    ~Stmt() { sqlite3_finalize(m_stmt); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    int rc() const { return m_rc; }
    sqlite3_stmt* get() { return m_stmt; }
    void Reset() { sqlite3_reset(m_stmt); sqlite3_clear_bindings(m_stmt); }

private:
    sqlite3_stmt* m_stmt{nullptr};
    int m_rc{SQLITE_OK};
};

class SqliteStore final : public Store
{
public:
    explicit SqliteStore(sqlite3* db) : m_db(db) {}
    ~SqliteStore() override { sqlite3_close_v2(m_db); }

    Expected<void, StoreError> Init()
    {
        if (auto r = Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"); !r) return r;
        sqlite3_busy_timeout(m_db, 5000);
        int version = 0;
        {
            Stmt s{m_db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='version'"};
            if (s.rc() != SQLITE_OK || sqlite3_step(s.get()) != SQLITE_ROW) return Unexpected{Err(m_db, s.rc(), "read schema")};
            if (sqlite3_column_int(s.get(), 0) == 1) {
                Stmt v{m_db, "SELECT version FROM version"};
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
        return {};
    }

    Expected<Cursor, StoreError> LoadCursor() override
    {
        Stmt s{m_db, "SELECT height, hash FROM cursor WHERE id = 1"};
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
        Stmt s{m_db, "SELECT hash FROM blocks WHERE height = ?"};
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
        if (auto r = Exec("BEGIN IMMEDIATE"); !r) return r;
        auto fail = [&](int rc, const char* what) {
            StoreError e = Err(m_db, rc, what);
            (void)Exec("ROLLBACK");
            return Unexpected{e};
        };
        if (b.disconnect_from) {
            Stmt d{m_db, "DELETE FROM blocks WHERE height >= ?"};
            sqlite3_bind_int(d.get(), 1, *b.disconnect_from);
            if (int rc = sqlite3_step(d.get()); rc != SQLITE_DONE) return fail(rc, "forget disconnected blocks");
        }
        for (const auto& [h, hash] : b.connected) {
            Stmt i{m_db, "INSERT OR REPLACE INTO blocks (height, hash) VALUES (?, ?)"};
            sqlite3_bind_int(i.get(), 1, h);
            sqlite3_bind_blob(i.get(), 2, hash.span().data(), 32, SQLITE_STATIC);
            if (int rc = sqlite3_step(i.get()); rc != SQLITE_DONE) return fail(rc, "remember block");
        }
        {
            Stmt c{m_db, "INSERT INTO cursor (id, height, hash) VALUES (1, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET height = excluded.height, hash = excluded.hash"};
            sqlite3_bind_int(c.get(), 1, b.new_cursor.height);
            sqlite3_bind_blob(c.get(), 2, b.new_cursor.hash.span().data(), 32, SQLITE_STATIC);
            if (int rc = sqlite3_step(c.get()); rc != SQLITE_DONE) return fail(rc, "write cursor");
        }
        {
            Stmt p{m_db, "DELETE FROM blocks WHERE height < ?"};
            sqlite3_bind_int(p.get(), 1, b.new_cursor.height - kRememberedBlocks);
            if (int rc = sqlite3_step(p.get()); rc != SQLITE_DONE) return fail(rc, "prune blocks");
        }
        if (int rc = sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) return fail(rc, "commit");
        return {};
    }

private:
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
    return std::unique_ptr<Store>{std::move(store)};
}

} // namespace vw::store
