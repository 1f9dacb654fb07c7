#pragma once
// Shared by the matcher and planner tests: the vectors' scenarios registered into a Registry (as
// it was at any step), the invalid[] vectors, and a synthetic presigned vault.

#include "unit/vault/opvault_test_util.h"
#include "vault/planner.h"
#include "vault/registry.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace vw::vault::testutil {

//! The record at i (a test failure, not a crash, if there is none).
inline const VaultRecord& At(const Registry& r, uint32_t i)
{
    static const VaultRecord none{};
    const VaultRecord* p = r.Get(i);
    if (!p) {
        ADD_FAILURE() << "no vault " << i;
        return none;
    }
    return *p;
}
//! The opvault of vault i (its details, read if not held).
inline const Vault& Op(const Registry& r, uint32_t i)
{
    const VaultDetails* d = r.Details(i);
    if (!d || !d->opvault) throw std::runtime_error("vault " + std::to_string(i) + " has no opvault details");
    return *d->opvault;
}

struct Registered {
    Registry reg;
    std::map<std::string, uint32_t> idx; //!< record vault_id -> registry index (equal specs share one)
};

inline std::optional<crypto::KeyPair> AuthSecret(const json::value& rec)
{
    if (rec.at("recovery_auth_key").is_null()) return std::nullopt;
    return crypto::KeyPair::FromSecret(H(rec.at("recovery_auth_key").at("secret")));
}

inline void RegisterScenario(const json::value& sc, Registered& r)
{
    for (const auto& rec : sc.at("vaults").as_array()) {
        const std::string id = Str(rec.at("vault_id"));
        OpVaultRegistration reg{SpecFromRecord(rec), AuthSecret(rec), id, {}, std::nullopt, std::nullopt};
        auto a = r.reg.AddOpVault(std::move(reg));
        if (a) {
            r.idx[id] = a->index;
        } else {
            // Records with the same keys and delay (a revault record, two deposits to one sPK)
            // are one vault with several UTXOs.
            ASSERT_EQ(a.error().code, RegistryError::AlreadyRegistered) << id << ": " << a.error().message;
            ASSERT_TRUE(a.error().existing.has_value());
            r.idx[id] = *r.reg.Find(*a.error().existing);
        }
    }
}

//! The registry of an invalid[] vector's scenario as it was when the node tested the tx.
inline void RegistryAtTest(const json::value& inv, Registered& r)
{
    const json::value* sc = FindScenario(Str(inv.at("scenario")));
    ASSERT_NE(sc, nullptr);
    RegisterScenario(*sc, r);
    const int tested = static_cast<int>(I(inv.at("tested_at_height")));
    for (const auto& st : sc->at("steps").as_array()) {
        const int h = static_cast<int>(I(st.at("mined_height")));
        if (h > tested) break;
        ApplyEvents(r.reg, MatchTx(Tx(st.at("hex")), r.reg, h));
    }
}

inline const json::value& InvalidVector(std::string_view suffix)
{
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        const std::string id = Str(inv.at("id"));
        if (id.size() > suffix.size() && id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0) return inv;
    }
    throw std::runtime_error("no invalid vector ending in " + std::string(suffix));
}

// --- presigned (synthetic) ----------------------------------------------------------------------

inline Txid T(uint8_t b)
{
    Uint256 u;
    u.bytes.fill(b);
    return Txid::FromUint256(u);
}

inline MutableTransaction Spend(std::vector<OutPoint> ins, std::vector<int64_t> outs, uint8_t tag)
{
    MutableTransaction m;
    for (const auto& o : ins) {
        TxIn in;
        in.prevout = o;
        in.sequence = 0xfffffffd;
        in.witness = {Bytes(64, tag)};
        m.vin.push_back(in);
    }
    for (auto v : outs) m.vout.push_back({Amount{v}, Bytes{0x00, 0x14, tag, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}});
    return m;
}

struct PresignedFixture {
    OutPoint watched{T(1), 0};
    MutableTransaction trigger = Spend({watched}, {100'000, 5'000}, 0x21);
    Txid trigger_txid = ComputeTxid(trigger);
    MutableTransaction rec_cheap = Spend({{trigger_txid, 0}}, {99'000}, 0x31);  // fee 1,000
    MutableTransaction rec_mid = Spend({{trigger_txid, 0}}, {95'000}, 0x32);    // fee 5,000
    MutableTransaction rec_high = Spend({{trigger_txid, 0}}, {90'000}, 0x33);   // fee 10,000
    MutableTransaction emergency = Spend({watched}, {98'000}, 0x41);
    Registry reg;
    uint32_t v{0};

    PresignedFixture()
    {
        PresignedRequest req;
        req.watch_outpoints = {watched};
        req.triggers = {{trigger_txid,
                         {HexStr(SerializeTransaction(rec_high)), HexStr(SerializeTransaction(rec_cheap)),
                          HexStr(SerializeTransaction(rec_mid))},
                         144}};
        req.emergency_txs = {HexStr(SerializeTransaction(emergency))};
        auto pv = ValidatePresigned(req);
        EXPECT_TRUE(pv.has_value()) << (pv ? "" : pv.error());
        auto a = reg.AddPresigned(PresignedRegistration{std::move(*pv), "cold", {}, 100});
        EXPECT_TRUE(a.has_value());
        v = a->index;
    }
};

//! The store of a test: the details of each vault as registered, by slot; counts its reads.
class MapDetails final : public DetailSource
{
public:
    std::map<uint32_t, VaultDetails> held;
    size_t reads{0};
    Expected<VaultDetails, DetailError> LoadDetails(uint32_t i, const VaultId&) override
    {
        ++reads;
        auto it = held.find(i);
        if (it == held.end()) return Unexpected{DetailError{"no row", false}};
        return it->second;
    }
};

} // namespace vw::vault::testutil
