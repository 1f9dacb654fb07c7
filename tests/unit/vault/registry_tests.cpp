// The vault registry: ids, re-registration, validation, index consistency, recovery groups,
// removal, UTXO tracking, fee-wallet keys. Vault specs come from
// tests/data/testvectors/opvault-regtest.json (read at run time).

#include "vault/registry.h"

#include "crypto/sha256.h"
#include "util/serialize.h"

#include "unit/vault/opvault_test_util.h"
#include "unit/vault/scenario_test_util.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>

namespace vw::vault {
namespace {

using namespace testutil;


OpVaultRegistration Reg(const json::value& rec, bool with_secret = true)
{
    std::optional<crypto::KeyPair> auth;
    if (with_secret && !rec.at("recovery_auth_key").is_null()) {
        auth = crypto::KeyPair::FromSecret(H(rec.at("recovery_auth_key").at("secret")));
    }
    return OpVaultRegistration{SpecFromRecord(rec), std::move(auth), Str(rec.at("vault_id")), {}, std::nullopt, std::nullopt};
}

const json::value& Rec(const std::string& scenario, size_t i)
{
    const json::value* sc = FindScenario(scenario);
    if (!sc) throw std::runtime_error("no scenario " + scenario); // a test failure
    return sc->at("vaults").as_array().at(i);
}

TEST(registry_tests, VaultIdIsDeterministicAndWellFormed)
{
    std::set<std::string> ids;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& rec : sc.at("vaults").as_array()) {
            const VaultId a = ComputeVaultId(SpecFromRecord(rec));
            EXPECT_EQ(a, ComputeVaultId(SpecFromRecord(rec)));
            ASSERT_EQ(a.str().size(), 18u);
            EXPECT_EQ(a.str().substr(0, 2), "v-");
            auto p = VaultId::Parse(a.str());
            ASSERT_TRUE(p.has_value());
            EXPECT_EQ(*p, a);
            ids.insert(a.str());
        }
    }
    // 20 records; in both trigger-with-revault scenarios the second deposit and the revault
    // record have the first vault's keys and delay: 16 distinct vaults.
    EXPECT_EQ(ids.size(), 16u);
    for (const char* bad : {"", "v-", "v-0123456789abcde", "v-0123456789abcdef0", "x-0123456789abcdef", "v-0123456789ABCDEF",
                            "v-0123456789abcdeg"}) {
        EXPECT_FALSE(VaultId::Parse(bad).has_value()) << bad;
    }
    EXPECT_TRUE(VaultId::Parse("v-0123456789abcdef").has_value());
}

TEST(registry_tests, ReRegistrationIsDetected)
{
    Registry r;
    auto a = r.AddOpVault(Reg(Rec("A-none-withdrawal", 0)));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->index, 0u);
    auto again = Reg(Rec("A-none-withdrawal", 0));
    again.label = "another label";
    again.policy = Policy{Mode::Alert, 0};
    auto b = r.AddOpVault(std::move(again));
    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error().code, RegistryError::AlreadyRegistered);
    EXPECT_EQ(b.error().existing, std::optional<VaultId>{a->id});
    EXPECT_NE(b.error().message.find(a->id.str()), std::string::npos);
    EXPECT_EQ(r.size(), 1u);
    // Two deposits to one vault sPK are one vault.
    auto v7 = r.AddOpVault(Reg(Rec("A-none-trigger-with-revault", 0)));
    ASSERT_TRUE(v7.has_value());
    auto v8 = r.AddOpVault(Reg(Rec("A-none-trigger-with-revault", 1)));
    ASSERT_FALSE(v8.has_value());
    EXPECT_EQ(v8.error().existing, std::optional<VaultId>{v7->id});
}

TEST(registry_tests, ValidationErrors)
{
    Registry r;
    // A recovery-auth secret for an unauthorized leaf.
    auto reg = Reg(Rec("A-none-withdrawal", 0));
    reg.recovery_auth = crypto::KeyPair::FromSecret(H(Rec("A-none-withdrawal", 0).at("trigger_key").at("secret")));
    EXPECT_EQ(r.AddOpVault(std::move(reg)).error().code, RegistryError::AuthKeyUnexpected);
    // The wrong secret for an authorized leaf.
    auto wrong = Reg(Rec("A-checksig-withdrawal", 0));
    wrong.recovery_auth = crypto::KeyPair::FromSecret(H(Rec("A-checksig-withdrawal", 0).at("trigger_key").at("secret")));
    EXPECT_EQ(r.AddOpVault(std::move(wrong)).error().code, RegistryError::AuthKeyMismatch);
    // No recover leaf.
    auto broken = Reg(Rec("A-none-withdrawal", 0));
    broken.spec.leaves[0].script = broken.spec.leaves[1].script;
    auto e = r.AddOpVault(std::move(broken));
    EXPECT_EQ(e.error().code, RegistryError::InvalidVault);
    EXPECT_FALSE(e.error().message.empty());
    // A delayed policy too close to the spend delay (19).
    auto unsafe = Reg(Rec("A-none-withdrawal", 0));
    unsafe.policy = Policy{Mode::Delayed, 18};
    EXPECT_EQ(r.AddOpVault(std::move(unsafe)).error().code, RegistryError::UnsafePolicy);
    EXPECT_EQ(r.size(), 0u); // nothing was added by any failure
    auto fine = Reg(Rec("A-none-withdrawal", 0));
    fine.policy = Policy{Mode::Delayed, 10};
    EXPECT_TRUE(r.AddOpVault(std::move(fine)).has_value());
    EXPECT_EQ(At(r, 0).MinSpendDelay(), 19);
    EXPECT_EQ(At(r, 0).label, "A-none-v1");
    EXPECT_EQ(At(r, 0).state, VaultState::Active);
    EXPECT_EQ(At(r, 0).kind, VaultKind::OpVault);
}

TEST(registry_tests, IndexHoldsLeavesAndSpk)
{
    Registry r;
    for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-batch-recovery", i))).has_value());
    for (uint32_t i = 0; i < 3; ++i) {
        const Vault& v = Op(r, i);
        std::vector<VaultRef> out;
        r.index().FindSpk(v.ScriptPubKey(), out);
        EXPECT_EQ(out, (std::vector<VaultRef>{{i, RefKind::VaultSpk}}));
        const auto& leaves = v.tree().leaves();
        out.clear();
        const auto& tl = leaves[v.trigger_indices()[0]];
        r.index().FindLeaf(tl.version, tl.script, out);
        EXPECT_EQ(out, (std::vector<VaultRef>{{i, RefKind::TriggerLeaf}}));
    }
    // v4..v6 share their recover leaf and so their recovery group. A shared leaf is indexed once
    // (the matcher finds the vault from the spent output key), and stays while any vault has it.
    const Vault v0 = Op(r, 0); // a copy: Remove forgets the details
    const auto& rleaf = v0.tree().leaves()[v0.recover_index()];
    std::vector<VaultRef> out;
    r.index().FindLeaf(taproot::LEAF_VERSION_TAPSCRIPT, rleaf.script, out);
    EXPECT_EQ(out, (std::vector<VaultRef>{{0, RefKind::RecoverLeaf}}));
    const auto g = r.RecoveryGroup(v0.RecoverySpkHashValue());
    EXPECT_EQ(std::vector<uint32_t>(g.begin(), g.end()), (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_TRUE(r.RecoveryGroup(Uint256{}).empty());
    ASSERT_TRUE(r.Remove(At(r, 0).id));
    out.clear();
    r.index().FindLeaf(taproot::LEAF_VERSION_TAPSCRIPT, rleaf.script, out);
    EXPECT_EQ(out.size(), 1u) << "still indexed for v5, v6";
    ASSERT_TRUE(r.Remove(At(r, 1).id));
    ASSERT_TRUE(r.Remove(At(r, 2).id));
    out.clear();
    r.index().FindLeaf(taproot::LEAF_VERSION_TAPSCRIPT, rleaf.script, out);
    EXPECT_TRUE(out.empty()) << "gone with the last vault";
}

TEST(registry_tests, RemoveUnindexesAndReRegistrationRevivesTheSlot)
{
    Registry r;
    for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-batch-recovery", i))).has_value());
    const VaultId id1 = At(r, 1).id;
    const Vault v1 = Op(r, 1);
    TrackedUtxo u;
    u.outpoint = OutPoint{*Txid::FromHex(std::string(64, 'a')), 3};
    u.amount = Amount{1000};
    u.spk = v1.ScriptPubKey();
    ASSERT_TRUE(r.TrackUtxo(1, u));
    const size_t keys = r.index().size();
    ASSERT_TRUE(r.Remove(id1));
    EXPECT_FALSE(r.Remove(id1));
    EXPECT_FALSE(r.Find(id1).has_value());
    EXPECT_EQ(At(r, 1).state, VaultState::Removed);
    EXPECT_TRUE(At(r, 1).utxos.empty());
    EXPECT_EQ(r.size(), 3u); // slots never move
    std::vector<VaultRef> out;
    r.index().FindSpk(v1.ScriptPubKey(), out);
    r.index().FindOutpoint(u.outpoint.txid.span(), u.outpoint.n, out);
    EXPECT_TRUE(out.empty());
    const auto g = r.RecoveryGroup(v1.RecoverySpkHashValue());
    EXPECT_EQ(std::vector<uint32_t>(g.begin(), g.end()), (std::vector<uint32_t>{0, 2}));
    EXPECT_FALSE(r.TrackUtxo(1, u));
    EXPECT_FALSE(r.SetState(1, VaultState::Active));
    // Re-registering the same content revives slot 1, and the group order is kept.
    auto again = r.AddOpVault(Reg(Rec("A-none-batch-recovery", 1)));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->index, 1u);
    EXPECT_EQ(again->id, id1);
    EXPECT_EQ(At(r, 1).state, VaultState::Active);
    const auto g2 = r.RecoveryGroup(v1.RecoverySpkHashValue());
    EXPECT_EQ(std::vector<uint32_t>(g2.begin(), g2.end()), (std::vector<uint32_t>{0, 1, 2}));
    EXPECT_EQ(r.index().size(), keys - 1); // everything but the forgotten UTXO is back
}

// A scrape (vaultwatch_vaults) and each block's fee reserve read the registry's tally instead of
// walking every record: it must follow every change of a record as a fresh count would.
TEST(registry_tests, TheTallyFollowsEveryChangeOfARecord)
{
    Registry r;
    auto same = [&] { return r.tally() == r.Recount(); };
    const auto& t = r.tally();
    const auto active = [&](VaultKind k) { return t.by_kind_state[static_cast<size_t>(k)][static_cast<size_t>(VaultState::Active)]; };
    for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-batch-recovery", i))).has_value());
    // Authorized recovery: swept alone only with its key, and then in a batch with change.
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-checksig-batch-recovery", 0), /*with_secret=*/false)).has_value());
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-checksig-batch-recovery", 1))).has_value());
    EXPECT_TRUE(same());
    EXPECT_EQ(active(VaultKind::OpVault), 5u);
    EXPECT_EQ(t.sweepable, 4u);
    EXPECT_EQ(t.sweepable_batched, 1u);
    ASSERT_TRUE(r.SetState(0, VaultState::Triggered));
    ASSERT_TRUE(r.SetState(1, VaultState::Recovering));
    EXPECT_TRUE(same());
    EXPECT_EQ(active(VaultKind::OpVault), 3u);
    Policy alert;
    alert.mode = Mode::Alert;
    ASSERT_TRUE(r.SetPolicy(2, alert));
    EXPECT_TRUE(same());
    EXPECT_EQ(t.sweepable, 3u);
    const VaultId id4 = At(r, 4).id;
    ASSERT_TRUE(r.Remove(id4));
    EXPECT_TRUE(same());
    EXPECT_EQ(t.sweepable_batched, 0u);
    EXPECT_EQ(t.by_kind_state[static_cast<size_t>(VaultKind::OpVault)][static_cast<size_t>(VaultState::Removed)], 1u);
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-checksig-batch-recovery", 1))).has_value()); // revives slot 4
    EXPECT_TRUE(same());
    EXPECT_EQ(t.sweepable_batched, 1u);
    TrackedUtxo u;
    u.outpoint = OutPoint{*Txid::FromHex(std::string(64, 'b')), 0};
    u.amount = Amount{1000};
    u.spk = Op(r, 0).ScriptPubKey();
    ASSERT_TRUE(r.TrackUtxo(0, u));
    EXPECT_GE(r.ResetChainState(), 1u);
    EXPECT_TRUE(same());
    EXPECT_EQ(active(VaultKind::OpVault), 5u);
    // Moved with the registry (the engine's rebuilds swap registries).
    Registry moved = std::move(r);
    EXPECT_EQ(moved.tally(), moved.Recount());
}

TEST(registry_tests, UtxoTrackingMempoolThenConfirmed)
{
    Registry r;
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-withdrawal", 0))).has_value());
    TrackedUtxo u;
    u.outpoint = OutPoint{*Txid::FromHex(std::string(64, 'b')), 1};
    u.amount = Amount{5000};
    u.spk = Op(r, 0).ScriptPubKey();
    ASSERT_TRUE(r.TrackUtxo(0, u)); // mempool
    u.height = 10;
    ASSERT_TRUE(r.TrackUtxo(0, u)); // confirmed: same UTXO, height filled in
    ASSERT_EQ(At(r, 0).utxos.size(), 1u);
    EXPECT_EQ(At(r, 0).utxos[0].height, std::optional<int>{10});
    const Txid spender = *Txid::FromHex(std::string(64, 'c'));
    EXPECT_TRUE(r.SpendUtxo(0, u.outpoint, spender, std::nullopt));
    EXPECT_EQ(At(r, 0).utxos[0].spent_by, std::optional<Txid>{spender});
    std::vector<VaultRef> out;
    r.index().FindOutpoint(u.outpoint.txid.span(), u.outpoint.n, out);
    EXPECT_EQ(out, (std::vector<VaultRef>{{0, RefKind::VaultOutpoint}})); // still indexed for the confirmation
    EXPECT_TRUE(r.SpendUtxo(0, u.outpoint, spender, 11));
    EXPECT_TRUE(At(r, 0).utxos.empty());
    out.clear();
    r.index().FindOutpoint(u.outpoint.txid.span(), u.outpoint.n, out);
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(r.SpendUtxo(0, u.outpoint, spender, 11));
    EXPECT_FALSE(r.TrackUtxo(7, u));
}

TEST(registry_tests, PresignedRegistration)
{
    auto T = [](uint8_t b) {
        Uint256 x;
        x.bytes.fill(b);
        return Txid::FromUint256(x);
    };
    MutableTransaction rec;
    rec.vin.push_back(TxIn{OutPoint{T(2), 0}, {}, 0xfffffffd, {Bytes(64, 1)}});
    rec.vout.push_back(TxOut{Amount{1000}, Bytes{0x51}});
    PresignedRequest req;
    req.watch_outpoints = {{T(1), 0}, {T(1), 1}};
    req.triggers = {{T(2), {HexStr(SerializeTransaction(rec))}, 50}};
    auto pv = ValidatePresigned(req);
    ASSERT_TRUE(pv.has_value());
    // The id does not depend on the order of the watched outpoints.
    PresignedRequest swapped = req;
    std::swap(swapped.watch_outpoints[0], swapped.watch_outpoints[1]);
    EXPECT_EQ(ComputeVaultId(*pv), ComputeVaultId(*ValidatePresigned(swapped)));
    Registry r;
    auto a = r.AddPresigned(PresignedRegistration{*pv, "p", {}, std::nullopt});
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(At(r, a->index).kind, VaultKind::Presigned);
    EXPECT_EQ(At(r, a->index).MinSpendDelay(), 50);
    ASSERT_EQ(At(r, a->index).utxos.size(), 2u);
    EXPECT_EQ(At(r, a->index).utxos[0].role, UtxoRole::Watched);
    for (uint32_t n : {0u, 1u}) {
        std::vector<VaultRef> out;
        r.index().FindOutpoint(T(1).span(), n, out);
        EXPECT_EQ(out, (std::vector<VaultRef>{{a->index, RefKind::VaultOutpoint}}));
    }
    ASSERT_EQ(r.FindPresignedTrigger(T(2)).size(), 1u);
    EXPECT_EQ(r.FindPresignedTrigger(T(2))[0].vault, a->index);
    EXPECT_TRUE(r.FindPresignedTrigger(T(3)).empty());
    EXPECT_EQ(r.AddPresigned(PresignedRegistration{*pv, "q", {}, std::nullopt}).error().code, RegistryError::AlreadyRegistered);
    // A confirmed spend of a watched outpoint keeps it indexed (registration data).
    EXPECT_TRUE(r.SpendUtxo(a->index, OutPoint{T(1), 0}, T(9), 5));
    std::vector<VaultRef> out;
    r.index().FindOutpoint(T(1).span(), 0, out);
    EXPECT_EQ(out.size(), 1u);
    ASSERT_TRUE(r.Remove(a->id));
    EXPECT_TRUE(r.FindPresignedTrigger(T(2)).empty());
    out.clear();
    r.index().FindOutpoint(T(1).span(), 0, out);
    EXPECT_TRUE(out.empty());
}

TEST(registry_tests, FeeWalletSpksAreIndexedUnderTheReservedRef)
{
    Registry r;
    const Bytes a{0x51, 0x20, 1, 2, 3}, b{0x00, 0x14, 9, 9};
    r.SetFeeWalletSpks({a, b});
    std::vector<VaultRef> out;
    r.index().FindSpk(a, out);
    EXPECT_EQ(out, (std::vector<VaultRef>{Registry::FeeWalletRef()}));
    r.SetFeeWalletSpks({b});
    out.clear();
    r.index().FindSpk(a, out);
    EXPECT_TRUE(out.empty());
    r.index().FindSpk(b, out);
    EXPECT_EQ(out.size(), 1u);
}

TEST(registry_tests, StateAndPolicyStrings)
{
    for (auto s : {VaultState::Active, VaultState::Triggered, VaultState::Recovering, VaultState::Recovered,
                   VaultState::Withdrawn, VaultState::Removed}) {
        EXPECT_EQ(ParseVaultState(ToString(s)), std::optional<VaultState>{s});
    }
    EXPECT_FALSE(ParseVaultState("bogus").has_value());
    EXPECT_EQ(ParseVaultKind("opvault"), std::optional<VaultKind>{VaultKind::OpVault});
    EXPECT_EQ(ParseVaultKind("presigned"), std::optional<VaultKind>{VaultKind::Presigned});
    EXPECT_FALSE(ParseVaultKind("OPVAULT").has_value());
    Registry r;
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-withdrawal", 0))).has_value());
    EXPECT_TRUE(r.SetPolicy(0, Policy{Mode::Alert, 0}));
    EXPECT_EQ(At(r, 0).policy.mode, Mode::Alert);
    EXPECT_TRUE(r.AddApproval(0, Approval{}));
    EXPECT_EQ(At(r, 0).approvals().size(), 1u);
    EXPECT_FALSE(r.SetState(0, VaultState::Removed)); // only Remove() removes
    EXPECT_FALSE(r.SetPolicy(5, Policy{}));
}

TEST(registry_tests, OutputKeyCacheRoundTripsAndIsBoundToItsVault)
{
    Registry r;
    auto a = r.AddOpVault(Reg(Rec("A-none-batch-recovery", 0)));
    ASSERT_TRUE(a) << a.error().message;
    const auto& q = Op(r, a->index).OutputKey();
    const Bytes cache = EncodeOutputKeyCache(a->id, q);
    ASSERT_EQ(cache.size(), 42u);
    auto back = DecodeOutputKeyCache(a->id, cache);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->xonly, q.xonly);
    EXPECT_EQ(back->parity, q.parity);
    // Any flipped bit, a truncation, or the cache of another vault is refused.
    for (size_t i = 0; i < cache.size(); ++i) {
        Bytes bad = cache;
        bad[i] ^= 0x01;
        EXPECT_FALSE(DecodeOutputKeyCache(a->id, bad)) << "byte " << i;
    }
    EXPECT_FALSE(DecodeOutputKeyCache(a->id, ByteSpan{cache}.first(41)));
    EXPECT_FALSE(DecodeOutputKeyCache(*VaultId::Parse("v-0000000000000000"), cache));
}

TEST(registry_tests, AKnownOutputKeyIsTakenInsteadOfTheTweak)
{
    Registry fresh, cached;
    auto a = fresh.AddOpVault(Reg(Rec("A-none-batch-recovery", 0)));
    ASSERT_TRUE(a);
    auto reg = Reg(Rec("A-none-batch-recovery", 0));
    reg.known_output_key = Op(fresh, a->index).OutputKey();
    auto b = cached.AddOpVault(std::move(reg));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->id, a->id);
    EXPECT_EQ(Op(cached, b->index).ScriptPubKey(), Op(fresh, a->index).ScriptPubKey());
    std::vector<VaultRef> out;
    cached.index().FindSpk(Op(fresh, a->index).ScriptPubKey(), out);
    EXPECT_EQ(out, (std::vector<VaultRef>{{b->index, RefKind::VaultSpk}}));
}

TEST(registry_tests, TheCompactFormRoundTripsAndIsBoundToItsVault)
{
    Registry r;
    auto a = r.AddOpVault(Reg(Rec("A-checksig-withdrawal", 0)));
    auto b = r.AddOpVault(Reg(Rec("A-none-batch-recovery", 0)));
    ASSERT_TRUE(a && b);
    auto ca = CompactOf(At(r, a->index), *r.Details(a->index));
    ASSERT_TRUE(ca);
    EXPECT_TRUE(ca->authorized_recover);
    EXPECT_TRUE(ca->holds_recovery_auth);
    EXPECT_EQ(ca->label, At(r, a->index).label);
    EXPECT_EQ(ca->min_spend_delay, At(r, a->index).min_spend_delay);
    EXPECT_EQ(ca->keys, KeysOf(Op(r, a->index)));
    EXPECT_EQ(ca->keys.spk, Op(r, a->index).ScriptPubKey());
    EXPECT_EQ(ca->keys.leaves.size(), 2u);
    const Bytes bytes = EncodeCompactVault(*ca);
    auto back = DecodeCompactVault(ca->id, bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(EncodeCompactVault(*back), bytes);
    EXPECT_EQ(back->keys, ca->keys);
    EXPECT_EQ(back->birth_height, ca->birth_height);
    // Another vault's id, any flipped byte, a truncation, a byte more: refused.
    EXPECT_FALSE(DecodeCompactVault(At(r, b->index).id, bytes));
    for (size_t i = 0; i < bytes.size(); ++i) {
        Bytes bad = bytes;
        bad[i] ^= 0x01;
        EXPECT_FALSE(DecodeCompactVault(ca->id, bad)) << i;
    }
    EXPECT_FALSE(DecodeCompactVault(ca->id, ByteSpan{bytes}.first(bytes.size() - 1)));
    Bytes longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(DecodeCompactVault(ca->id, longer));
    EXPECT_FALSE(DecodeCompactVault(ca->id, {}));
    // A presigned vault has none.
    PresignedRegistration p;
    p.vault.watch_outpoints = {OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, 9))), 1}};
    auto pa = r.AddPresigned(std::move(p));
    ASSERT_TRUE(pa);
    EXPECT_FALSE(CompactOf(At(r, pa->index), *r.Details(pa->index)));
}

//! Details read back from a map; a transient failure can be switched on.
class FlakyDetails final : public DetailSource
{
public:
    std::map<uint32_t, VaultDetails> held;
    bool down{false};
    Expected<VaultDetails, DetailError> LoadDetails(uint32_t i, const VaultId&) override
    {
        if (down) return Unexpected{DetailError{"the disk is busy", true}};
        auto it = held.find(i);
        if (it == held.end()) return Unexpected{DetailError{"not a registration", false}};
        return it->second;
    }
};

TEST(registry_tests, DetailsAreReadWhenNeededTrimmedAndTheirFailuresSaid)
{
    Registry whole;
    ASSERT_TRUE(whole.AddOpVault(Reg(Rec("A-none-batch-recovery", 0))));
    ASSERT_TRUE(whole.AddOpVault(Reg(Rec("A-none-batch-recovery", 1))));
    Registry r;
    FlakyDetails src;
    for (uint32_t i = 0; i < 2; ++i) {
        ASSERT_TRUE(r.AddCompact(*CompactOf(At(whole, i), *whole.Details(i)), {}));
        src.held[i] = *whole.Details(i);
    }
    // No source: nothing to read, said as permanent.
    EXPECT_EQ(r.Details(0), nullptr);
    auto e = r.TakeDetailError();
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->transient);
    EXPECT_NE(e->message.find(At(r, 0).id.str()), std::string::npos) << e->message;
    EXPECT_FALSE(r.TakeDetailError()) << "taken";
    r.SetDetailSource(&src);
    // A busy store: transient, and nothing is held.
    src.down = true;
    EXPECT_EQ(r.Details(0), nullptr);
    e = r.TakeDetailError();
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->transient);
    EXPECT_EQ(r.DetailsHeld(), 0u);
    src.down = false;
    const VaultDetails* d0 = r.Details(0);
    ASSERT_NE(d0, nullptr);
    EXPECT_EQ(d0->opvault->ScriptPubKey(), Op(whole, 0).ScriptPubKey());
    EXPECT_EQ(r.Details(0), d0) << "held, not read twice";
    EXPECT_EQ(r.DetailsHeld(), 1u);
    // A vault with a trigger output tracked keeps its details; an idle one gives them back.
    ASSERT_NE(r.Details(1), nullptr);
    TrackedUtxo t;
    t.outpoint = OutPoint{Txid::FromUint256(Uint256::FromSpan(Bytes(32, 5))), 0};
    t.role = UtxoRole::Trigger;
    ASSERT_TRUE(r.TrackUtxo(1, t));
    EXPECT_EQ(r.TrimDetails(5), 0u) << "within what may be kept";
    EXPECT_EQ(r.TrimDetails(0), 1u);
    EXPECT_EQ(r.DetailsHeld(), 1u);
    // Remove reads what it must unindex; a row that is not a registration is said as permanent,
    // and the vault stays as it is.
    src.held.erase(0);
    EXPECT_FALSE(r.Remove(At(r, 0).id));
    e = r.TakeDetailError();
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->transient);
    std::vector<VaultRef> out;
    r.index().FindSpk(Op(whole, 0).ScriptPubKey(), out);
    EXPECT_EQ(out.size(), 1u);
    src.held[0] = *whole.Details(0);
    EXPECT_TRUE(r.Remove(At(r, 0).id));
    out.clear();
    r.index().FindSpk(Op(whole, 0).ScriptPubKey(), out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(r.RecoveryGroup(Op(whole, 1).RecoverySpkHashValue()), (std::vector<uint32_t>{1}));
}

//! A registry of scenario sc's vaults as a cold start makes it: compact forms, no details.
//! strip_spk: the compact forms as a store written before they kept the recovery scriptPubKey.
void ColdStart(const json::value& sc, Registered& whole, Registry& cold, MapDetails& src, bool strip_spk = false)
{
    RegisterScenario(sc, whole);
    for (uint32_t i = 0; i < whole.reg.size(); ++i) {
        auto c = CompactOf(At(whole.reg, i), *whole.reg.Details(i));
        ASSERT_TRUE(c);
        if (strip_spk) c->keys.recovery_spk.clear();
        ASSERT_TRUE(cold.AddCompact(*c, {}));
        src.held[i] = *whole.reg.Details(i);
    }
    cold.SetDetailSource(&src);
}

TEST(registry_tests, ATriggerIsAnsweredFromMemoryWithoutReadingTheRegistration)
{
    const auto* sc = FindScenario("A-none-recover-from-trigger");
    ASSERT_NE(sc, nullptr);
    const auto& steps = sc->at("steps").as_array();
    // In the mempool as ZMQ told it (the key is computed again), and in a block (the node checked
    // the spend: the tracked UTXO's key is taken).
    for (const bool in_block : {false, true}) {
    SCOPED_TRACE(in_block ? "block" : "mempool");
    Registered whole;
    Registry cold;
    MapDetails src;
    ColdStart(*sc, whole, cold, src);
    // The deposit: the vault's output is tracked; its details are not kept.
    ApplyEvents(cold, MatchTx(Tx(steps[0].at("hex")), cold, 230));
    cold.TrimDetails(0);
    ASSERT_FALSE(cold.HoldsDetails(0));
    const size_t reads = src.reads;
    const Transaction trigger = Tx(steps[1].at("hex"));
    const std::optional<int> height = in_block ? std::optional<int>{231} : std::nullopt;
    const auto ev = MatchTx(trigger, cold, height);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::Trigger);
    EXPECT_EQ(ev[0].flaw, Flaw::None);
    EXPECT_EQ(src.reads, reads) << "the registration was read";
    EXPECT_EQ(cold.DetailsRebuilt(), 1u);
    // What was rebuilt is the registered vault, to the byte.
    ASSERT_TRUE(cold.HoldsDetails(0));
    const Vault& got = Op(cold, 0);
    const Vault& want = Op(whole.reg, 0);
    EXPECT_EQ(ComputeVaultId(got.spec()), ComputeVaultId(want.spec()));
    EXPECT_EQ(got.spec().recovery_spk, want.spec().recovery_spk);
    EXPECT_EQ(got.ScriptPubKey(), want.ScriptPubKey());
    EXPECT_EQ(got.recover_index(), want.recover_index());
    EXPECT_EQ(KeysOf(got), KeysOf(want));
    // The same events as a registry that read it.
    ApplyEvents(whole.reg, MatchTx(Tx(steps[0].at("hex")), whole.reg, 230));
    const auto ref = MatchTx(trigger, whole.reg, height);
    ASSERT_EQ(ref.size(), 1u);
    EXPECT_EQ(ref[0].vaults, ev[0].vaults);
    EXPECT_EQ(ref[0].outpoint, ev[0].outpoint);
    EXPECT_EQ(ref[0].amount, ev[0].amount);
    EXPECT_EQ(ref[0].ctv_hash, ev[0].ctv_hash);
    EXPECT_EQ(ref[0].spend_delay, ev[0].spend_delay);
    ASSERT_TRUE(ref[0].tree && ev[0].tree);
    EXPECT_EQ(ref[0].tree->script_pubkey, ev[0].tree->script_pubkey);
    EXPECT_EQ(ref[0].tree->recover_cb.Serialize(), ev[0].tree->recover_cb.Serialize());
    EXPECT_EQ(got.OutputKey().parity, want.OutputKey().parity);
    }
}

TEST(registry_tests, AWitnessThatIsNotTheVaultsIsNotTakenForIt)
{
    const auto* sc = FindScenario("A-none-recover-from-trigger");
    ASSERT_NE(sc, nullptr);
    const auto& steps = sc->at("steps").as_array();
    Registered whole;
    Registry cold;
    MapDetails src;
    ColdStart(*sc, whole, cold, src);
    const Transaction trigger = Tx(steps[1].at("hex"));
    ASSERT_TRUE(cold.RebuildFromTrigger(0, trigger.vin()[0].witness)) << "the untouched witness";
    // Another internal key (a valid point: the trigger key): the id no longer matches.
    std::vector<Bytes> w = trigger.vin()[0].witness;
    const Bytes other = H(sc->at("vaults").as_array()[0].at("trigger_key").at("xonly"));
    std::copy(other.begin(), other.end(), w.back().begin() + 1);
    EXPECT_FALSE(cold.RebuildFromTrigger(0, w));
    // Another sibling than the recover leaf: not this vault's tree.
    w = trigger.vin()[0].witness;
    w.back()[40] ^= 1;
    EXPECT_FALSE(cold.RebuildFromTrigger(0, w));
    // Another trigger leaf (one byte of its key): the id no longer matches.
    w = trigger.vin()[0].witness;
    w[w.size() - 2][5] ^= 1;
    EXPECT_FALSE(cold.RebuildFromTrigger(0, w));
    // A key-path witness, nothing, or another slot.
    EXPECT_FALSE(cold.RebuildFromTrigger(0, {Bytes(64, 1)}));
    EXPECT_FALSE(cold.RebuildFromTrigger(0, {}));
    EXPECT_FALSE(cold.RebuildFromTrigger(7, trigger.vin()[0].witness));
    // A removed vault has no details to rebuild.
    src.held[0] = *whole.reg.Details(0);
    ASSERT_TRUE(cold.Remove(At(cold, 0).id));
    EXPECT_FALSE(cold.RebuildFromTrigger(0, trigger.vin()[0].witness));
    EXPECT_EQ(cold.DetailsRebuilt(), 0u);
}

TEST(registry_tests, WhatMemoryCannotRebuildIsRead)
{
    {
        // An authorized recover leaf: its secret is in the store only.
        const auto* sc = FindScenario("A-checksig-recover-from-trigger");
        ASSERT_NE(sc, nullptr);
        Registered whole;
        Registry cold;
        MapDetails src;
        ColdStart(*sc, whole, cold, src);
        const Transaction trigger = Tx(sc->at("steps").as_array()[1].at("hex"));
        EXPECT_FALSE(cold.RebuildFromTrigger(0, trigger.vin()[0].witness));
        ASSERT_NE(cold.DetailsForTrigger(0, trigger.vin()[0].witness), nullptr);
        EXPECT_EQ(src.reads, 1u);
    }
    {
        // A store written before the compact form kept the recovery scriptPubKey: the first read
        // teaches the vault's recovery group, and the next trigger is answered from memory.
        const auto* sc = FindScenario("A-none-recover-from-trigger");
        ASSERT_NE(sc, nullptr);
        Registered whole;
        Registry cold;
        MapDetails src;
        ColdStart(*sc, whole, cold, src, /*strip_spk=*/true);
        const Transaction trigger = Tx(sc->at("steps").as_array()[1].at("hex"));
        EXPECT_FALSE(cold.RebuildFromTrigger(0, trigger.vin()[0].witness));
        ASSERT_NE(cold.DetailsForTrigger(0, trigger.vin()[0].witness), nullptr);
        EXPECT_EQ(src.reads, 1u);
        cold.TrimDetails(0);
        ASSERT_FALSE(cold.HoldsDetails(0));
        ASSERT_NE(cold.DetailsForTrigger(0, trigger.vin()[0].witness), nullptr);
        EXPECT_EQ(src.reads, 1u);
        EXPECT_EQ(cold.DetailsRebuilt(), 1u);
    }
}

TEST(registry_tests, ACompactFormOfTheFirstVersionStillLoads)
{
    // Version 1 (before the recovery scriptPubKey was kept), written here field by field as its
    // encoder did: it decodes to the same keys, without the scriptPubKey.
    Registry r;
    auto a = r.AddOpVault(Reg(Rec("A-none-batch-recovery", 0)));
    ASSERT_TRUE(a);
    const CompactVault c = *CompactOf(At(r, a->index), *r.Details(a->index));
    ASSERT_FALSE(c.keys.recovery_spk.empty());
    Writer w;
    w.U8(1).LE32(static_cast<uint32_t>(c.min_spend_delay)).U8(static_cast<uint8_t>(c.birth_height ? 4 : 0)).LE32(static_cast<uint32_t>(c.birth_height.value_or(0)));
    w.VarBytes(ByteSpan{reinterpret_cast<const uint8_t*>(c.label.data()), c.label.size()});
    w.VarBytes(c.keys.spk);
    w.Raw(c.keys.recovery_spk_hash.span());
    w.CompactSize(c.keys.leaves.size());
    for (const auto& l : c.keys.leaves) w.U8(l.version).U8(static_cast<uint8_t>(l.kind)).LE32(l.script_size).LE64(l.script_fp).Raw(l.hash.span());
    Bytes v1 = w.buf();
    const std::string id = c.id.str();
    const Uint256 check = crypto::TaggedHash{"vaultwatch/CompactVault"}.Hasher().Write(ByteSpan{reinterpret_cast<const uint8_t*>(id.data()), id.size()}).Write(v1).Finalize();
    v1.insert(v1.end(), check.bytes.begin(), check.bytes.begin() + 8);
    auto back = DecodeCompactVault(c.id, v1);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->keys.recovery_spk.empty());
    OpVaultKeys want = c.keys;
    want.recovery_spk.clear();
    EXPECT_EQ(back->keys, want);
    // Version 2 keeps it.
    auto now = DecodeCompactVault(c.id, EncodeCompactVault(c));
    ASSERT_TRUE(now);
    EXPECT_EQ(now->keys.recovery_spk, Op(r, a->index).spec().recovery_spk);
}

TEST(registry_tests, ResetChainStateForgetsWhatTheChainDidAndKeepsTheRegistrations)
{
    auto T = [](uint8_t b) {
        Uint256 x;
        x.bytes.fill(b);
        return Txid::FromUint256(x);
    };
    Registry r;
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-withdrawal", 0))).has_value());
    ASSERT_TRUE(r.AddOpVault(Reg(Rec("A-none-batch-recovery", 0))).has_value());
    MutableTransaction rec;
    rec.vin.push_back(TxIn{OutPoint{T(2), 0}, {}, 0xfffffffd, {Bytes(64, 1)}});
    rec.vout.push_back(TxOut{Amount{1000}, Bytes{0x51}});
    PresignedRequest req;
    req.watch_outpoints = {{T(1), 0}};
    req.triggers = {{T(2), {HexStr(SerializeTransaction(rec))}, 50}};
    auto pv = ValidatePresigned(req);
    ASSERT_TRUE(pv);
    auto p = r.AddPresigned(PresignedRegistration{*pv, "p", {}, std::nullopt});
    ASSERT_TRUE(p);
    const auto fresh_presigned = At(r, p->index).utxos;
    EXPECT_EQ(r.ResetChainState(), 0u) << "nothing happened yet";

    // The chain: a deposit into vault 0, vault 1 triggered, the presigned outpoint valued and spent.
    TrackedUtxo d;
    d.outpoint = OutPoint{T(7), 0};
    d.amount = Amount{5000};
    d.spk = Op(r, 0).ScriptPubKey();
    d.height = 3;
    ASSERT_TRUE(r.TrackUtxo(0, d));
    ASSERT_TRUE(r.SetState(1, VaultState::Triggered));
    TrackedUtxo w = fresh_presigned[0];
    w.amount = Amount{9000};
    w.height = 2;
    ASSERT_TRUE(r.TrackUtxo(p->index, w));
    ASSERT_TRUE(r.SpendUtxo(p->index, w.outpoint, T(2), std::nullopt));
    ASSERT_TRUE(r.SetPolicy(0, Policy{Mode::Alert, 0}));

    EXPECT_EQ(r.ResetChainState(), 3u);
    EXPECT_TRUE(At(r, 0).utxos.empty());
    EXPECT_EQ(At(r, 1).state, VaultState::Active);
    EXPECT_EQ(At(r, p->index).utxos, fresh_presigned);
    EXPECT_EQ(At(r, 0).policy.mode, Mode::Alert) << "registrations and policies stay";
    std::vector<VaultRef> out;
    r.index().FindOutpoint(d.outpoint.txid.span(), d.outpoint.n, out);
    EXPECT_TRUE(out.empty()) << "the deposit left the index";
    r.index().FindOutpoint(w.outpoint.txid.span(), w.outpoint.n, out);
    EXPECT_EQ(out, (std::vector<VaultRef>{{p->index, RefKind::VaultOutpoint}})) << "the watched outpoint is indexed once";
    std::vector<VaultRef> spk;
    r.index().FindSpk(Op(r, 0).ScriptPubKey(), spk);
    EXPECT_EQ(spk.size(), 1u);
    EXPECT_EQ(r.ResetChainState(), 0u);
    // A removed vault stays removed.
    ASSERT_TRUE(r.Remove(At(r, 1).id));
    EXPECT_EQ(r.ResetChainState(), 0u);
    EXPECT_EQ(At(r, 1).state, VaultState::Removed);
}

} // namespace
} // namespace vw::vault
