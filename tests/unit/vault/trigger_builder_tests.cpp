#include "vault/trigger_builder.h"

#include "crypto/sha256.h"
#include "script/ctv.h"
#include "vault/planner.h"
#include "vault/registry.h"

#include <gtest/gtest.h>

namespace vw::vault {
namespace {

crypto::KeyPair Key(uint8_t fill)
{
    Uint256 s;
    s.bytes.fill(fill);
    return *crypto::KeyPair::FromSecret(s.span());
}

struct Fixture {
    crypto::KeyPair internal = Key(0x11), trigger = Key(0x22);
    Bytes recovery_spk{0x51, 0x20};
    VaultSpec spec{internal.PubKey(), {}, {}, std::nullopt};
    Fixture()
    {
        recovery_spk.resize(34, 0x77);
        spec.recovery_spk = recovery_spk;
        spec.leaves = {taproot::Leaf{MakeRecoverLeaf(RecoverySpkHash(recovery_spk), std::nullopt), 1},
                       taproot::Leaf{MakeTriggerLeaf(trigger.PubKey(), 10), 1}};
    }
};

TEST(trigger_builder_tests, TheMatcherSeesAValidSignedTrigger)
{
    Fixture f;
    Registry reg;
    OpVaultRegistration r{f.spec, std::nullopt, "t", Policy{}, std::nullopt, std::nullopt};
    auto added = reg.AddOpVault(std::move(r));
    ASSERT_TRUE(added);
    const Vault& v = *reg.Details(added->index)->opvault;

    Bytes dest{0x51, 0x20};
    dest.resize(34, 0x99);
    const auto w = WithdrawalTemplate(10, Amount{90'000}, dest);
    TriggerRequest req;
    req.deposit = OutPoint{*Txid::FromHex(std::string(64, 'a')), 1};
    req.deposit_value = Amount{100'000};
    req.ctv_hash = ctv::TemplateHash(w, 0);
    auto tx = BuildTrigger(v, req, f.trigger);
    ASSERT_TRUE(tx) << tx.error();
    ASSERT_EQ(tx->vout.size(), 1u);
    EXPECT_EQ(tx->vout[0].value, Amount{100'000}) << "OP_VAULT: the trigger output carries the whole input";

    // Full checks (signature included) with the spent output known.
    const std::vector<TxOut> prevouts{TxOut{req.deposit_value, v.ScriptPubKey()}};
    MatchOptions mo;
    mo.prevouts = prevouts;
    const Transaction t{*tx};
    const auto ev = MatchTx(t, reg, std::nullopt, mo);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::Trigger);
    EXPECT_FALSE(ev[0].malformed()) << (ev[0].check_error ? "check error" : "vault error");
    EXPECT_EQ(ev[0].ctv_hash, req.ctv_hash);
    EXPECT_EQ(ev[0].spend_delay, 10);
    EXPECT_EQ(ev[0].outpoint, (OutPoint{t.GetTxid(), 0}));

    // A signature over another transaction fails the full check.
    MutableTransaction bad = *tx;
    bad.locktime = 1;
    const auto ev_bad = MatchTx(Transaction{bad}, reg, std::nullopt, mo);
    ASSERT_EQ(ev_bad.size(), 1u);
    EXPECT_TRUE(ev_bad[0].malformed());

    // The recovery the watchtower would plan spends that trigger output.
    ApplyEvents(reg, ev);
    auto plans = PlanRecovery(reg, ev[0]);
    ASSERT_TRUE(plans);
    ASSERT_EQ(plans->size(), 1u);
    EXPECT_EQ((*plans)[0].tx.vin.at(0).prevout, ev[0].outpoint);
    EXPECT_EQ((*plans)[0].tx.vout.at(0).script_pubkey, f.recovery_spk);
}

TEST(trigger_builder_tests, RefusesTheWrongKeyAndBadAmounts)
{
    Fixture f;
    auto v = Vault::FromSpec(f.spec);
    ASSERT_TRUE(v);
    TriggerRequest req;
    req.deposit_value = Amount{1'000};
    EXPECT_FALSE(BuildTrigger(*v, req, Key(0x33)));
    req.deposit_value = Amount{0};
    EXPECT_FALSE(BuildTrigger(*v, req, f.trigger));
    req.deposit_value = Amount{1'000};
    req.trigger_leaf = 1;
    EXPECT_FALSE(BuildTrigger(*v, req, f.trigger));
    req.trigger_leaf = 0;
    EXPECT_TRUE(BuildTrigger(*v, req, f.trigger));
}

} // namespace
TEST(trigger_builder_tests, ATriggersOutputKeyIsDerivedFromItsWitnessAloneAndTheMatcherUsesIt)
{
    Fixture f;
    Registry reg;
    auto added = reg.AddOpVault(OpVaultRegistration{f.spec, std::nullopt, "t", Policy{}, std::nullopt, std::nullopt});
    ASSERT_TRUE(added);
    const Vault& v = *reg.Details(added->index)->opvault;
    TriggerRequest req;
    req.deposit = OutPoint{*Txid::FromHex(std::string(64, 'b')), 0};
    req.deposit_value = Amount{100'000};
    req.ctv_hash = crypto::Sha256Once(Bytes{1});
    auto mtx = BuildTrigger(v, req, f.trigger);
    ASSERT_TRUE(mtx) << mtx.error();
    const Transaction tx{*mtx};

    // From the witness alone: the same (internal key, root) the vault's own tree gives.
    const auto in = TriggerOutputKeyInputs(tx.vin()[0].witness, tx.vout().size());
    ASSERT_TRUE(in);
    const auto q = crypto::TweakAddUnparsed(in->internal, taproot::TweakHash(in->internal, in->merkle_root));
    ASSERT_TRUE(q);
    EXPECT_EQ(in->internal, f.internal.PubKey().bytes());
    EXPECT_EQ(Bytes(q->xonly.begin(), q->xonly.end()), Bytes(tx.vout()[0].script_pubkey.begin() + 2, tx.vout()[0].script_pubkey.end()));

    // Not a trigger: a key-path witness, a trigger witness naming an output the tx lacks.
    EXPECT_FALSE(TriggerOutputKeyInputs({Bytes(64, 1)}, 1));
    EXPECT_FALSE(TriggerOutputKeyInputs(tx.vin()[0].witness, 0));
    // A control block whose internal key is no curve point: read, then refused by the tweak.
    auto w = tx.vin()[0].witness;
    std::fill(w.back().begin() + 1, w.back().begin() + 33, 0); // x = 0: x^3 + 7 has no square root
    const auto off_curve = TriggerOutputKeyInputs(w, tx.vout().size());
    ASSERT_TRUE(off_curve);
    EXPECT_EQ(crypto::TweakAddUnparsed(off_curve->internal, taproot::TweakHash(off_curve->internal, off_curve->merkle_root)).error(),
              crypto::TweakError::NotAKey);

    // The matcher takes the key from a memo when it holds it: a memo holding a wrong key for
    // exactly this (internal key, root) is believed, and the trigger output then mismatches.
    // That is why only computed keys go in (daemon: TriggerKeysAhead).
    const auto plain = MatchTx(tx, reg, 100);
    ASSERT_EQ(plain.size(), 1u);
    EXPECT_FALSE(plain[0].malformed());
    taproot::OutputKeyMemo memo;
    memo.Add(crypto::XOnlyPubKey::FromTrusted(in->internal), in->merkle_root, *q);
    MatchOptions mo;
    mo.output_keys = &memo;
    const auto with = MatchTx(tx, reg, 100, mo);
    ASSERT_EQ(with.size(), 1u);
    EXPECT_FALSE(with[0].malformed());
    EXPECT_EQ(with[0].outpoint, plain[0].outpoint);
    EXPECT_EQ(with[0].tree->output_key.parity, plain[0].tree->output_key.parity);
    taproot::OutputKeyMemo wrong;
    crypto::TweakedKey bad = *q;
    bad.xonly[5] ^= 1;
    wrong.Add(crypto::XOnlyPubKey::FromTrusted(in->internal), in->merkle_root, bad);
    mo.output_keys = &wrong;
    const auto fooled = MatchTx(tx, reg, 100, mo);
    ASSERT_EQ(fooled.size(), 1u);
    EXPECT_TRUE(fooled[0].malformed()) << "the memo was consulted";
}

//! Details read back from a map: a slot missing from it is a corrupt row.
class SomeDetails final : public DetailSource
{
public:
    std::map<uint32_t, VaultDetails> held;
    Expected<VaultDetails, DetailError> LoadDetails(uint32_t i, const VaultId&) override
    {
        auto it = held.find(i);
        if (it == held.end()) return Unexpected{DetailError{"not a registration", false}};
        return it->second;
    }
};

TEST(trigger_builder_tests, AGroupMateWhoseRegistrationCannotBeReadDoesNotHoldBackTheSweep)
{
    // Three vaults of one recovery group, held compactly (as after a cold start); the store cannot
    // give back the third one's registration. A thief triggers the first: its sweep is planned,
    // the group's readable mates' outputs go with it, the unreadable one is left out and said.
    Fixture f;
    Registry whole;
    std::vector<uint32_t> idx;
    for (uint8_t k = 0; k < 3; ++k) {
        VaultSpec spec = f.spec;
        spec.internal_key = Key(static_cast<uint8_t>(0x40 + k)).PubKey();
        auto a = whole.AddOpVault(OpVaultRegistration{spec, std::nullopt, "g", Policy{}, std::nullopt, std::nullopt});
        ASSERT_TRUE(a);
        idx.push_back(a->index);
    }
    Registry reg;
    SomeDetails src;
    reg.SetDetailSource(&src);
    for (uint32_t i : idx) {
        auto c = CompactOf(*whole.Get(i), *whole.Details(i));
        ASSERT_TRUE(c);
        ASSERT_TRUE(reg.AddCompact(*c, Policy{}));
        if (i != idx[2]) src.held[i] = *whole.Details(i);
    }
    // Each vault funded in a block.
    std::vector<OutPoint> deposits;
    for (uint8_t k = 0; k < 3; ++k) {
        MutableTransaction d;
        d.version = 2;
        d.vin.push_back(TxIn{OutPoint{Txid::FromUint256(crypto::Sha256Once(Bytes{k})), 0}, {}, 0xfffffffd, {}});
        d.vout.push_back(TxOut{Amount{100'000}, whole.Details(idx[k])->opvault->ScriptPubKey()});
        const Transaction tx{d};
        ApplyEvents(reg, MatchTx(tx, reg, 100));
        deposits.push_back(OutPoint{tx.GetTxid(), 0});
    }
    (void)reg.TakeDetailError();
    TriggerRequest req;
    req.deposit = deposits[0];
    req.deposit_value = Amount{100'000};
    req.ctv_hash = crypto::Sha256Once(Bytes{9});
    auto trig = BuildTrigger(*whole.Details(idx[0])->opvault, req, f.trigger);
    ASSERT_TRUE(trig);
    const auto ev = MatchTx(Transaction{*trig}, reg, 101);
    ASSERT_EQ(ev.size(), 1u);
    ApplyEvents(reg, ev);
    auto plans = PlanRecovery(reg, ev[0]);
    ASSERT_TRUE(plans) << ToString(plans.error().error);
    std::set<OutPoint> swept;
    for (const auto& p : *plans) {
        for (const auto& in : p.tx.vin) swept.insert(in.prevout);
    }
    EXPECT_TRUE(swept.contains(ev[0].outpoint)) << "the trigger output";
    EXPECT_TRUE(swept.contains(deposits[1])) << "a readable group mate";
    EXPECT_FALSE(swept.contains(deposits[2])) << "the unreadable one cannot be spent without its registration";
    const auto e = reg.TakeDetailError();
    ASSERT_TRUE(e) << "the registry says which vault could not be read";
    EXPECT_FALSE(e->transient);
}

} // namespace vw::vault
