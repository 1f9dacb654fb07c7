// Vault families against the real wallet: tests/data/opvault-demo/wallets.json was recorded by
// running jamesob/opvault-demo's own code (its README says how). For every recorded wallet, the
// family made from its config.json derives exactly the wallet's vaults: the leaves, the internal
// key and the scriptPubKey of each recorded index, and the scriptPubKeys of indexes 0..299 (past
// the wallet's own 200-address window).
#include "vault/family.h"

#include "util/descriptor_checksum.h"
#include "util/hex.h"
#include "unit/util/test_data.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace vw::vault {
namespace {
namespace json = boost::json;

json::value Wallets() { return json::parse(test::ReadTestDataText("opvault-demo/wallets.json")); }

crypto::XOnlyPubKey Key(const json::value& hexobj)
{
    auto b = ParseHex(std::string(hexobj.at("__hex").as_string()));
    return *crypto::XOnlyPubKey::Parse(*b);
}

FamilySpec FamilyOf(const json::value& wallet)
{
    const auto& c = wallet.at("config_json").at("config");
    auto f = OpvaultDemoFamily(Key(c.at("recovery_pubkey")), Key(c.at("recoveryauth_pubkey")), c.at("spend_delay").to_number<int64_t>(),
                               std::string(c.at("trigger_xpub").as_string()), std::string(c.at("trigger_xpub_path_prefix").as_string()));
    if (!f) throw std::runtime_error(f.error());
    return *f;
}

Bytes Spk(const FamilySpec& f, uint32_t i)
{
    auto spec = MemberSpec(f, i);
    if (!spec) throw std::runtime_error(spec.error());
    auto v = Vault::FromSpec(*spec);
    if (!v) throw std::runtime_error(v.error());
    return v->ScriptPubKey();
}

TEST(family_tests, TheFamilyOfEachRecordedWalletDerivesExactlyItsVaults)
{
    const auto w = Wallets();
    size_t wallets = 0, members = 0;
    for (const auto& wallet : w.at("wallets").as_array()) {
        SCOPED_TRACE(std::string(wallet.at("name").as_string()));
        const FamilySpec f = FamilyOf(wallet);
        EXPECT_EQ(HexStr(f.recovery_spk), wallet.at("recovery").at("recovery_spk_hex").as_string());
        for (const auto& rec : wallet.at("vaults").as_array()) {
            const auto idx = static_cast<uint32_t>(rec.at("index").to_number<int64_t>());
            auto spec = MemberSpec(f, idx);
            ASSERT_TRUE(spec) << spec.error();
            EXPECT_EQ(HexStr(spec->internal_key.span()), rec.at("internal_key").as_string());
            ASSERT_EQ(spec->leaves.size(), 2u);
            EXPECT_EQ(HexStr(spec->leaves[0].script), rec.at("leaves").at("recover").at("script_hex").as_string()) << idx;
            EXPECT_EQ(HexStr(spec->leaves[1].script), rec.at("leaves").at("trigger").at("script_hex").as_string()) << idx;
            auto v = Vault::FromSpec(*spec);
            ASSERT_TRUE(v) << v.error();
            EXPECT_EQ(HexStr(v->ScriptPubKey()), rec.at("scriptPubKey_hex").as_string()) << idx;
            ++members;
        }
        const auto& window = wallet.at("window_scriptPubKeys");
        const auto first = static_cast<uint32_t>(window.at("first_index").to_number<int64_t>());
        const auto& spks = window.at("scriptPubKey_hex").as_array();
        for (size_t k = 0; k < spks.size(); ++k) {
            EXPECT_EQ(HexStr(Spk(f, first + static_cast<uint32_t>(k))), spks[k].as_string()) << "index " << first + k;
        }
        EXPECT_GE(spks.size(), 300u);
        ++wallets;
    }
    EXPECT_GE(wallets, 3u);
    EXPECT_GE(members, 30u);
}

TEST(family_tests, TheTextFormRoundTripsAndRefusesAnyTypo)
{
    const auto w = Wallets();
    for (const auto& wallet : w.at("wallets").as_array()) {
        const FamilySpec f = FamilyOf(wallet);
        const std::string text = FormatFamily(f);
        auto back = ParseFamily(text);
        ASSERT_TRUE(back) << text << ": " << back.error();
        EXPECT_EQ(*back, f);
        EXPECT_EQ(FormatFamily(*back), text);
        EXPECT_EQ(Spk(*back, 250), Spk(f, 250));
        // One character off anywhere (the key, the delay, the path): refused, never a different family.
        for (size_t i = 0; i < text.size(); i += 7) {
            std::string t = text;
            t[i] = t[i] == '1' ? '2' : '1';
            EXPECT_FALSE(ParseFamily(t)) << t;
        }
        EXPECT_FALSE(ParseFamily(text.substr(0, text.find('#')))) << "the checksum is required";
    }
}

TEST(family_tests, MalformedFamiliesSayWhy)
{
    const FamilySpec f = FamilyOf(Wallets().at("wallets").as_array().at(0));
    const std::string good = FormatFamily(f);
    const std::string body = good.substr(0, good.find('#'));
    auto with = [](std::string b) { return *AddDescriptorChecksum(b); };
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string b = body;
        b.replace(b.find(from), from.size(), to);
        return with(b);
    };
    const std::string xpub = f.trigger_xpub.Encode();
    const std::pair<std::string, std::string> cases[] = {
        {replace("/*)", ")"), "must end in /*"},
        {replace(xpub + "/0/*", xpub + "/0'/*"), "hardened"},
        {replace("," + std::to_string(f.spend_delay) + ",", ",0,"), "spend delay"},
        {replace("," + std::to_string(f.spend_delay) + ",", ",70000,"), "spend delay"},
        {replace(xpub, "xpubnotakey"), "trigger xpub"},
        {with("wsh(" + body.substr(8)), "not an opvault"},
    };
    for (const auto& [text, why] : cases) {
        auto r = ParseFamily(text);
        ASSERT_FALSE(r) << text;
        EXPECT_NE(r.error().find(why), std::string::npos) << text << ": " << r.error();
    }
}

TEST(family_tests, AHardenedPrefixOrAnXprvIsRefusedAtImport)
{
    const auto w = Wallets();
    const auto& c = w.at("wallets").as_array().at(0).at("config_json").at("config");
    const std::string xpub{c.at("trigger_xpub").as_string()};
    auto r = OpvaultDemoFamily(Key(c.at("recovery_pubkey")), Key(c.at("recoveryauth_pubkey")), 10, xpub, "m/0'");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("hardened"), std::string::npos);
    const auto secrets = json::parse(std::string(w.at("wallets").as_array().at(0).at("secrets_json_text").as_string())).as_object();
    const std::string xprv{secrets.begin()->value().at("trigger_xpriv").as_string()};
    r = OpvaultDemoFamily(Key(c.at("recovery_pubkey")), Key(c.at("recoveryauth_pubkey")), 10, xprv, "m/0");
    ASSERT_FALSE(r) << "a private key is never taken in";
    EXPECT_NE(r.error().find("not an extended public key"), std::string::npos) << r.error();
}

} // namespace
} // namespace vw::vault
