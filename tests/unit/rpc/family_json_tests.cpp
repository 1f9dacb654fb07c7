// opvault-demo's config.json as the wallet wrote it (tests/data/opvault-demo): the family it
// stands for, and the recovery-auth secret of its phrase.
#include "rpc/family_json.h"

#include "unit/util/test_data.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace vw::rpc {
namespace {
namespace json = boost::json;

TEST(family_json_tests, EveryRecordedConfigGivesItsWalletsFamily)
{
    const auto w = json::parse(test::ReadTestDataText("opvault-demo/wallets.json"));
    for (const auto& wallet : w.at("wallets").as_array()) {
        SCOPED_TRACE(std::string(wallet.at("name").as_string()));
        // The file exactly as written, and its "config" object alone.
        for (const json::value& file : {json::parse(std::string(wallet.at("config_json_text").as_string())), wallet.at("config_json").at("config")}) {
            auto p = ParseOpvaultDemoConfig(file);
            ASSERT_TRUE(p) << p.error();
            EXPECT_EQ(HexStr(p->family.recovery_spk), wallet.at("recovery").at("recovery_spk_hex").as_string());
            EXPECT_EQ(HexStr(p->recoveryauth_pubkey.span()), wallet.at("recoveryauth").at("pubkey_xonly").as_string());
            EXPECT_EQ(p->birthday_height, wallet.at("config_json").at("config").at("birthday_height").to_number<int>());
        }
    }
}

TEST(family_json_tests, ThePhraseGivesTheRecordedSecret)
{
    // 3,000,000 PBKDF2 rounds: one wallet is enough.
    const auto w = json::parse(test::ReadTestDataText("opvault-demo/wallets.json"));
    const auto& ra = w.at("wallets").as_array().at(0).at("recoveryauth");
    EXPECT_EQ(HexStr(OpvaultDemoRecoveryAuthSecret(std::string(ra.at("phrase").as_string()))), ra.at("secret").as_string());
}

TEST(family_json_tests, ABrokenConfigNamesTheField)
{
    const auto w = json::parse(test::ReadTestDataText("opvault-demo/wallets.json"));
    const json::object good = w.at("wallets").as_array().at(0).at("config_json").at("config").as_object();
    auto without = [&](const char* k) {
        json::object o = good;
        o.erase(k);
        return json::value(o);
    };
    auto with = [&](const char* k, json::value v) {
        json::object o = good;
        o[k] = std::move(v);
        return json::value(o);
    };
    const std::pair<json::value, std::string> cases[] = {
        {without("recovery_pubkey"), "config.recovery_pubkey"},
        {without("recoveryauth_pubkey"), "config.recoveryauth_pubkey"},
        {without("spend_delay"), "config.spend_delay"},
        {without("trigger_xpub"), "config.trigger_xpub"},
        {with("spend_delay", 0), "spend_delay"},
        {with("trigger_xpub", "xpubnope"), "trigger_xpub"},
        {with("trigger_xpub_path_prefix", "m/0'"), "hardened"},
        {with("recovery_pubkey", json::object{{"__hex", std::string(64, 'f')}}), "not a 32-byte x-only public key"},
        {with("_class", "WalletMetadata"), "VaultConfig"},
        {json::value("a string"), "JSON object"},
    };
    for (const auto& [file, why] : cases) {
        auto r = ParseOpvaultDemoConfig(file);
        ASSERT_FALSE(r) << json::serialize(file);
        EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
    }
}

} // namespace
} // namespace vw::rpc
