// The vault RPC contract's JSON mapping: registervault parameters for both kinds (opvault specs
// from tests/data/testvectors/opvault-regtest.json, read at run time; presigned vaults from synthetic
// transactions), the stored canonical form and its round trip, result shapes, approvals, policies,
// and a table of refused inputs with the message each must give.

#include "rpc/vault_json.h"
#include "util/serialize.h"

#include "unit/vault/opvault_test_util.h"
#include "util/hex.h"
#include "vault/registry.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <functional>
#include <stdexcept>

namespace vw::rpc {
namespace {

namespace json = boost::json;
using namespace vault::testutil;

const json::object& Rec(const std::string& scenario, size_t i)
{
    const json::value* sc = FindScenario(scenario);
    if (!sc) throw std::runtime_error("no scenario " + scenario); // a test failure
    return sc->at("vaults").as_array().at(i).as_object();
}

//! registervault parameters for a vector record, leaves copied verbatim (scripts as recorded).
json::object OpVaultParams(const json::object& rec, bool with_secret = true)
{
    json::object p;
    p["kind"] = "opvault";
    p["label"] = rec.at("vault_id");
    p["internal_key"] = rec.at("internal_key_xonly");
    json::array leaves;
    for (const auto& l : rec.at("leaves").as_array()) {
        json::object lo;
        lo["script"] = l.at("script");
        lo["depth"] = l.at("depth");
        lo["leaf_version"] = l.at("leaf_version");
        leaves.emplace_back(std::move(lo));
    }
    p["leaves"] = std::move(leaves);
    p["recovery_script_pubkey"] = rec.at("recovery_spk");
    if (with_secret && !rec.at("recovery_auth_key").is_null()) p["recovery_auth"] = rec.at("recovery_auth_key").at("secret");
    return p;
}

// --- synthetic presigned vaults (as in tests/unit/vault/presigned_tests.cpp) ------------------

//! A txid with distinct bytes, so that display and serialization order differ visibly.
Txid T(uint8_t b)
{
    Uint256 u;
    for (size_t i = 0; i < 32; ++i) u.bytes[i] = static_cast<uint8_t>(b + i);
    return Txid::FromUint256(u);
}

std::string Spend(std::vector<OutPoint> ins, int64_t out_value, bool signed_inputs = true)
{
    MutableTransaction m;
    for (const auto& o : ins) {
        TxIn in;
        in.prevout = o;
        in.sequence = 0xfffffffd;
        if (signed_inputs) in.witness = {Bytes(64, 0x11)};
        m.vin.push_back(in);
    }
    Bytes spk{0x51, 0x20};
    for (uint8_t i = 1; i <= 32; ++i) spk.push_back(i);
    m.vout.push_back({Amount{out_value}, spk});
    return HexStr(SerializeTransaction(m));
}

json::object OutPointObj(const Txid& t, uint32_t n)
{
    json::object o;
    o["txid"] = t.ToString();
    o["vout"] = n;
    return o;
}

json::object PresignedParams()
{
    json::object p;
    p["kind"] = "presigned";
    p["label"] = "cold storage #2";
    p["birth_height"] = 800000;
    json::object pol;
    pol["mode"] = "delayed";
    pol["grace_blocks"] = 6;
    p["policy"] = std::move(pol);
    p["watch_outpoints"] = json::array{OutPointObj(T(1), 0), OutPointObj(T(1), 3)};
    json::object trig;
    trig["txid"] = T(2).ToString();
    trig["spend_delay"] = 144;
    trig["recovery_txs"] = json::array{Spend({{T(2), 0}}, 90'000), Spend({{T(2), 0}}, 99'000)};
    json::object trig2;
    trig2["txid"] = T(5).ToString();
    trig2["spend_delay"] = 72;
    trig2["recovery_txs"] = json::array{Spend({{T(5), 1}}, 50'000)};
    p["triggers"] = json::array{std::move(trig), std::move(trig2)};
    p["emergency_txs"] = json::array{Spend({{T(1), 0}, {T(1), 3}}, 95'000)};
    return p;
}

const vault::VaultRecord& Added(vault::Registry& r, Registration reg)
{
    auto a = AddToRegistry(r, std::move(reg));
    if (!a) throw std::runtime_error("registry refused: " + a.error().message);
    return *r.Get(a->index);
}

const vault::VaultDetails& D(const vault::Registry& r, const vault::VaultRecord& rec) { return *r.Details(*r.Find(rec.id)); }

// --- opvault ----------------------------------------------------------------------------------

TEST(vault_json_tests, OpVaultFromVectorsRegistersWithTheVectorsScriptAndAddress)
{
    size_t checked = 0;
    for (const char* scenario : {"A-none-withdrawal", "A-checksig-withdrawal", "A-checksig-batch-recovery"}) {
        const json::value* sc = FindScenario(scenario);
        ASSERT_NE(sc, nullptr) << scenario;
        vault::Registry registry;
        for (const auto& rv : sc->at("vaults").as_array()) {
            const json::object& rec = rv.as_object();
            auto parsed = ParseRegisterVault(OpVaultParams(rec));
            ASSERT_TRUE(parsed) << parsed.error();
            EXPECT_EQ(KindOf(*parsed), vault::VaultKind::OpVault);
            // The same id as the spec the vault tests build from the keys.
            EXPECT_EQ(RegistrationId(*parsed), vault::ComputeVaultId(SpecFromRecord(rv)));
            const auto& op = std::get<vault::OpVaultRegistration>(*parsed);
            EXPECT_EQ(op.label, Str(rec.at("vault_id")));
            EXPECT_EQ(op.recovery_auth.has_value(), !rec.at("recovery_auth_key").is_null());
            EXPECT_EQ(op.spec.recovery_auth_key.has_value(), !rec.at("recovery_auth_key").is_null());

            const vault::VaultRecord& vr = Added(registry, std::move(*parsed));
            const json::object d = VaultDetailJson(vr, D(registry, vr), "bcrt");
            EXPECT_EQ(d.at("vault_id").as_string(), vr.id.str());
            EXPECT_EQ(d.at("kind").as_string(), "opvault");
            EXPECT_EQ(d.at("state").as_string(), "active");
            EXPECT_EQ(d.at("script_pubkey"), rec.at("vault_spk"));
            EXPECT_EQ(d.at("address"), rec.at("vault_address"));
            EXPECT_EQ(d.at("internal_key"), rec.at("internal_key_xonly"));
            EXPECT_EQ(d.at("recovery_script_pubkey"), rec.at("recovery_spk"));
            EXPECT_EQ(d.at("recovery_address"), rec.at("recovery_address"));
            EXPECT_EQ(d.at("recovery_spk_hash"), rec.at("recovery_spk_hash"));
            EXPECT_EQ(d.at("spend_delay").as_int64(), I(rec.at("spend_delay")));
            EXPECT_EQ(d.at("spend_delays"), json::value(json::array{rec.at("spend_delay")}));
            EXPECT_EQ(d.at("authorized_recovery").as_bool(), !rec.at("recovery_auth_key").is_null());
            EXPECT_EQ(d.at("recovery_auth_held").as_bool(), !rec.at("recovery_auth_key").is_null());
            const auto& leaves = d.at("leaves").as_array();
            ASSERT_EQ(leaves.size(), rec.at("leaves").as_array().size());
            for (size_t i = 0; i < leaves.size(); ++i) {
                const auto& want = rec.at("leaves").as_array()[i];
                EXPECT_EQ(leaves[i].at("tapleaf_hash"), want.at("tapleaf_hash"));
                EXPECT_EQ(leaves[i].at("role"), want.at("name"));
                EXPECT_EQ(leaves[i].at("script"), want.at("script"));
            }
            EXPECT_TRUE(d.at("utxos").as_array().empty());
            EXPECT_TRUE(d.at("approvals").as_array().empty());
            EXPECT_FALSE(d.contains("recovery_auth"));
            // The secret appears nowhere in the result, nor in the stored form without secrets.
            if (!rec.at("recovery_auth_key").is_null()) {
                const std::string secret = Str(rec.at("recovery_auth_key").at("secret"));
                EXPECT_EQ(json::serialize(d).find(secret), std::string::npos);
                EXPECT_EQ(json::serialize(VaultSummaryJson(vr)).find(secret), std::string::npos);
                EXPECT_EQ(json::serialize(ToJson(vr, D(registry, vr), false)).find(secret), std::string::npos);
                EXPECT_NE(json::serialize(ToJson(vr, D(registry, vr), true)).find(secret), std::string::npos);
            }

            const json::object s = VaultSummaryJson(vr);
            EXPECT_EQ(s.at("vault_id").as_string(), vr.id.str());
            EXPECT_EQ(s.at("label"), rec.at("vault_id"));
            EXPECT_EQ(s.at("policy"), json::value(json::object{{"mode", "recover"}, {"grace_blocks", 0}}));
            EXPECT_TRUE(s.at("birth_height").is_null());
            EXPECT_EQ(s.at("utxo_count").as_int64(), 0);
            ++checked;
        }
    }
    EXPECT_EQ(checked, 6u);
}

TEST(vault_json_tests, OpVaultStoredFormRoundTrips)
{
    for (const char* scenario : {"A-none-recover-from-vault", "A-checksig-recover-from-vault"}) {
        const json::object& rec = Rec(scenario, 0);
        json::object params = OpVaultParams(rec);
        params["birth_height"] = 123;
        params["policy"] = json::object{{"mode", "delayed"}, {"grace_blocks", 4}};
        auto parsed = ParseRegisterVault(params);
        ASSERT_TRUE(parsed) << parsed.error();
        const auto& a = std::get<vault::OpVaultRegistration>(*parsed);

        // Through text, as the store keeps it.
        const std::string stored = json::serialize(ToJson(*parsed, true));
        auto again = ParseRegisterVault(json::parse(stored).as_object());
        ASSERT_TRUE(again) << again.error();
        const auto& b = std::get<vault::OpVaultRegistration>(*again);
        EXPECT_EQ(RegistrationId(*again), RegistrationId(*parsed));
        EXPECT_EQ(b.label, a.label);
        EXPECT_EQ(b.policy.mode, vault::Mode::Delayed);
        EXPECT_EQ(b.policy.grace_blocks, 4);
        EXPECT_EQ(b.birth_height, std::optional<int>{123});
        ASSERT_EQ(b.recovery_auth.has_value(), a.recovery_auth.has_value());
        if (a.recovery_auth) {
            EXPECT_EQ(b.recovery_auth->Secret(), a.recovery_auth->Secret());
        }
        EXPECT_EQ(ToJson(*again, true), ToJson(*parsed, true));

        // Without the secret: same vault, nothing secret.
        const json::object pub = ToJson(*parsed, false);
        EXPECT_FALSE(pub.contains("recovery_auth"));
        auto watch_only = ParseRegisterVault(pub);
        ASSERT_TRUE(watch_only) << watch_only.error();
        EXPECT_EQ(RegistrationId(*watch_only), RegistrationId(*parsed));
        EXPECT_FALSE(std::get<vault::OpVaultRegistration>(*watch_only).recovery_auth.has_value());

        // From the registry's record (what the daemon re-stores after setpolicy etc.).
        vault::Registry registry;
        const vault::VaultRecord& vr = Added(registry, std::move(*again));
        EXPECT_EQ(ToJson(vr, D(registry, vr), true), ToJson(*parsed, true));
        EXPECT_EQ(RegistrationId(RegistrationFromRecord(vr, D(registry, vr))), vr.id);
    }
}

TEST(vault_json_tests, RegistryChecksWhatNeedsTheWholeVault)
{
    const json::object& none = Rec("A-none-withdrawal", 0);
    const json::object& auth = Rec("A-checksig-withdrawal", 0);
    const int64_t delay = I(none.at("spend_delay"));
    struct Case {
        const char* what;
        json::object params;
        vault::RegistryError code;
        const char* want;
    };
    std::vector<Case> cases;
    {
        json::object p = OpVaultParams(none);
        p["policy"] = json::object{{"mode", "delayed"}, {"grace_blocks", delay - 1}};
        cases.push_back({"grace too close to the delay", p, vault::RegistryError::UnsafePolicy, "grace_blocks="});
    }
    {
        json::object p = OpVaultParams(none);
        p["recovery_auth"] = auth.at("recovery_auth_key").at("secret");
        cases.push_back({"secret for an unauthorized leaf", p, vault::RegistryError::AuthKeyUnexpected, "needs no signature"});
    }
    {
        json::object p = OpVaultParams(auth);
        p["recovery_auth"] = none.at("trigger_key").at("secret");
        cases.push_back({"secret of another key", p, vault::RegistryError::AuthKeyMismatch, "not the secret"});
    }
    {
        json::object p = OpVaultParams(none);
        p["leaves"].as_array()[0].as_object()["depth"] = 0;
        cases.push_back({"depths not a tree", p, vault::RegistryError::InvalidVault, "invalid taptree"});
    }
    {
        json::object p = OpVaultParams(none);
        p["recovery_script_pubkey"] = "51";
        cases.push_back({"recovery sPK not the leaf's", p, vault::RegistryError::InvalidVault, "recovery sPK hash"});
    }
    {
        json::object p = OpVaultParams(none);
        p["leaves"].as_array()[0].as_object()["leaf_version"] = 0xc2;
        cases.push_back({"not tapscript", p, vault::RegistryError::InvalidVault, "not a tapscript leaf"});
    }
    for (auto& c : cases) {
        auto parsed = ParseRegisterVault(c.params);
        ASSERT_TRUE(parsed) << c.what << ": " << parsed.error();
        vault::Registry registry;
        auto added = AddToRegistry(registry, std::move(*parsed));
        ASSERT_FALSE(added) << c.what;
        EXPECT_EQ(added.error().code, c.code) << c.what;
        EXPECT_NE(added.error().message.find(c.want), std::string::npos) << c.what << ": got " << added.error().message;
    }
    // The largest safe grace period is accepted.
    json::object p = OpVaultParams(none);
    p["policy"] = json::object{{"mode", "delayed"}, {"grace_blocks", delay - vault::MIN_RECOVERY_WINDOW}};
    auto parsed = ParseRegisterVault(p);
    ASSERT_TRUE(parsed) << parsed.error();
    vault::Registry registry;
    EXPECT_TRUE(AddToRegistry(registry, std::move(*parsed)));
}

// --- presigned --------------------------------------------------------------------------------

TEST(vault_json_tests, PresignedRegistersAndShowsItsShape)
{
    auto parsed = ParseRegisterVault(PresignedParams());
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_EQ(KindOf(*parsed), vault::VaultKind::Presigned);
    const auto& p = std::get<vault::PresignedRegistration>(*parsed);
    // Txids are display order in JSON.
    ASSERT_EQ(p.vault.watch_outpoints.size(), 2u);
    EXPECT_EQ(p.vault.watch_outpoints[0], (OutPoint{T(1), 0}));
    EXPECT_EQ(p.vault.watch_outpoints[1], (OutPoint{T(1), 3}));
    ASSERT_EQ(p.vault.triggers.size(), 2u);
    EXPECT_EQ(p.vault.triggers[0].txid, T(2));
    EXPECT_EQ(p.vault.triggers[0].spend_delay, 144);
    EXPECT_EQ(p.label, "cold storage #2");
    EXPECT_EQ(p.birth_height, std::optional<int>{800000});
    EXPECT_EQ(p.policy.mode, vault::Mode::Delayed);
    EXPECT_EQ(p.policy.grace_blocks, 6);

    vault::Registry registry;
    const vault::VaultId id = RegistrationId(*parsed);
    const vault::VaultRecord& vr = Added(registry, std::move(*parsed));
    EXPECT_EQ(vr.id, id);
    const json::object d = VaultDetailJson(vr, D(registry, vr), "bc");
    EXPECT_EQ(d.at("kind").as_string(), "presigned");
    EXPECT_EQ(d.at("spend_delay").as_int64(), 72);
    EXPECT_EQ(d.at("birth_height").as_int64(), 800000);
    EXPECT_FALSE(d.contains("script_pubkey"));
    EXPECT_EQ(d.at("watch_outpoints"), json::value(json::array{OutPointObj(T(1), 0), OutPointObj(T(1), 3)}));
    const auto& trig = d.at("triggers").as_array();
    ASSERT_EQ(trig.size(), 2u);
    EXPECT_EQ(trig[0].at("txid").as_string(), T(2).ToString());
    EXPECT_EQ(trig[0].at("spend_delay").as_int64(), 144);
    EXPECT_EQ(trig[0].at("recovery_variants").as_int64(), 2);
    EXPECT_EQ(trig[1].at("recovery_variants").as_int64(), 1);
    EXPECT_EQ(d.at("emergency_tx_count").as_int64(), 1);
    const auto& utxos = d.at("utxos").as_array();
    ASSERT_EQ(utxos.size(), 2u);
    EXPECT_EQ(utxos[0].at("txid").as_string(), T(1).ToString());
    EXPECT_EQ(utxos[0].at("vout").as_int64(), 0);
    EXPECT_EQ(utxos[0].at("role").as_string(), "watched");
    EXPECT_TRUE(utxos[0].at("amount").is_null()); // registered without a value
    EXPECT_TRUE(utxos[0].at("height").is_null());
    EXPECT_TRUE(utxos[0].at("spent_by").is_null());
    EXPECT_EQ(VaultSummaryJson(vr).at("utxo_count").as_int64(), 2);
}

//! A finalized PSBT of tx (BIP-174: the unsigned transaction, each input's final scriptSig and
//! witness), in base64, as a PSBT-based wallet hands it over; finalized = false leaves input 0 bare.
std::string FinalizedPsbt(const Transaction& tx, bool finalized = true)
{
    MutableTransaction bare = tx.mutable_copy();
    for (auto& in : bare.vin) {
        in.script_sig.clear();
        in.witness.clear();
    }
    Bytes out{'p', 's', 'b', 't', 0xff};
    Writer w{out};
    w.CompactSize(1).Raw(Bytes{0x00}).VarBytes(SerializeTransaction(bare, /*with_witness=*/false)).CompactSize(0);
    for (size_t i = 0; i < tx.vin().size(); ++i) {
        const auto& in = tx.vin()[i];
        if (finalized || i > 0) {
            if (!in.script_sig.empty()) w.CompactSize(1).Raw(Bytes{0x07}).VarBytes(in.script_sig);
            if (!in.witness.empty()) {
                Bytes stack;
                Writer sw{stack};
                sw.CompactSize(in.witness.size());
                for (const auto& item : in.witness) sw.VarBytes(item);
                w.CompactSize(1).Raw(Bytes{0x08}).VarBytes(stack);
            }
        }
        w.CompactSize(0);
    }
    for (size_t i = 0; i < tx.vout().size(); ++i) w.CompactSize(0);
    std::string b64(4 * ((out.size() + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), out.data(), static_cast<int>(out.size()));
    return b64;
}

TEST(vault_json_tests, APresignedTransactionMayComeAsAFinalizedPsbt)
{
    // The same vault whether its recovery comes as raw hex or as the PSBT a wallet exported; it is
    // stored as raw hex.
    const json::object hex = PresignedParams();
    json::object psbt = hex;
    auto& rtx = psbt["triggers"].as_array()[0].as_object()["recovery_txs"].as_array()[0];
    const auto tx = DecodeTransactionHex(std::string(rtx.as_string()));
    ASSERT_TRUE(tx);
    rtx = FinalizedPsbt(*tx);
    auto a = ParseRegisterVault(hex);
    auto b = ParseRegisterVault(psbt);
    ASSERT_TRUE(a) << a.error();
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ(RegistrationId(*a), RegistrationId(*b));
    EXPECT_EQ(ToJson(*a, true), ToJson(*b, true));
    // A PSBT not finalized yet is refused, and the error says which input and what to do.
    rtx = FinalizedPsbt(*tx, /*finalized=*/false);
    auto c = ParseRegisterVault(psbt);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("triggers[0].recovery_txs[0]: a PSBT input 0 is not finalized"), std::string::npos) << c.error();
    EXPECT_NE(c.error().find("finalizepsbt"), std::string::npos);
    // A broken one says why.
    rtx = "cHNidP8BAA==";
    auto d = ParseRegisterVault(psbt);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("a PSBT that does not parse"), std::string::npos) << d.error();
}

TEST(vault_json_tests, PresignedStoredFormRoundTrips)
{
    json::object params = PresignedParams();
    auto parsed = ParseRegisterVault(params);
    ASSERT_TRUE(parsed) << parsed.error();
    const json::object stored = ToJson(*parsed, true);
    EXPECT_EQ(stored, ToJson(*parsed, false)); // nothing secret in a presigned vault
    auto again = ParseRegisterVault(json::parse(json::serialize(stored)).as_object());
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(RegistrationId(*again), RegistrationId(*parsed));
    const auto& a = std::get<vault::PresignedRegistration>(*parsed);
    const auto& b = std::get<vault::PresignedRegistration>(*again);
    EXPECT_EQ(b.label, a.label);
    EXPECT_EQ(b.birth_height, a.birth_height);
    EXPECT_EQ(b.policy.mode, a.policy.mode);
    EXPECT_EQ(b.policy.grace_blocks, a.policy.grace_blocks);
    EXPECT_EQ(ToJson(*again, true), stored);
    // The request's order does not change the id.
    std::swap(params["triggers"].as_array()[0], params["triggers"].as_array()[1]);
    std::swap(params["watch_outpoints"].as_array()[0], params["watch_outpoints"].as_array()[1]);
    auto reordered = ParseRegisterVault(params);
    ASSERT_TRUE(reordered) << reordered.error();
    EXPECT_EQ(RegistrationId(*reordered), RegistrationId(*parsed));
    // No emergency txs, no label, default policy: still round-trips.
    params = PresignedParams();
    params.erase("emergency_txs");
    params.erase("label");
    params.erase("policy");
    params.erase("birth_height");
    auto minimal = ParseRegisterVault(params);
    ASSERT_TRUE(minimal) << minimal.error();
    auto minimal2 = ParseRegisterVault(ToJson(*minimal, true));
    ASSERT_TRUE(minimal2) << minimal2.error();
    EXPECT_EQ(RegistrationId(*minimal2), RegistrationId(*minimal));
    EXPECT_NE(RegistrationId(*minimal), RegistrationId(*parsed));
}

// --- refused inputs ---------------------------------------------------------------------------

TEST(vault_json_tests, BadRegistrationsAreRefusedNamingTheField)
{
    const json::object opv = OpVaultParams(Rec("A-checksig-withdrawal", 0));
    const json::object pre = PresignedParams();
    struct Case {
        const json::object* base;
        const char* want; // a substring of the message
        std::function<void(json::object&)> mutate;
    };
    auto leaf = [](json::object& p, size_t i) -> json::object& { return p["leaves"].as_array()[i].as_object(); };
    auto trig = [](json::object& p, size_t i) -> json::object& { return p["triggers"].as_array()[i].as_object(); };
    const std::vector<Case> cases{
        // kind
        {&opv, "kind: missing", [](auto& p) { p.erase("kind"); }},
        {&opv, "kind: missing", [](auto& p) { p["kind"] = nullptr; }},
        {&opv, "kind: must be a string, got integer", [](auto& p) { p["kind"] = 1; }},
        {&opv, "kind: must be \"opvault\", \"presigned\" or \"ccv\"", [](auto& p) { p["kind"] = "opvolt"; }},
        // unknown fields
        {&opv, "unknown field \"lable\" for kind \"opvault\"", [](auto& p) { p["lable"] = "x"; }},
        {&opv, "unknown field \"watch_outpoints\" for kind \"opvault\"", [](auto& p) { p["watch_outpoints"] = json::array{}; }},
        {&pre, "unknown field \"internal_key\" for kind \"presigned\"", [](auto& p) { p["internal_key"] = "00"; }},
        {&opv, "unknown field \"a?b\"", [](auto& p) { p["a\nb"] = 1; }}, // sanitized in the message
        {&opv, "leaves[0]: unknown field \"scirpt\"", [&](auto& p) { leaf(p, 0)["scirpt"] = "51"; }},
        {&pre, "triggers[1]: unknown field \"delay\"", [&](auto& p) { trig(p, 1)["delay"] = 5; }},
        {&pre, "watch_outpoints[0]: unknown field \"n\"", [](auto& p) { p["watch_outpoints"].as_array()[0].as_object()["n"] = 0; }},
        {&opv, "policy: unknown field \"grace\"", [](auto& p) { p["policy"] = json::object{{"grace", 3}}; }},
        // common fields
        {&opv, "label: must be a string, got integer", [](auto& p) { p["label"] = 5; }},
        {&opv, "label: too long", [](auto& p) { p["label"] = std::string(MAX_LABEL_BYTES + 1, 'a'); }},
        {&opv, "label: must be UTF-8 text without control characters", [](auto& p) { p["label"] = "a\nb"; }},
        {&opv, "label: must be UTF-8 text without control characters", [](auto& p) { p["label"] = "\x1b[31mred"; }},
        {&opv, "label: must be UTF-8 text without control characters", [](auto& p) { p["label"] = "bad \xff byte"; }},
        {&opv, "label: must be UTF-8 text without control characters", [](auto& p) { p["label"] = "\xe2\x80\xae" "evil"; }},
        {&opv, "birth_height: must be an integer between 0 and 100000000, got -1", [](auto& p) { p["birth_height"] = -1; }},
        {&opv, "birth_height: must be an integer between 0 and 100000000, got string", [](auto& p) { p["birth_height"] = "5"; }},
        {&opv, "birth_height: must be an integer between 0 and 100000000, got number", [](auto& p) { p["birth_height"] = 5.0; }},
        {&opv, "birth_height: must be an integer between 0 and 100000000, got boolean", [](auto& p) { p["birth_height"] = true; }},
        {&opv, "birth_height: must be an integer", [](auto& p) { p["birth_height"] = UINT64_MAX; }},
        {&opv, "policy: must be an object, got string", [](auto& p) { p["policy"] = "recover"; }},
        {&opv, "policy.mode: must be \"recover\", \"delayed\" or \"alert\"", [](auto& p) { p["policy"] = json::object{{"mode", "panic"}}; }},
        {&opv, "policy.mode: must be a string, got integer", [](auto& p) { p["policy"] = json::object{{"mode", 1}}; }},
        {&opv, "policy: mode \"delayed\" needs grace_blocks >= 1", [](auto& p) { p["policy"] = json::object{{"mode", "delayed"}}; }},
        {&opv, "policy: grace_blocks is only meaningful with mode \"delayed\"",
         [](auto& p) { p["policy"] = json::object{{"grace_blocks", 3}}; }},
        {&opv, "policy.grace_blocks: must be an integer between 0 and 65532, got -1",
         [](auto& p) { p["policy"] = json::object{{"mode", "delayed"}, {"grace_blocks", -1}}; }},
        // opvault fields
        {&opv, "internal_key: missing (required for kind \"opvault\")", [](auto& p) { p.erase("internal_key"); }},
        {&opv, "internal_key: not hex", [](auto& p) { p["internal_key"] = std::string(64, 'z'); }},
        {&opv, "internal_key: odd number of hex digits", [](auto& p) { p["internal_key"] = std::string(63, 'a'); }},
        {&opv, "internal_key: must be an x-only public key (64 hex digits), got 62", [](auto& p) { p["internal_key"] = std::string(62, 'a'); }},
        {&opv, "internal_key: too long", [](auto& p) { p["internal_key"] = std::string(66, 'a'); }},
        {&opv, "internal_key: not a valid x-only public key",
         [](auto& p) { p["internal_key"] = "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34"; }},
        {&opv, "internal_key: must be a string, got array", [](auto& p) { p["internal_key"] = json::array{}; }},
        {&opv, "leaves: missing", [](auto& p) { p.erase("leaves"); }},
        {&opv, "leaves: must be an array, got object", [](auto& p) { p["leaves"] = json::object{}; }},
        {&opv, "leaves: must list at least 1 item", [](auto& p) { p["leaves"] = json::array{}; }},
        {&opv, "leaves: too many items (1001; at most 1000)",
         [](auto& p) { p["leaves"] = json::array(MAX_JSON_ARRAY_ITEMS + 1, json::object{{"script", "51"}, {"depth", 10}}); }},
        {&opv, "leaves[1]: must be an object, got string", [](auto& p) { p["leaves"].as_array()[1] = "51"; }},
        {&opv, "leaves[1].script: missing", [&](auto& p) { leaf(p, 1).erase("script"); }},
        {&opv, "leaves[1].script: not hex", [&](auto& p) { leaf(p, 1)["script"] = "xyz1"; }},
        {&opv, "leaves[1].script: odd number of hex digits", [&](auto& p) { leaf(p, 1)["script"] = "abc"; }},
        {&opv, "leaves[1].script: empty", [&](auto& p) { leaf(p, 1)["script"] = ""; }},
        {&opv, "leaves[1].script: must be a string, got integer", [&](auto& p) { leaf(p, 1)["script"] = 81; }},
        {&opv, "leaves[0].depth: missing", [&](auto& p) { leaf(p, 0).erase("depth"); }},
        {&opv, "leaves[0].depth: must be an integer between 0 and 128, got -1", [&](auto& p) { leaf(p, 0)["depth"] = -1; }},
        {&opv, "leaves[0].depth: must be an integer between 0 and 128, got 129", [&](auto& p) { leaf(p, 0)["depth"] = 129; }},
        {&opv, "leaves[0].depth: must be an integer between 0 and 128, got string", [&](auto& p) { leaf(p, 0)["depth"] = "1"; }},
        {&opv, "leaves[0].depth: must be an integer between 0 and 128, got number", [&](auto& p) { leaf(p, 0)["depth"] = 1.5; }},
        {&opv, "leaves[0].leaf_version: must be an even number", [&](auto& p) { leaf(p, 0)["leaf_version"] = 0xc1; }},
        {&opv, "leaves[0].leaf_version: must be an integer between 0 and 254", [&](auto& p) { leaf(p, 0)["leaf_version"] = 256; }},
        {&opv, "recovery_script_pubkey: missing", [](auto& p) { p.erase("recovery_script_pubkey"); }},
        {&opv, "recovery_script_pubkey: empty", [](auto& p) { p["recovery_script_pubkey"] = ""; }},
        {&opv, "recovery_script_pubkey: too long", [](auto& p) { p["recovery_script_pubkey"] = std::string(2 * MAX_SPK_BYTES + 2, 'a'); }},
        {&opv, "recovery_auth: must be a 32-byte secret key (64 hex digits)", [](auto& p) { p["recovery_auth"] = "abcd"; }},
        {&opv, "recovery_auth: must be a 32-byte secret key (64 hex digits), got integer", [](auto& p) { p["recovery_auth"] = 7; }},
        {&opv, "recovery_auth: not a valid secret key", [](auto& p) { p["recovery_auth"] = std::string(64, '0'); }},
        {&opv, "recovery_auth: not a valid secret key", [](auto& p) { p["recovery_auth"] = std::string(64, 'f'); }},
        // presigned fields
        {&pre, "watch_outpoints: missing (required for kind \"presigned\")", [](auto& p) { p.erase("watch_outpoints"); }},
        {&pre, "watch_outpoints: must list at least 1", [](auto& p) { p["watch_outpoints"] = json::array{}; }},
        {&pre, "watch_outpoints[0]: must be an object, got string", [](auto& p) { p["watch_outpoints"].as_array()[0] = "ab:0"; }},
        {&pre, "watch_outpoints[1].txid: missing", [](auto& p) { p["watch_outpoints"].as_array()[1].as_object().erase("txid"); }},
        {&pre, "watch_outpoints[1].txid: must be a txid (64 hex digits), got 4", [](auto& p) { p["watch_outpoints"].as_array()[1].as_object()["txid"] = "abcd"; }},
        {&pre, "watch_outpoints[1].vout: must be an integer between 0 and 4294967295, got -1",
         [](auto& p) { p["watch_outpoints"].as_array()[1].as_object()["vout"] = -1; }},
        {&pre, "watch_outpoints[1].vout: must be an integer between 0 and 4294967295, got 4294967296",
         [](auto& p) { p["watch_outpoints"].as_array()[1].as_object()["vout"] = 4294967296LL; }},
        {&pre, "twice", [](auto& p) { p["watch_outpoints"].as_array()[1] = p["watch_outpoints"].as_array()[0]; }},
        {&pre, "triggers: missing", [](auto& p) { p.erase("triggers"); }},
        {&pre, "triggers: must be an array, got object", [](auto& p) { p["triggers"] = json::object{}; }},
        {&pre, "triggers[0].txid: not hex", [&](auto& p) { trig(p, 0)["txid"] = std::string(64, 'x'); }},
        {&pre, "triggers[0].spend_delay: missing", [&](auto& p) { trig(p, 0).erase("spend_delay"); }},
        {&pre, "triggers[0].spend_delay: must be an integer between 1 and 65535, got 0", [&](auto& p) { trig(p, 0)["spend_delay"] = 0; }},
        {&pre, "triggers[0].spend_delay: must be an integer between 1 and 65535, got 70000",
         [&](auto& p) { trig(p, 0)["spend_delay"] = 70000; }},
        {&pre, "triggers[0].recovery_txs: must list at least 1", [&](auto& p) { trig(p, 0)["recovery_txs"] = json::array{}; }},
        {&pre, "triggers[0].recovery_txs[1]: not hex", [&](auto& p) { trig(p, 0)["recovery_txs"].as_array()[1] = "0g"; }},
        {&pre, "triggers[0].recovery_txs[1]: odd number of hex digits", [&](auto& p) { trig(p, 0)["recovery_txs"].as_array()[1] = "020"; }},
        {&pre, "triggers[0].recovery_txs[1]: too long",
         [&](auto& p) { trig(p, 0)["recovery_txs"].as_array()[1] = std::string(MAX_TX_HEX_CHARS + 2, '0'); }},
        {&pre, "recovery_txs[0]: not a valid transaction", [&](auto& p) { trig(p, 0)["recovery_txs"].as_array()[0] = "00"; }},
        {&pre, "spends no output of trigger", [&](auto& p) { trig(p, 0)["recovery_txs"].as_array()[0] = Spend({{T(9), 0}}, 1); }},
        {&pre, "emergency_txs: must be an array, got string", [](auto& p) { p["emergency_txs"] = "ab"; }},
        {&pre, "emergency_txs[0]: not hex", [](auto& p) { p["emergency_txs"].as_array()[0] = "hi"; }},
        {&pre, "emergency_txs: too many items",
         [](auto& p) { p["emergency_txs"] = json::array(MAX_JSON_ARRAY_ITEMS + 1, json::value(Spend({{T(1), 0}}, 1))); }},
    };
    for (const auto& c : cases) {
        json::object p = *c.base;
        c.mutate(p);
        auto r = ParseRegisterVault(p);
        ASSERT_FALSE(r) << c.want;
        EXPECT_NE(r.error().find(c.want), std::string::npos) << "want: " << c.want << "\n got: " << r.error();
    }
}

TEST(vault_json_tests, ErrorsNeverEchoTheSecret)
{
    json::object p = OpVaultParams(Rec("A-checksig-withdrawal", 0));
    const std::string secret = Str(p.at("recovery_auth"));
    for (std::string bad : {secret + "0", secret.substr(0, 62) + "zz", std::string(64, 'f')}) {
        p["recovery_auth"] = bad;
        auto r = ParseRegisterVault(p);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().find(bad.substr(0, 16)), std::string::npos) << r.error();
    }
    // A field name is echoed only sanitized and truncated.
    json::object q = OpVaultParams(Rec("A-none-withdrawal", 0));
    q[std::string(5000, 'k')] = 1;
    auto r = ParseRegisterVault(q);
    ASSERT_FALSE(r);
    EXPECT_LT(r.error().size(), 400u);
}

TEST(vault_json_tests, LabelsAndNullsThatAreFine)
{
    json::object p = OpVaultParams(Rec("A-none-withdrawal", 0));
    p["label"] = "Tresor \xc3\xa9t\xc3\xa9 \xe2\x82\xbf \xf0\x9f\x94\x92"; // UTF-8 text
    p["birth_height"] = nullptr;                                               // null = absent
    p["policy"] = nullptr;
    p["recovery_auth"] = nullptr;
    p["leaves"].as_array()[0].as_object().erase("leaf_version"); // default 0xc0
    auto r = ParseRegisterVault(p);
    ASSERT_TRUE(r) << r.error();
    const auto& o = std::get<vault::OpVaultRegistration>(*r);
    EXPECT_EQ(o.label, std::string(p.at("label").as_string()));
    EXPECT_FALSE(o.birth_height);
    EXPECT_EQ(o.policy.mode, vault::Mode::Recover);
    EXPECT_EQ(o.spec.leaves[0].version, 0xc0);
    p["label"] = std::string(MAX_LABEL_BYTES, 'x');
    EXPECT_TRUE(ParseRegisterVault(p));
    p["label"] = "";
    EXPECT_TRUE(ParseRegisterVault(p));
    p["birth_height"] = 0;
    EXPECT_TRUE(ParseRegisterVault(p));
}

// --- policies and approvals ---------------------------------------------------------------------

TEST(vault_json_tests, PolicyParsesAndPrints)
{
    struct Good {
        const char* text;
        vault::Mode mode;
        int grace;
    };
    for (const Good& g : {Good{R"({})", vault::Mode::Recover, 0}, Good{R"({"mode":"recover"})", vault::Mode::Recover, 0},
                          Good{R"({"mode":"alert","grace_blocks":0})", vault::Mode::Alert, 0},
                          Good{R"({"mode":"delayed","grace_blocks":6})", vault::Mode::Delayed, 6},
                          Good{R"({"mode":"delayed","grace_blocks":65532})", vault::Mode::Delayed, 65532}}) {
        auto p = ParsePolicy(json::parse(g.text));
        ASSERT_TRUE(p) << g.text << ": " << p.error();
        EXPECT_EQ(p->mode, g.mode) << g.text;
        EXPECT_EQ(p->grace_blocks, g.grace) << g.text;
        auto again = ParsePolicy(PolicyJson(*p));
        ASSERT_TRUE(again);
        EXPECT_EQ(again->mode, p->mode);
        EXPECT_EQ(again->grace_blocks, p->grace_blocks);
    }
    EXPECT_EQ(PolicyJson(vault::Policy{vault::Mode::Delayed, 6}), (json::object{{"mode", "delayed"}, {"grace_blocks", 6}}));
    for (const char* bad : {R"([])", R"("recover")", R"({"mode":"Recover"})", R"({"mode":"delayed","grace_blocks":65533})",
                            R"({"mode":"delayed","grace_blocks":2.5})", R"({"extra":1})"}) {
        auto p = ParsePolicy(json::parse(bad));
        ASSERT_FALSE(p) << bad;
        EXPECT_EQ(p.error().rfind("policy", 0), 0u) << p.error();
    }
}

TEST(vault_json_tests, ApprovalsKeepTheirByteOrder)
{
    // A CTV hash is the bytes as pushed: plain hex, kept as is.
    const std::string ctv = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
    auto a = ParseApproval(json::object{{"ctv_hash", ctv}, {"expiry_height", 900}});
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a->kind, vault::Approval::Kind::CtvHash);
    EXPECT_EQ(a->value.bytes[0], 0x01);
    EXPECT_EQ(a->value.Hex(), ctv);
    EXPECT_EQ(a->expiry_height, std::optional<int>{900});
    EXPECT_FALSE(a->revoked);
    EXPECT_EQ(ApprovalJson(*a),
              (json::object{{"kind", "ctv_hash"}, {"value", ctv}, {"expiry_height", 900}, {"revoked", false}}));

    // A trigger txid is display order, like every txid; the approval holds serialization order,
    // which is what a matched trigger's Txid::ToUint256() gives.
    const std::string txid = T(7).ToString();
    auto b = ParseApproval(json::object{{"trigger_txid", txid}});
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ(b->kind, vault::Approval::Kind::TriggerTxid);
    EXPECT_EQ(b->value, T(7).ToUint256());
    EXPECT_NE(b->value.Hex(), txid);
    EXPECT_FALSE(b->expiry_height);
    vault::TriggerFacts facts;
    facts.txid = T(7);
    EXPECT_TRUE(vault::ApprovalApplies(*b, facts, 100));
    b->revoked = true;
    EXPECT_EQ(ApprovalJson(*b),
              (json::object{{"kind", "trigger_txid"}, {"value", txid}, {"expiry_height", nullptr}, {"revoked", true}}));

    EXPECT_FALSE(CheckApprovalFor(vault::VaultKind::OpVault, *a));
    EXPECT_FALSE(CheckApprovalFor(vault::VaultKind::OpVault, *b));
    EXPECT_FALSE(CheckApprovalFor(vault::VaultKind::Presigned, *b));
    EXPECT_TRUE(CheckApprovalFor(vault::VaultKind::Presigned, *a));

    struct Bad {
        json::object o;
        const char* want;
    };
    const std::vector<Bad> bad{
        {json::object{}, "missing ctv_hash"},
        {json::object{{"expiry_height", 5}}, "missing ctv_hash"},
        {json::object{{"ctv_hash", ctv}, {"trigger_txid", txid}}, "not both"},
        {json::object{{"ctv_hash", "abcd"}}, "ctv_hash: must be a 32-byte CTV hash (64 hex digits)"},
        {json::object{{"ctv_hash", std::string(64, 'q')}}, "ctv_hash: not hex"},
        {json::object{{"trigger_txid", std::string(63, 'a')}}, "trigger_txid: odd number of hex digits"},
        {json::object{{"trigger_txid", 5}}, "trigger_txid: must be a string, got integer"},
        {json::object{{"ctv_hash", ctv}, {"expiry_height", -1}}, "expiry_height: must be an integer between 0 and"},
        {json::object{{"ctv_hash", ctv}, {"expiry_height", "10"}}, "expiry_height: must be an integer"},
        {json::object{{"ctv_hash", ctv}, {"vault_id", "v-0011223344556677"}}, "unknown field \"vault_id\""},
        {json::object{{"ctv_hash", ctv}, {"revoked", false}}, "unknown field \"revoked\""},
    };
    for (const auto& c : bad) {
        auto r = ParseApproval(c.o);
        ASSERT_FALSE(r) << c.want;
        EXPECT_NE(r.error().find(c.want), std::string::npos) << "want: " << c.want << "\n got: " << r.error();
    }
}

TEST(vault_json_tests, DetailShowsTrackedUtxosAndApprovals)
{
    const json::object& rec = Rec("A-none-withdrawal", 0);
    auto parsed = ParseRegisterVault(OpVaultParams(rec));
    ASSERT_TRUE(parsed) << parsed.error();
    vault::Registry registry;
    auto added = AddToRegistry(registry, std::move(*parsed));
    ASSERT_TRUE(added);
    const uint32_t i = added->index;
    const vault::VaultRecord& vr = *registry.Get(i);
    vault::TrackedUtxo dep;
    dep.outpoint = Outpoint(rec.at("vault_outpoint").at("txid"), rec.at("vault_outpoint").at("vout"));
    dep.amount = Amount{I(rec.at("amount_sats"))};
    dep.spk = registry.Details(i)->opvault->ScriptPubKey();
    dep.role = vault::UtxoRole::Deposit;
    dep.height = 101;
    ASSERT_TRUE(registry.TrackUtxo(i, dep));
    vault::TrackedUtxo trig;
    trig.outpoint = OutPoint{T(40), 1};
    trig.amount = Amount{5000};
    trig.role = vault::UtxoRole::Trigger;
    trig.spent_by = T(41);
    trig.trigger = vault::TriggerUtxoInfo{T(40), 19, Uint256::FromSpan(Bytes(32, 0xab)), std::nullopt, std::nullopt, std::nullopt};
    ASSERT_TRUE(registry.TrackUtxo(i, trig));
    auto appr = ParseApproval(json::object{{"trigger_txid", T(40).ToString()}, {"expiry_height", 200}});
    ASSERT_TRUE(appr);
    ASSERT_TRUE(registry.AddApproval(i, *appr));

    const json::object d = VaultDetailJson(*registry.Get(i), *registry.Details(i), "bcrt");
    const auto& utxos = d.at("utxos").as_array();
    ASSERT_EQ(utxos.size(), 2u);
    EXPECT_EQ(utxos[0].at("txid"), rec.at("vault_outpoint").at("txid"));
    EXPECT_EQ(utxos[0].at("vout"), rec.at("vault_outpoint").at("vout"));
    EXPECT_EQ(utxos[0].at("amount"), rec.at("amount_sats"));
    EXPECT_TRUE(utxos[0].at("amount").is_int64());
    EXPECT_EQ(utxos[0].at("role").as_string(), "deposit");
    EXPECT_EQ(utxos[0].at("height").as_int64(), 101);
    EXPECT_TRUE(utxos[0].at("spent_by").is_null());
    EXPECT_FALSE(utxos[0].as_object().contains("trigger_txid"));
    EXPECT_EQ(utxos[1].at("role").as_string(), "trigger");
    EXPECT_EQ(utxos[1].at("amount").as_int64(), 5000);
    EXPECT_TRUE(utxos[1].at("height").is_null());
    EXPECT_EQ(utxos[1].at("spent_by").as_string(), T(41).ToString());
    EXPECT_EQ(utxos[1].at("trigger_txid").as_string(), T(40).ToString());
    EXPECT_EQ(utxos[1].at("spend_delay").as_int64(), 19);
    EXPECT_EQ(utxos[1].at("ctv_hash").as_string(), HexStr(Bytes(32, 0xab)));
    const auto& approvals = d.at("approvals").as_array();
    ASSERT_EQ(approvals.size(), 1u);
    EXPECT_EQ(approvals[0], json::value(ApprovalJson(*appr)));
    EXPECT_EQ(approvals[0].at("value").as_string(), T(40).ToString());
    const json::object s = VaultSummaryJson(*registry.Get(i));
    EXPECT_EQ(s.at("utxo_count").as_int64(), 2);
    EXPECT_EQ(s.at("approval_count").as_int64(), 1);
}

TEST(vault_json_tests, ChainsMapToTheirHrp)
{
    EXPECT_EQ(HrpForChain("main"), std::optional<std::string_view>{"bc"});
    EXPECT_EQ(HrpForChain("test"), std::optional<std::string_view>{"tb"});
    EXPECT_EQ(HrpForChain("testnet4"), std::optional<std::string_view>{"tb"});
    EXPECT_EQ(HrpForChain("signet"), std::optional<std::string_view>{"tb"});
    EXPECT_EQ(HrpForChain("regtest"), std::optional<std::string_view>{"bcrt"});
    EXPECT_FALSE(HrpForChain("mainnet"));
    // The address follows the hrp.
    auto parsed = ParseRegisterVault(OpVaultParams(Rec("A-none-withdrawal", 0)));
    ASSERT_TRUE(parsed) << parsed.error();
    vault::Registry registry;
    const vault::VaultRecord& vr = Added(registry, std::move(*parsed));
    EXPECT_EQ(std::string(VaultDetailJson(vr, D(registry, vr), "bc").at("address").as_string()).rfind("bc1p", 0), 0u);
    EXPECT_EQ(std::string(VaultDetailJson(vr, D(registry, vr), "tb").at("address").as_string()).rfind("tb1p", 0), 0u);
}

} // namespace
} // namespace vw::rpc
