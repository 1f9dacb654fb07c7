// Webhook rows and the delivery outbox in the SQLite store (migration 3).
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
        m_dir = std::filesystem::temp_directory_path() / ("vw-whstore-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(m_dir);
    }
    ~TempDb() { std::filesystem::remove_all(m_dir); }
    std::string path() const { return (m_dir / "vaultwatch.sqlite").string(); }

private:
    std::filesystem::path m_dir;
};

WebhookRow Hook(const std::string& id, int64_t created_at = 100)
{
    WebhookRow w;
    w.id = id;
    w.url = "https://example.com/" + id;
    w.secret = "secret-" + id + "-0123456789";
    w.events = "recovery.*,vault.trigger";
    w.enabled = true;
    w.source = "rpc";
    w.cursor = 0;
    w.created_at = created_at;
    return w;
}

DeliveryRow Delivery(const std::string& hook, int64_t seq)
{
    DeliveryRow d;
    d.webhook_id = hook;
    d.event_seq = seq;
    d.state = DeliveryState::Pending;
    d.created_at = 1000 + seq;
    return d;
}

void AppendEvents(Store& s, int n)
{
    StateChanges c;
    for (int i = 0; i < n; ++i) c.events.push_back({0, 50, "vault.trigger", "v-0123456789abcdef", "", std::nullopt, "{}"});
    ASSERT_TRUE(s.Apply(c));
}

TEST(webhook_store_tests, WebhookRowsRoundTripAndSurviveReopen)
{
    TempDb t;
    WebhookRow a = Hook("wh-aaaaaaaaaaaaaaaa", 200), b = Hook("wh-bbbbbbbbbbbbbbbb", 100);
    b.source = "config";
    b.enabled = false;
    b.cursor = 17;
    b.delivered = 5;
    b.failed = 2;
    b.last_error = "HTTP 410";
    {
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s) << s.error().message;
        WebhookChanges c;
        c.webhooks = {a, b};
        ASSERT_TRUE((*s)->ApplyWebhooks(c));
    }
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    auto rows = (*s)->LoadWebhooks();
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[0], b) << "ordered by created_at";
    EXPECT_EQ((*rows)[1], a);

    // An update keeps the id and changes every field.
    a.url = "http://127.0.0.1:1/x";
    a.cursor = 99;
    a.delivered = 1;
    WebhookChanges c;
    c.webhooks = {a};
    ASSERT_TRUE((*s)->ApplyWebhooks(c));
    rows = (*s)->LoadWebhooks();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_EQ((*rows)[1], a);
}

TEST(webhook_store_tests, DeliveriesRoundTripInSeqOrderAndByState)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    const std::string h = "wh-aaaaaaaaaaaaaaaa", other = "wh-bbbbbbbbbbbbbbbb";
    WebhookChanges c;
    c.webhooks = {Hook(h), Hook(other)};
    DeliveryRow d3 = Delivery(h, 3);
    d3.attempts = 4;
    d3.next_attempt_at = 1'700'000'000'123;
    d3.last_status = 503;
    d3.last_error = "HTTP 503";
    c.deliveries = {d3, Delivery(h, 1), Delivery(h, 2), Delivery(other, 2)};
    ASSERT_TRUE((*s)->ApplyWebhooks(c));

    auto p = (*s)->LoadDeliveries(h, DeliveryState::Pending, 10);
    ASSERT_TRUE(p) << p.error().message;
    ASSERT_EQ(p->size(), 3u);
    EXPECT_EQ((*p)[0], Delivery(h, 1));
    EXPECT_EQ((*p)[1], Delivery(h, 2));
    EXPECT_EQ((*p)[2], d3);
    EXPECT_EQ((*s)->LoadDeliveries(h, DeliveryState::Pending, 2)->size(), 2u);
    EXPECT_EQ(*(*s)->CountDeliveries(h, DeliveryState::Pending), 3);

    // Delivered: the row goes; given up: it stays as failed.
    WebhookChanges done;
    done.delivered = {{h, 1}};
    DeliveryRow gave_up = Delivery(h, 2);
    gave_up.state = DeliveryState::Failed;
    gave_up.attempts = 200;
    gave_up.last_error = "connect: Connection refused";
    done.deliveries = {gave_up};
    ASSERT_TRUE((*s)->ApplyWebhooks(done));
    p = (*s)->LoadDeliveries(h, DeliveryState::Pending, 10);
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ((*p)[0], d3);
    auto f = (*s)->LoadDeliveries(h, DeliveryState::Failed, 10);
    ASSERT_EQ(f->size(), 1u);
    EXPECT_EQ((*f)[0], gave_up);
    EXPECT_EQ(*(*s)->CountDeliveries(other, DeliveryState::Pending), 1);
}

TEST(webhook_store_tests, UpdatingAHookKeepsItsDeliveriesRemovingItDropsThem)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    const std::string h = "wh-aaaaaaaaaaaaaaaa", other = "wh-bbbbbbbbbbbbbbbb";
    WebhookChanges c;
    c.webhooks = {Hook(h), Hook(other)};
    c.deliveries = {Delivery(h, 1), Delivery(h, 2), Delivery(other, 1)};
    ASSERT_TRUE((*s)->ApplyWebhooks(c));
    // An upsert of the hook row must not cascade to its deliveries (no INSERT OR REPLACE).
    WebhookRow changed = Hook(h);
    changed.cursor = 2;
    changed.enabled = false;
    WebhookChanges u;
    u.webhooks = {changed};
    ASSERT_TRUE((*s)->ApplyWebhooks(u));
    EXPECT_EQ(*(*s)->CountDeliveries(h, DeliveryState::Pending), 2);

    WebhookChanges r;
    r.removed = {h};
    ASSERT_TRUE((*s)->ApplyWebhooks(r));
    EXPECT_EQ(*(*s)->CountDeliveries(h, DeliveryState::Pending), 0);
    EXPECT_EQ(*(*s)->CountDeliveries(other, DeliveryState::Pending), 1);
    ASSERT_EQ((*s)->LoadWebhooks()->size(), 1u);
}

TEST(webhook_store_tests, ADeliveryForAnUnknownHookIsRefusedAndNothingCommits)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    WebhookChanges c;
    c.webhooks = {Hook("wh-aaaaaaaaaaaaaaaa")};
    c.deliveries = {Delivery("wh-aaaaaaaaaaaaaaaa", 1), Delivery("wh-nosuchhook00000", 1)};
    EXPECT_FALSE((*s)->ApplyWebhooks(c));
    EXPECT_TRUE((*s)->LoadWebhooks()->empty()) << "one transaction: all or nothing";
    // The store stays usable after the rollback.
    c.deliveries.pop_back();
    EXPECT_TRUE((*s)->ApplyWebhooks(c));
    EXPECT_EQ(*(*s)->CountDeliveries("wh-aaaaaaaaaaaaaaaa", DeliveryState::Pending), 1);
}

TEST(webhook_store_tests, LastEventSeqFollowsTheLog)
{
    TempDb t;
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s);
    EXPECT_EQ(*(*s)->LastEventSeq(), 0);
    AppendEvents(**s, 3);
    EXPECT_EQ(*(*s)->LastEventSeq(), 3);
    AppendEvents(**s, 2);
    EXPECT_EQ(*(*s)->LastEventSeq(), 5);
}

TEST(webhook_store_tests, AVersion2DatabaseMigratesKeepingItsEvents)
{
    TempDb t;
    {
        // A database as version 2 left it: build it from a fresh one, then drop what 3, 4 and 5 add.
        auto s = OpenSqliteStore(t.path());
        ASSERT_TRUE(s);
        AppendEvents(**s, 2);
    }
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(t.path().c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE vaults DROP COLUMN output_key_cache; ALTER TABLE vaults DROP COLUMN recovery_auth; DROP TABLE rescans; DROP TABLE webhook_deliveries; DROP TABLE webhooks; ALTER TABLE vaults DROP COLUMN family_id; ALTER TABLE vaults DROP COLUMN family_index; ALTER TABLE vaults DROP COLUMN compact; ALTER TABLE vaults ADD COLUMN registration TEXT NOT NULL DEFAULT ''; UPDATE vaults SET registration = (SELECT registration FROM registrations r WHERE r.idx = vaults.idx); DROP TABLE registrations; DROP TABLE families; UPDATE version SET version = 2;", nullptr, nullptr, nullptr),
                  SQLITE_OK)
            << sqlite3_errmsg(db);
        sqlite3_close(db);
    }
    auto s = OpenSqliteStore(t.path());
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(*(*s)->LastEventSeq(), 2);
    WebhookChanges c;
    c.webhooks = {Hook("wh-aaaaaaaaaaaaaaaa")};
    c.deliveries = {Delivery("wh-aaaaaaaaaaaaaaaa", 1)};
    ASSERT_TRUE((*s)->ApplyWebhooks(c));
    EXPECT_EQ((*s)->LoadWebhooks()->size(), 1u);
}

} // namespace
} // namespace vw::store
