#include "store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <random>

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

} // namespace
} // namespace vw::store
