#pragma once
// The vaults the registry and firehose benchmarks register: N opvault vaults made from two keys,
// each with its own recovery scriptPubKey (so its own id, recover leaf and recovery group), and
// the rows RegisterVaults would write for them, made on every core (a store of 10,000,000 vaults
// in minutes instead of an hour of RPC calls).

#include "crypto/secp.h"
#include "crypto/sha256.h"
#include "rpc/vault_json.h"
#include "script/taproot.h"
#include "store/store.h"
#include "util/hex.h"
#include "vault/opvault.h"
#include "vault/registry.h"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>
#include <vector>

namespace vw::bench {

namespace json = boost::json;

// One internal key and trigger key for all (the per-vault tweak is still computed); the recovery
// scriptPubKey differs per vault, so every vault has its own id, recover leaf and recovery group.
struct Keys {
    crypto::KeyPair internal = *crypto::KeyPair::FromSecret(Bytes(32, 0x11));
    crypto::KeyPair trigger = *crypto::KeyPair::FromSecret(Bytes(32, 0x22));
    static constexpr int64_t DELAY = 144;
    Bytes RecoverySpk(size_t i) const
    {
        Bytes rspk{0x51, 0x20};
        Uint256 h = crypto::Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(&i), sizeof i});
        rspk.insert(rspk.end(), h.bytes.begin(), h.bytes.end());
        return rspk;
    }
    json::object Request(size_t i) const
    {
        const std::string trigger_leaf = HexStr(vault::MakeTriggerLeaf(trigger.PubKey(), DELAY));
        const Bytes rspk = RecoverySpk(i);
        const std::string recover_leaf = HexStr(vault::MakeRecoverLeaf(vault::RecoverySpkHash(rspk), std::nullopt));
        return json::object{{"kind", "opvault"},
                            {"internal_key", HexStr(internal.PubKey().span())},
                            {"leaves", json::array{json::object{{"script", recover_leaf}, {"depth", 1}},
                                                   json::object{{"script", trigger_leaf}, {"depth", 1}}}},
                            {"recovery_script_pubkey", HexStr(rspk)}};
    }
    vault::Vault VaultOf(size_t i) const
    {
        const Bytes rspk = RecoverySpk(i);
        vault::VaultSpec spec{internal.PubKey(), {}, rspk, std::nullopt};
        spec.leaves = {taproot::Leaf{vault::MakeRecoverLeaf(vault::RecoverySpkHash(rspk), std::nullopt), 1},
                       taproot::Leaf{vault::MakeTriggerLeaf(trigger.PubKey(), DELAY), 1}};
        return *vault::Vault::FromSpec(std::move(spec));
    }
};

//! The rows RegisterVaults writes for requests [0, n), made on every core and stored 10,000 per
//! transaction. Returns: false on any failure (said on stderr).
inline bool FillDirect(store::Store& st, const Keys& keys, size_t n)
{
    constexpr size_t BATCH = 10'000;
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (size_t from = 0; from < n; from += BATCH) {
        const size_t to = std::min(n, from + BATCH);
        store::StateChanges changes;
        changes.vaults.resize(to - from);
        std::atomic<bool> ok{true};
        auto work = [&](unsigned t) {
            for (size_t i = from + t; i < to && ok; i += threads) {
                auto parsed = rpc::ParseRegisterVault(keys.Request(i));
                if (!parsed) {
                    ok = false;
                    break;
                }
                json::object stored = rpc::ToJson(*parsed, /*include_secret=*/true);
                stored.erase("recovery_auth");
                auto p = rpc::PrepareRegistration(std::move(*parsed));
                if (!p) {
                    ok = false;
                    break;
                }
                store::VaultRow& row = changes.vaults[i - from];
                row.idx = static_cast<uint32_t>(i);
                row.vault_id = p->record.id.str();
                row.kind = "opvault";
                row.registration = json::serialize(stored);
                row.policy = json::serialize(rpc::PolicyJson(p->record.policy));
                row.created_at = 1'700'000'000;
                row.output_key_cache = vault::EncodeOutputKeyCache(p->record.id, p->details.opvault->OutputKey());
                row.compact = vault::EncodeCompactVault(*vault::CompactOf(p->record, p->details));
            }
        };
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
        for (auto& t : pool) t.join();
        if (!ok) {
            std::cerr << "cannot make the rows of vaults " << from << ".." << to << "\n";
            return false;
        }
        if (auto r = st.Apply(changes); !r) {
            std::cerr << r.error().message << "\n";
            return false;
        }
    }
    return true;
}

} // namespace vw::bench
