#pragma once
// Shared helpers for the OP_VAULT tests: load tests/data/testvectors/opvault-regtest.json at run time
// and turn its records into library types. Nothing here hard-codes vector data.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "script/taproot.h"
#include "util/hex.h"
#include "vault/opvault.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace vw::vault::testutil {

namespace json = boost::json;

inline const json::value& Vectors()
{
    static const json::value v = [] {
        const std::string path = std::string(VW_TEST_DATA_DIR) + "/testvectors/opvault-regtest.json";
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        return json::parse(ss.str());
    }();
    return v;
}

inline std::string Str(const json::value& v) { return std::string(v.as_string()); }
inline Bytes H(const json::value& v)
{
    auto b = ParseHex(Str(v));
    EXPECT_TRUE(b.has_value()) << Str(v);
    return b.value_or(Bytes{});
}
inline Uint256 U(const json::value& v) { return Uint256::FromSpan(H(v)); }
inline int64_t I(const json::value& v) { return v.to_number<int64_t>(); }

inline crypto::XOnlyPubKey XOnly(const json::value& v)
{
    auto k = crypto::XOnlyPubKey::Parse(H(v));
    EXPECT_TRUE(k.has_value()) << Str(v);
    return k.value(); // throws (a test failure) on a bad key
}

inline Transaction Tx(const json::value& hex)
{
    auto t = DecodeTransactionHex(Str(hex));
    EXPECT_TRUE(t.has_value());
    return std::move(*t);
}

inline std::vector<TxOut> Prevouts(const json::value& arr)
{
    std::vector<TxOut> r;
    for (const auto& p : arr.as_array()) r.push_back(TxOut{Amount{I(p.at("value_sats"))}, H(p.at("scriptPubKey"))});
    return r;
}

inline OutPoint Outpoint(const json::value& txid, const json::value& n)
{
    return OutPoint{*Txid::FromHex(Str(txid)), static_cast<uint32_t>(I(n))};
}

//! The operator's view of a vault record: keys, delay and tree shape. Leaf scripts are rebuilt
//! from keys with MakeRecoverLeaf/MakeTriggerLeaf (the record's scripts are only compared).
inline VaultSpec SpecFromRecord(const json::value& rec)
{
    const auto& o = rec.as_object();
    const crypto::XOnlyPubKey internal = XOnly(o.at("internal_key_xonly"));
    // recovery_spk = key-path-only P2TR of the recovery key.
    const crypto::XOnlyPubKey rkey = XOnly(o.at("recovery_key").at("xonly"));
    const Bytes recovery_spk = taproot::P2TRScript(taproot::OutputKey(rkey, std::nullopt)->xonly);
    std::optional<crypto::XOnlyPubKey> auth;
    if (!o.at("recovery_auth_key").is_null()) auth = XOnly(o.at("recovery_auth_key").at("xonly"));
    const crypto::XOnlyPubKey tkey = XOnly(o.at("trigger_key").at("xonly"));
    const int64_t delay = I(o.at("spend_delay"));
    std::vector<taproot::Leaf> leaves;
    for (const auto& l : o.at("leaves").as_array()) {
        taproot::Leaf leaf;
        leaf.depth = static_cast<int>(I(l.at("depth")));
        leaf.version = static_cast<uint8_t>(I(l.at("leaf_version")));
        const std::string name = Str(l.at("name"));
        if (name == "recover") leaf.script = MakeRecoverLeaf(RecoverySpkHash(recovery_spk), auth);
        else if (name == "trigger") leaf.script = MakeTriggerLeaf(tkey, delay);
        else ADD_FAILURE() << "unknown leaf name " << name;
        leaves.push_back(std::move(leaf));
    }
    return VaultSpec{internal, std::move(leaves), recovery_spk, auth};
}

inline Vault VaultFromRecord(const json::value& rec)
{
    auto v = Vault::FromSpec(SpecFromRecord(rec));
    EXPECT_TRUE(v.has_value()) << (v ? "" : v.error());
    return std::move(*v);
}

inline const json::value* FindVault(const json::value& scenario, const std::string& id)
{
    for (const auto& v : scenario.at("vaults").as_array()) {
        if (Str(v.at("vault_id")) == id) return &v;
    }
    return nullptr;
}

inline const json::value* FindStepByTxid(const json::value& scenario, const std::string& txid)
{
    for (const auto& s : scenario.at("steps").as_array()) {
        if (Str(s.at("txid")) == txid) return &s;
    }
    return nullptr;
}

inline const json::value* FindScenario(const std::string& id)
{
    for (const auto& s : Vectors().at("scenarios").as_array()) {
        if (Str(s.at("id")) == id) return &s;
    }
    return nullptr;
}

//! Returns: (leaf script, control block) of a script-path witness, annex stripped.
inline std::pair<Bytes, Bytes> StripAndSplit(std::vector<Bytes> w)
{
    if (w.size() >= 2 && !w.back().empty() && w.back()[0] == taproot::ANNEX_TAG) w.pop_back();
    if (w.size() < 2) return {};
    return {w[w.size() - 2], w[w.size() - 1]};
}

} // namespace vw::vault::testutil
