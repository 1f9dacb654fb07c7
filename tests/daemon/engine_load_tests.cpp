// The engine in process, without a node: its cold start (Engine::Load) from a store it wrote,
// and the order of chain notifications. The output-key cache that spares the taproot tweak per
// opvault vault is written at registration, used at start, backfilled for rows from before it
// existed, and a cache that does not belong to its vault stops the start with a clear error
// instead of watching the wrong scriptPubKey.
#include "engine.h"
#include "log.h"
#include "process_util.h"
#include "tx_util.h"
#include "vault/trigger_builder.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <sqlite3.h>

namespace vw::daemon {
namespace {

using namespace vw::test;

class engine_load_tests : public ::testing::Test
{
protected:
    void SetUp() override
    {
        log::Init("warn");
        m_ep.port = 1; // never called: the engine is not started
        m_opts.chain = "regtest";
        m_opts.allow_unenforced_opvault = true;
    }

    //! Opens the store and loads an engine from it; calls f(engine) or returns Load's error.
    template <typename F>
    std::string WithEngine(F&& f)
    {
        auto st = store::OpenSqliteStore(m_db);
        if (!st) return st.error().message;
        boost::asio::io_context io;
        BitcoindRpc rpc{io.get_executor(), m_ep};
        BitcoindNode node{rpc};
        Engine engine{io.get_executor(), node, **st, m_opts};
        if (auto r = engine.Load(); !r) return r.error();
        f(engine);
        return "";
    }

    std::vector<store::VaultRow> Rows()
    {
        auto st = store::OpenSqliteStore(m_db);
        if (!st) throw std::runtime_error(st.error().message);
        auto rows = (*st)->LoadVaults();
        if (!rows) throw std::runtime_error(rows.error().message);
        return *rows;
    }

    void Sql(const std::string& sql)
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(m_db.c_str(), &db), SQLITE_OK);
        char* err = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_free(err);
        sqlite3_close(db);
    }

    //! Registers three opvault vaults; returns their scriptPubKeys.
    std::vector<Bytes> RegisterThree()
    {
        std::vector<Bytes> spks;
        const std::string err = WithEngine([&](Engine& e) {
            for (uint8_t i = 0; i < 3; ++i) {
                auto v = MakeTestOpVault(TestKey(static_cast<uint8_t>(0x10 + i)).PubKey(), TestKey(0x30).PubKey(), P2TR(static_cast<uint8_t>(0x50 + i)), 10);
                auto r = e.RegisterVault(boost::json::parse(v.registration).as_object());
                ASSERT_TRUE(r) << r.error().message;
                spks.push_back(v.vault.ScriptPubKey());
            }
        });
        EXPECT_EQ(err, "");
        return spks;
    }

    std::vector<Bytes> LoadedSpks()
    {
        std::vector<Bytes> out;
        const std::string err = WithEngine([&](Engine& e) {
            for (uint32_t i = 0; i < e.registry().size(); ++i) out.push_back(e.registry().Details(i)->opvault->ScriptPubKey());
        });
        EXPECT_EQ(err, "");
        return out;
    }

    proc::TempDir m_dir{"vw-engine-load"};
    std::string m_db{(m_dir.path() / "vaultwatch.sqlite").string()};
    RpcEndpoint m_ep;
    EngineOptions m_opts;
};

TEST_F(engine_load_tests, RegistrationStoresTheCacheAndTheStartUsesIt)
{
    const auto spks = RegisterThree();
    for (const auto& row : Rows()) {
        auto id = vault::VaultId::Parse(row.vault_id);
        ASSERT_TRUE(id);
        EXPECT_TRUE(vault::DecodeOutputKeyCache(*id, row.output_key_cache)) << row.vault_id;
    }
    EXPECT_EQ(LoadedSpks(), spks);
}

//! The recovery_auth secret never sits in the registration JSON (which can be shown, logged or
//! exported): it has a column of its own, and the vault still signs its sweeps after a restart. A
//! database of version 6 has its secrets moved out by the migration.
TEST_F(engine_load_tests, TheRecoveryAuthSecretIsKeptOutOfTheRegistration)
{
    const auto tv = MakeAuthorizedTestOpVault(TestKey(0x21).PubKey(), TestKey(0x22).PubKey(), P2TR(0x23), 10, 0x24);
    const std::string secret = HexStr(Bytes(32, 0x24));
    ASSERT_NE(tv.registration.find(secret), std::string::npos);
    ASSERT_EQ(WithEngine([&](Engine& e) { ASSERT_TRUE(e.RegisterVault(boost::json::parse(tv.registration).as_object())); }), "");
    auto rows = Rows();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].registration.find(secret), std::string::npos) << rows[0].registration;
    EXPECT_EQ(rows[0].registration.find("recovery_auth"), std::string::npos) << rows[0].registration;
    EXPECT_EQ(rows[0].recovery_auth, secret);
    auto held = [&] {
        bool h = false;
        EXPECT_EQ(WithEngine([&](Engine& e) { h = e.registry().Get(0)->holds_recovery_auth && e.registry().Details(0)->recovery_auth.has_value(); }), "");
        return h;
    };
    EXPECT_TRUE(held()) << "loaded back with its secret";

    // A version 6 database: the secret inside the registration, as it was stored then.
    Sql("ALTER TABLE vaults DROP COLUMN compact; ALTER TABLE vaults ADD COLUMN registration TEXT NOT NULL DEFAULT ''; "
        "UPDATE vaults SET registration = (SELECT registration FROM registrations r WHERE r.idx = vaults.idx); DROP TABLE registrations; "
        "UPDATE vaults SET registration = json_set(registration, '$.recovery_auth', recovery_auth), recovery_auth = NULL;"
        "ALTER TABLE vaults DROP COLUMN recovery_auth; ALTER TABLE vaults DROP COLUMN family_id; ALTER TABLE vaults DROP COLUMN family_index; "
        "DROP TABLE families; UPDATE version SET version = 6;");
    EXPECT_TRUE(held()) << "migrated and loaded";
    rows = Rows();
    EXPECT_EQ(rows[0].registration.find(secret), std::string::npos) << rows[0].registration;
    EXPECT_EQ(rows[0].recovery_auth, secret);

    // A registration that holds a secret after the migration is corrupt. The start loads the
    // compact form; the check of the registrations names the row...
    Sql("UPDATE registrations SET registration = json_set(registration, '$.recovery_auth', (SELECT recovery_auth FROM vaults v WHERE v.idx = registrations.idx));");
    std::vector<std::string> problems;
    ASSERT_EQ(WithEngine([&](Engine& e) { ASSERT_TRUE(e.VerifyRegistrations(0, 10, problems)); }), "");
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("(row 0): registration holds a secret"), std::string::npos) << problems[0];
    EXPECT_EQ(problems[0].find(secret), std::string::npos) << "the problem does not echo the secret";
    // ...and a start from the registration itself (a row with no compact form) refuses it.
    Sql("UPDATE vaults SET compact = NULL");
    const std::string err = WithEngine([](Engine&) {});
    EXPECT_NE(err.find("registration holds a secret"), std::string::npos) << err;
    EXPECT_EQ(err.find(secret), std::string::npos) << "the error does not echo the secret";
}

TEST_F(engine_load_tests, RowsWithoutTheCacheAreLoadedAndBackfilled)
{
    const auto spks = RegisterThree();
    for (const auto& row : Rows()) EXPECT_FALSE(row.compact.empty()) << "written with the registration";
    // Rows of version 4 (no cache) and of version 9 (no compact form).
    Sql("UPDATE vaults SET output_key_cache = NULL, compact = NULL");
    for (const auto& row : Rows()) EXPECT_TRUE(row.output_key_cache.empty());
    EXPECT_EQ(LoadedSpks(), spks); // the tweak is redone
    for (const auto& row : Rows()) {
        EXPECT_EQ(row.output_key_cache.size(), 42u) << row.vault_id;
        EXPECT_TRUE(vault::DecodeCompactVault(*vault::VaultId::Parse(row.vault_id), row.compact)) << row.vault_id;
    }
    EXPECT_EQ(LoadedSpks(), spks);
}

TEST_F(engine_load_tests, ACompactFormThatIsNotItsVaultsIsReadFromTheRegistrationAndRewritten)
{
    const auto spks = RegisterThree();
    const auto before = Rows();
    // Another vault's compact form (a swap), then a flipped byte: the check binds each to its
    // vault id, so neither is used: the start reads those rows whole and writes them again.
    Sql("UPDATE vaults SET compact = (SELECT compact FROM vaults WHERE idx = 0) WHERE idx = 1");
    Bytes flipped = before[2].compact;
    flipped[3] ^= 0x01;
    Sql("UPDATE vaults SET compact = x'" + HexStr(flipped) + "' WHERE idx = 2");
    EXPECT_EQ(LoadedSpks(), spks);
    EXPECT_EQ(Rows(), before);
    std::vector<std::string> problems;
    ASSERT_EQ(WithEngine([&](Engine& e) { ASSERT_TRUE(e.VerifyRegistrations(0, 10, problems)); }), "");
    EXPECT_TRUE(problems.empty()) << problems.front();
    Sql("UPDATE vaults SET compact = 'text' WHERE idx = 2");
    EXPECT_NE(WithEngine([](Engine&) {}).find("compact is not a blob"), std::string::npos);
}

TEST_F(engine_load_tests, ACacheThatIsNotItsVaultsStopsTheStart)
{
    RegisterThree();
    // Rows with no compact form, read whole (the cache is read only then).
    Sql("UPDATE vaults SET compact = NULL");
    // Another vault's cache (a swap), then a flipped bit of the key: both refused by name.
    Sql("UPDATE vaults SET output_key_cache = (SELECT output_key_cache FROM vaults WHERE idx = 0) WHERE idx = 1");
    std::string err = WithEngine([](Engine&) {});
    EXPECT_NE(err.find("corrupt database"), std::string::npos) << err;
    EXPECT_NE(err.find("output_key_cache does not belong to the vault"), std::string::npos) << err;
    Sql("UPDATE vaults SET output_key_cache = NULL WHERE idx = 1");
    EXPECT_EQ(WithEngine([](Engine&) {}), "");
    Sql("UPDATE vaults SET compact = NULL");
    Bytes flipped = Rows()[2].output_key_cache;
    flipped[5] ^= 0x01;
    Sql("UPDATE vaults SET output_key_cache = x'" + HexStr(flipped) + "' WHERE idx = 2");
    err = WithEngine([](Engine&) {});
    EXPECT_NE(err.find("output_key_cache does not belong to the vault"), std::string::npos) << err;
    Sql("UPDATE vaults SET output_key_cache = 'text' WHERE idx = 2");
    err = WithEngine([](Engine&) {});
    EXPECT_NE(err.find("output_key_cache is not a blob"), std::string::npos) << err;
}

TEST_F(engine_load_tests, AStoredInternalKeyThatChangedIsCaughtByTheVaultId)
{
    RegisterThree();
    // The cache skips the curve check of the internal key: the id recomputed from the content
    // is what catches a changed one.
    const auto rows = Rows();
    std::string reg = rows[0].registration;
    const auto at = reg.find("\"internal_key\":\"") + 16;
    reg[at] = reg[at] == '0' ? '1' : '0';
    Sql("UPDATE registrations SET registration = '" + reg + "' WHERE idx = 0");
    // The start loads the compact form; the check of the registrations catches it...
    std::vector<std::string> problems;
    ASSERT_EQ(WithEngine([&](Engine& e) { ASSERT_TRUE(e.VerifyRegistrations(0, 10, problems)); }), "");
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("(row 0): re-registers as"), std::string::npos) << problems[0];
    // ...and so does a start that reads the row whole.
    Sql("UPDATE vaults SET compact = NULL WHERE idx = 0");
    const std::string err = WithEngine([](Engine&) {});
    EXPECT_NE(err.find("re-registers as"), std::string::npos) << err;
}

TEST_F(engine_load_tests, ManyVaultsLoadOnEveryCoreAndTheFirstBadRowIsNamed)
{
    // Enough rows for the chunks to be prepared on several threads.
    constexpr size_t N = 3000;
    std::vector<Bytes> spks;
    const std::string err = WithEngine([&](Engine& e) {
        boost::json::array batch;
        for (size_t i = 0; i < N; ++i) {
            Bytes rspk = P2TR(0x50);
            rspk[2] = static_cast<uint8_t>(i);
            rspk[3] = static_cast<uint8_t>(i >> 8);
            auto v = MakeTestOpVault(TestKey(0x10).PubKey(), TestKey(0x30).PubKey(), rspk, 10);
            batch.push_back(boost::json::parse(v.registration));
            spks.push_back(v.vault.ScriptPubKey());
        }
        auto r = e.RegisterVaults(batch);
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(e.registry().size(), N);
    });
    ASSERT_EQ(err, "");
    EXPECT_EQ(LoadedSpks(), spks);
    // Two bad rows far apart: the check of the registrations names both; a start that reads the
    // rows whole (no compact forms, several threads) names the first.
    Sql("UPDATE registrations SET registration = '[]' WHERE idx IN (1700, 2900)");
    std::vector<std::string> problems;
    ASSERT_EQ(WithEngine([&](Engine& e) {
                  uint32_t from = 0;
                  while (from < N) from = *e.VerifyRegistrations(from, 256, problems);
              }),
              "");
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems[0].find("(row 1700): registration is not a JSON object"), std::string::npos) << problems[0];
    EXPECT_NE(problems[1].find("(row 2900)"), std::string::npos) << problems[1];
    Sql("UPDATE vaults SET compact = NULL");
    std::string bad = WithEngine([](Engine&) {});
    EXPECT_NE(bad.find("(row 1700): registration is not a JSON object"), std::string::npos) << bad;
    Sql("UPDATE registrations SET registration = '{' WHERE idx = 300");
    bad = WithEngine([](Engine&) {});
    EXPECT_NE(bad.find("(row 300)"), std::string::npos) << bad;
}

TEST_F(engine_load_tests, AMempoolNotificationAfterItsBlockDoesNotBringATransactionBack)
{
    // ZMQ and the RPC catch-up are not ordered: the "added to the mempool" of a deposit can come
    // after the block that confirmed it, even after the block that spent it. It must not put the
    // spent deposit back as a live, unconfirmed UTXO (the vault could never be recovered, and a
    // sweep would try to spend it).
    const auto v = MakeTestOpVault(TestKey(0x10).PubKey(), TestKey(0x30).PubKey(), P2TR(0x50), 10);
    const std::string err = WithEngine([&](Engine& e) {
        ASSERT_TRUE(e.RegisterVault(boost::json::parse(v.registration).as_object()));
        const Transaction deposit{Spend(OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, 7))), 0}, Amount{100'000}, v.vault.ScriptPubKey())};
        MutableTransaction thief = Spend(OutPoint{deposit.GetTxid(), 0}, Amount{90'000}, P2TR(0x66));
        thief.vin[0].witness = {Bytes(64, 1)}; // a key-path spend: unexpected
        auto block = [&](const Transaction& tx) {
            Block b;
            b.txs = {Transaction{Spend(OutPoint{}, Amount{0}, P2TR(0x01))}, tx};
            return b;
        };
        store::BlockBatch b1, b2;
        e.BlockConnected(block(deposit), 1, b1);
        ASSERT_EQ(e.registry().Get(0)->utxos.size(), 1u);
        e.BlockConnected(block(Transaction{thief}), 2, b2);
        ASSERT_TRUE(e.registry().Get(0)->utxos.empty());
        e.TxAddedToMempool(deposit); // late
        EXPECT_TRUE(e.registry().Get(0)->utxos.empty()) << "the spent deposit came back";
        // The same notification can also mean the node disconnected the block before we did: it
        // was kept, and once we disconnect too (the replay after it) the deposit is in the
        // mempool, unconfirmed, again.
        store::BlockBatch d2, d1;
        e.BlockDisconnected(BlockHash{}, 2, d2);
        e.BlockDisconnected(BlockHash{}, 1, d1);
        e.BatchCommitted(0);
        ASSERT_EQ(e.registry().Get(0)->utxos.size(), 1u) << "a disconnected block's transaction returns";
        EXPECT_FALSE(e.registry().Get(0)->utxos[0].height);
    });
    EXPECT_EQ(err, "");
}

TEST_F(engine_load_tests, AMassExitBlockIsPreparedOnEveryCoreAndACorruptRegistrationSpoilsOnlyItsVault)
{
    // 70 vaults, deposited, then all triggered in one block: enough for the engine to prepare the
    // block first (the trigger outputs' keys, the registrations) on every core. Two registrations
    // are corrupt in the store. BAD's recover leaf is authorized: its secret must be read, so it
    // cannot be matched, and nothing the look-ahead made is taken for it. REBUILT's vault is
    // rebuilt from its trigger's witness and memory, checked against its id and key: answered
    // without its row. Every other vault is answered.
    constexpr uint8_t N = 70, BAD = 5, REBUILT = 9;
    const auto trigger_key = TestKey(0x30);
    std::vector<TestOpVault> vs;
    for (uint8_t i = 0; i < N; ++i) {
        const auto internal = TestKey(static_cast<uint8_t>(0x80 + i)).PubKey();
        vs.push_back(i == BAD ? MakeAuthorizedTestOpVault(internal, trigger_key.PubKey(), P2TR(0x07), 10, 0x44)
                              : MakeTestOpVault(internal, trigger_key.PubKey(), P2TR(static_cast<uint8_t>(i % 2)), 10));
    }
    ASSERT_EQ(WithEngine([&](Engine& e) {
                  for (const auto& v : vs) ASSERT_TRUE(e.RegisterVault(boost::json::parse(v.registration).as_object()));
              }),
              "");
    for (const uint8_t i : {BAD, REBUILT}) Sql("UPDATE registrations SET registration = '{\"kind\":\"opvault\"}' WHERE idx = " + std::to_string(i));
    auto block = [](std::vector<Transaction> txs) {
        Block b;
        b.txs = {Transaction{Spend(OutPoint{}, Amount{0}, P2TR(0x01))}};
        for (auto& t : txs) b.txs.push_back(std::move(t));
        return b;
    };
    const std::string err = WithEngine([&](Engine& e) {
        std::vector<Transaction> deposits, triggers;
        for (uint8_t i = 0; i < N; ++i) deposits.emplace_back(Spend(OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, i))), 0}, Amount{100'000}, vs[i].vault.ScriptPubKey()));
        store::BlockBatch b1;
        e.BlockConnected(block(deposits), 1, b1);
        EXPECT_EQ(e.stats().trigger_keys_ahead, 0u) << "deposits spend nothing watched";
        e.BatchCommitted(1);
        for (uint8_t i = 0; i < N; ++i) {
            vault::TriggerRequest tr;
            tr.deposit = OutPoint{deposits[i].GetTxid(), 0};
            tr.deposit_value = Amount{100'000};
            tr.ctv_hash = crypto::Sha256Once(Bytes{i});
            auto t = vault::BuildTrigger(vs[i].vault, tr, trigger_key);
            ASSERT_TRUE(t) << t.error();
            triggers.emplace_back(*t);
        }
        store::BlockBatch b2;
        e.BlockConnected(block(triggers), 2, b2);
        EXPECT_FALSE(b2.refused) << "a corrupt registration does not hold the block back";
        EXPECT_EQ(e.stats().trigger_keys_ahead, N) << "every trigger output's key was computed ahead";
        EXPECT_EQ(e.registry().DetailsRebuilt(), N - 1u) << "every vault but the authorized one, from its trigger";
        for (uint8_t i = 0; i < N; ++i) {
            const auto state = e.registry().Get(i)->state;
            if (i == BAD) {
                EXPECT_NE(state, vault::VaultState::Recovering) << "matched from a registration the store does not hold";
            } else {
                EXPECT_EQ(state, vault::VaultState::Recovering) << "vault " << int(i);
            }
        }
        // The sweeps planned with the block take every trigger output but the corrupt vault's.
        std::set<OutPoint> swept;
        for (const auto& r : b2.state.recoveries) {
            auto tx = DecodeTransaction(r.tx);
            ASSERT_TRUE(tx);
            for (const auto& in : tx->vin()) swept.insert(in.prevout);
        }
        for (uint8_t i = 0; i < N; ++i) EXPECT_EQ(swept.contains(OutPoint{triggers[i].GetTxid(), 0}), i != BAD) << "vault " << int(i);
    });
    EXPECT_EQ(err, "");
}

} // namespace
} // namespace vw::daemon
