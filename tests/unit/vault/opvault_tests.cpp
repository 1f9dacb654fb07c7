// BIP-345 logic against tests/data/testvectors/opvault-regtest.json (node-validated regtest txs),
// read at run time. Every number compared here comes from that file or is recomputed.

#include "vault/opvault.h"

#include "script/ctv.h"
#include "script/script.h"
#include "script/taproot.h"
#include "unit/vault/opvault_test_util.h"

#include <gtest/gtest.h>

namespace vw::vault {
namespace {

using namespace testutil;

constexpr std::string_view HRP = "bcrt";

TEST(opvault_tests, EveryVaultRecordIsReproduced)
{
    size_t vaults = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& rec : sc.at("vaults").as_array()) {
            SCOPED_TRACE(Str(rec.at("vault_id")));
            const VaultSpec spec = SpecFromRecord(rec);
            EXPECT_EQ(HexStr(spec.recovery_spk), Str(rec.at("recovery_spk")));
            EXPECT_EQ(RecoverySpkHash(spec.recovery_spk).Hex(), Str(rec.at("recovery_spk_hash")));
            EXPECT_EQ(AddressForSpk(spec.recovery_spk, HRP), Str(rec.at("recovery_address")));
            auto v = Vault::FromSpec(spec);
            ASSERT_TRUE(v.has_value()) << v.error();
            EXPECT_EQ(v->MerkleRoot().Hex(), Str(rec.at("merkle_root")));
            EXPECT_EQ(taproot::TweakHash(spec.internal_key.span(), v->MerkleRoot()).Hex(), Str(rec.at("taptweak")));
            EXPECT_EQ(HexStr(v->OutputKey().xonly), Str(rec.at("output_key_xonly")));
            EXPECT_EQ(v->OutputKey().parity, I(rec.at("output_key_parity")));
            EXPECT_EQ(HexStr(v->ScriptPubKey()), Str(rec.at("vault_spk")));
            EXPECT_EQ(v->Address(HRP), Str(rec.at("vault_address")));
            EXPECT_EQ(v->RecoverySpkHashValue().Hex(), Str(rec.at("recovery_spk_hash")));
            const auto& leaves = rec.at("leaves").as_array();
            ASSERT_EQ(leaves.size(), v->tree().leaves().size());
            for (size_t i = 0; i < leaves.size(); ++i) {
                EXPECT_EQ(HexStr(v->tree().leaves()[i].script), Str(leaves[i].at("script")));
                EXPECT_EQ(v->tree().LeafHashAt(i).Hex(), Str(leaves[i].at("tapleaf_hash")));
                EXPECT_EQ(HexStr(v->ControlBlockFor(i).Serialize()), Str(leaves[i].at("control_block")));
            }
            // Leaf recognition from the recorded bytes.
            const Bytes rscript = H(leaves[v->recover_index()].at("script"));
            auto rl = ParseRecoverLeaf(rscript);
            ASSERT_TRUE(rl.has_value());
            EXPECT_EQ(rl->authorized, !rec.at("recovery_auth_key").is_null());
            if (rl->authorized) {
                ASSERT_TRUE(rl->auth_key.has_value());
                EXPECT_EQ(HexStr(rl->auth_key->bytes()), Str(rec.at("recovery_auth_key").at("xonly")));
            }
            ASSERT_EQ(v->trigger_indices().size(), 1u);
            auto tl = ParseTriggerLeaf(H(leaves[v->trigger_indices()[0]].at("script")));
            ASSERT_TRUE(tl.has_value());
            EXPECT_EQ(tl->spend_delay, I(rec.at("spend_delay")));
            EXPECT_EQ(tl->push_count, 2);
            EXPECT_EQ(tl->WitnessItemCount(), 1u);
            ASSERT_TRUE(tl->trigger_key.has_value());
            EXPECT_EQ(HexStr(tl->trigger_key->bytes()), Str(rec.at("trigger_key").at("xonly")));
            EXPECT_TRUE(Equal(tl->body, CTV_WITHDRAW_BODY));
            ++vaults;
        }
    }
    EXPECT_GT(vaults, 0u);
}

//! Checks one trigger output record against our derivation.
void CheckTriggerOutputRecord(const json::value& to, const TriggerOutputTree& t)
{
    EXPECT_EQ(HexStr(t.script_pubkey), Str(to.at("scriptPubKey")));
    EXPECT_EQ(AddressForSpk(t.script_pubkey, HRP), Str(to.at("address")));
    EXPECT_EQ(t.tree.MerkleRoot().Hex(), Str(to.at("merkle_root")));
    EXPECT_EQ(HexStr(t.output_key.xonly), Str(to.at("output_key_xonly")));
    EXPECT_EQ(t.output_key.parity, I(to.at("output_key_parity")));
    for (const auto& l : to.at("leaves").as_array()) {
        const std::string name = Str(l.at("name"));
        const size_t i = name == "recover" ? t.recover_index : t.withdraw_index;
        EXPECT_TRUE(name == "recover" || name == "withdraw") << name;
        EXPECT_EQ(HexStr(t.tree.leaves()[i].script), Str(l.at("script")));
        EXPECT_EQ(t.tree.LeafHashAt(i).Hex(), Str(l.at("tapleaf_hash")));
        EXPECT_EQ(HexStr((name == "recover" ? t.recover_cb : t.withdraw_cb).Serialize()), Str(l.at("control_block")));
    }
}

TEST(opvault_tests, EveryTriggerIsParsedAndItsOutputDerived)
{
    size_t triggers = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            if (Str(st.at("step")) != "trigger") continue;
            SCOPED_TRACE(Str(sc.at("id")) + " " + Str(st.at("txid")));
            const Transaction tx = Tx(st.at("hex"));
            EXPECT_EQ(tx.GetTxid().ToString(), Str(st.at("txid")));
            const std::vector<TxOut> prevouts = Prevouts(st.at("prevouts"));
            ASSERT_EQ(prevouts.size(), tx.vin().size());
            EXPECT_TRUE(CheckTriggerTx(tx, prevouts).has_value());
            for (const auto& in : st.at("inputs").as_array()) {
                if (Str(in.at("role")) != "vault") continue;
                const size_t n = static_cast<size_t>(I(in.at("n")));
                const json::value* rec = FindVault(sc, Str(in.at("vault_id")));
                ASSERT_NE(rec, nullptr);
                const Vault vault = VaultFromRecord(*rec);
                ASSERT_EQ(HexStr(prevouts[n].script_pubkey), HexStr(vault.ScriptPubKey()));
                auto c = ClassifyInput(tx, n, prevouts[n], vault);
                ASSERT_TRUE(c.has_value()) << ToString(c.error());
                ASSERT_EQ(c->kind, SpendKind::Trigger);
                const TriggerSpend& ts = *c->trigger;
                EXPECT_EQ(ts.witness.trigger_vout_idx, I(in.at("trigger_vout_index")));
                EXPECT_EQ(ts.witness.revault_vout_idx, I(in.at("revault_vout_index")));
                EXPECT_EQ(ts.witness.revault_amount, I(in.at("revault_amount_sats")));
                EXPECT_EQ(ts.witness.trigger_vout_idx, I(st.at("trigger_vout_index")));
                EXPECT_EQ(ts.spend_delay, I(rec->at("spend_delay")));
                ASSERT_EQ(ts.witness.leaf_update_items.size(), 1u);
                ASSERT_EQ(ts.witness.auth_witness.size(), 1u); // the trigger signature
                // Find the trigger_outputs[] record for our trigger vout.
                const json::value* to = nullptr;
                for (const auto& o : st.at("trigger_outputs").as_array()) {
                    if (I(o.at("vout")) == ts.witness.trigger_vout_idx) to = &o;
                }
                ASSERT_NE(to, nullptr);
                EXPECT_EQ(HexStr(ts.witness.leaf_update_items[0]), Str(to->at("target_ctv_hash")));
                EXPECT_EQ(HexStr(ts.trigger_key.xonly), Str(to->at("output_key_xonly")));
                EXPECT_EQ(ts.trigger_key.parity, I(to->at("output_key_parity")));
                EXPECT_EQ(I(to->at("value_sats")), tx.vout()[ts.witness.trigger_vout_idx].value.sats());
                auto tree = vault.TriggerOutput(ts.leaf_index, ts.leaf_update_script);
                ASSERT_TRUE(tree.has_value());
                EXPECT_EQ(HexStr(tree->tree.leaves()[tree->withdraw_index].script), HexStr(ts.leaf_update_script));
                CheckTriggerOutputRecord(*to, *tree);
                // The withdraw leaf reads back, and the CTV hash is the template's.
                auto wl = ParseWithdrawLeaf(ts.leaf_update_script);
                ASSERT_TRUE(wl.has_value());
                EXPECT_EQ(wl->spend_delay, I(to->at("spend_delay")));
                const auto& tmpl = to->at("withdrawal_template");
                MutableTransaction t;
                t.version = static_cast<int32_t>(I(tmpl.at("nVersion")));
                t.locktime = static_cast<uint32_t>(I(tmpl.at("nLockTime")));
                t.vin.resize(static_cast<size_t>(I(tmpl.at("input_count"))));
                for (auto& vin : t.vin) vin.sequence = static_cast<uint32_t>(I(tmpl.at("nSequence")));
                for (const auto& o : tmpl.at("outputs").as_array()) t.vout.push_back(TxOut{Amount{I(o.at("value_sats"))}, H(o.at("scriptPubKey"))});
                EXPECT_EQ(ctv::TemplateHash(t, 0), wl->ctv_hash);
                // Revault output, if any, is the vault's own scriptPubKey.
                if (ts.witness.revault_vout_idx >= 0) {
                    EXPECT_EQ(tx.vout()[static_cast<size_t>(ts.witness.revault_vout_idx)].script_pubkey, vault.ScriptPubKey());
                }
                ++triggers;
            }
        }
    }
    EXPECT_GT(triggers, 0u);
    // Every trigger_outputs[] record was matched by at least one input.
    size_t records = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            if (Str(st.at("step")) == "trigger") records += st.at("trigger_outputs").as_array().size();
        }
    }
    EXPECT_GE(triggers, records);
}

TEST(opvault_tests, RecoveriesAndWithdrawalsAreClassified)
{
    size_t recoveries = 0, withdrawals = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            const std::string kind = Str(st.at("step"));
            if (kind != "recovery" && kind != "withdrawal") continue;
            SCOPED_TRACE(Str(sc.at("id")) + " " + kind);
            const Transaction tx = Tx(st.at("hex"));
            const std::vector<TxOut> prevouts = Prevouts(st.at("prevouts"));
            if (kind == "recovery") {
                EXPECT_TRUE(CheckRecoveryTx(tx, prevouts).has_value());
            }
            for (const auto& in : st.at("inputs").as_array()) {
                const size_t n = static_cast<size_t>(I(in.at("n")));
                const std::string role = Str(in.at("role"));
                if (role == "recover-from-vault" || role == "recover-from-trigger") {
                    const Vault vault = VaultFromRecord(*FindVault(sc, Str(in.at("vault_id"))));
                    auto c = ClassifyInput(tx, n, prevouts[n], vault);
                    ASSERT_TRUE(c.has_value()) << ToString(c.error());
                    ASSERT_EQ(c->kind, SpendKind::Recovery);
                    EXPECT_EQ(c->recovery->recovery_vout_idx, I(in.at("recovery_vout_index")));
                    EXPECT_EQ(c->recovery->from_trigger_output, role == "recover-from-trigger");
                    EXPECT_EQ(c->recovery->authorized, Str(sc.at("recovery_auth")) == "checksig");
                    ++recoveries;
                } else if (role == "withdraw-from-trigger") {
                    // The withdraw leaf is committed to by the prevout; CTV + CSV + BIP-68 pass at
                    // the height the node accepted it.
                    auto spend = StripAndSplit(tx.vin()[n].witness);
                    auto wl = ParseWithdrawLeaf(spend.first);
                    ASSERT_TRUE(wl.has_value());
                    auto cb = taproot::ParseControlBlock(spend.second);
                    ASSERT_TRUE(cb.has_value());
                    EXPECT_TRUE(taproot::VerifyScriptPath(*cb, spend.first, *taproot::P2TRProgram(prevouts[n].script_pubkey)));
                    EXPECT_EQ(wl->ctv_hash.Hex(), Str(st.at("target_ctv_hash")));
                    const json::value* trig = FindStepByTxid(sc, tx.vin()[n].prevout.txid.ToString());
                    ASSERT_NE(trig, nullptr);
                    EXPECT_TRUE(CheckWithdrawalTx(tx, n, wl->ctv_hash, wl->spend_delay, I(trig->at("mined_height")),
                                                  I(st.at("submitted_at_height")) + 1)
                                    .has_value());
                    // The withdraw leaf is not a leaf of the vault: the matcher sees "other".
                    const Vault vault = VaultFromRecord(*FindVault(sc, Str(in.at("vault_ids").as_array().at(0))));
                    auto c = ClassifyInput(tx, n, prevouts[n], vault);
                    ASSERT_TRUE(c.has_value());
                    EXPECT_EQ(c->kind, SpendKind::Other);
                    ++withdrawals;
                }
            }
        }
    }
    EXPECT_GT(recoveries, 0u);
    EXPECT_GT(withdrawals, 0u);
}

//! Which check applies to an invalid[] tx, from the leaves its witnesses reveal.
enum class CaseKind { Recovery, Trigger, Withdrawal, Unknown };
CaseKind KindOf(const Transaction& tx)
{
    for (const auto& in : tx.vin()) {
        if (in.witness.size() < 2) continue;
        const Bytes& leaf = in.witness[in.witness.size() - 2];
        if (ParseRecoverLeaf(leaf)) return CaseKind::Recovery;
        if (ParseTriggerLeaf(leaf)) return CaseKind::Trigger;
        if (ParseWithdrawLeaf(leaf)) return CaseKind::Withdrawal;
    }
    return CaseKind::Unknown;
}

// Every invalid[] case is rejected by our pure checks with the node's own reason text.
// Out of structural scope: none — bad signatures are covered by SchnorrVerify inside
// CheckRecoveryTx, CTV/CSV by CheckWithdrawalTx, and "too early" (non-BIP68-final) by the BIP-68
// maturity check, which needs the chain context (trigger's mined_height, tested_at_height) that
// the vector records; we pass those in from the file.
TEST(opvault_tests, EveryInvalidCaseIsRejectedWithTheNodesReason)
{
    size_t cases = 0;
    for (const auto& iv : Vectors().at("invalid").as_array()) {
        SCOPED_TRACE(Str(iv.at("id")));
        const Transaction tx = Tx(iv.at("hex"));
        EXPECT_EQ(tx.GetTxid().ToString(), Str(iv.at("txid")));
        const std::vector<TxOut> prevouts = Prevouts(iv.at("prevouts"));
        const std::string reason = Str(iv.at("reject_reason"));
        std::optional<TxCheckFailure> failure;
        switch (KindOf(tx)) {
        case CaseKind::Recovery:
            if (auto r = CheckRecoveryTx(tx, prevouts); !r) failure = r.error();
            break;
        case CaseKind::Trigger:
            if (auto r = CheckTriggerTx(tx, prevouts); !r) failure = r.error();
            break;
        case CaseKind::Withdrawal: {
            const json::value* sc = FindScenario(Str(iv.at("scenario")));
            ASSERT_NE(sc, nullptr);
            for (size_t n = 0; n < tx.vin().size() && !failure; ++n) {
                const auto& w = tx.vin()[n].witness;
                auto wl = ParseWithdrawLeaf(w.at(w.size() - 2));
                if (!wl) continue;
                const json::value* trig = FindStepByTxid(*sc, tx.vin()[n].prevout.txid.ToString());
                ASSERT_NE(trig, nullptr);
                auto r = CheckWithdrawalTx(tx, n, wl->ctv_hash, wl->spend_delay, I(trig->at("mined_height")),
                                           I(iv.at("tested_at_height")) + 1);
                if (!r) failure = r.error();
            }
            break;
        }
        case CaseKind::Unknown: ADD_FAILURE() << "no vault leaf in witness"; break;
        }
        ASSERT_TRUE(failure.has_value()) << "accepted an invalid tx: " << reason;
        EXPECT_NE(reason.find(std::string(ToString(failure->error))), std::string::npos)
            << "ours: " << ToString(failure->error) << " node: " << reason;
        ++cases;
    }
    EXPECT_EQ(cases, Vectors().at("invalid").as_array().size());
}

// --- misuse: typed errors, no crashes ---

TEST(opvault_tests, LeafParsersRejectGarbage)
{
    const Bytes empty;
    EXPECT_EQ(ParseRecoverLeaf(empty).error(), VaultError::EmptyScript);
    EXPECT_EQ(ParseTriggerLeaf(empty).error(), VaultError::EmptyScript);
    EXPECT_EQ(ParseWithdrawLeaf(empty).error(), VaultError::EmptyScript);
    const Bytes huge(MAX_LEAF_SCRIPT_SIZE + 1, script::OP_DROP);
    EXPECT_EQ(ParseRecoverLeaf(huge).error(), VaultError::ScriptTooLarge);
    EXPECT_EQ(ParseTriggerLeaf(huge).error(), VaultError::ScriptTooLarge);
    const Bytes truncated{0x20, 0x01, 0x02};
    EXPECT_EQ(ParseRecoverLeaf(truncated).error(), VaultError::TruncatedScript);
    EXPECT_EQ(ParseTriggerLeaf(truncated).error(), VaultError::TruncatedScript);
    const Bytes just_op{script::OP_VAULT_RECOVER};
    EXPECT_EQ(ParseRecoverLeaf(just_op).error(), VaultError::NotRecoverLeaf);
    const Bytes just_vault{script::OP_VAULT};
    EXPECT_EQ(ParseTriggerLeaf(just_vault).error(), VaultError::NotTriggerLeaf);
    // <negative push-count> <body> OP_VAULT
    Bytes neg;
    script::PushInt(neg, -1);
    script::PushData(neg, CTV_WITHDRAW_BODY);
    neg.push_back(script::OP_VAULT);
    EXPECT_EQ(ParseTriggerLeaf(neg).error(), VaultError::BadPushCount);
    // A 31-byte "hash" is not a recover leaf.
    Bytes short_hash;
    script::PushData(short_hash, Bytes(31, 0x11));
    short_hash.push_back(script::OP_VAULT_RECOVER);
    EXPECT_EQ(ParseRecoverLeaf(short_hash).error(), VaultError::NotRecoverLeaf);
}

TEST(opvault_tests, NonMinimalNumbersInLeavesAreReadLeniently)
{
    // `01 0a` instead of OP_10 for the delay and `01 02` for the push count: non-standard but
    // consensus-valid (MINIMALDATA is policy).
    Bytes s;
    s.push_back(0x01);
    s.push_back(0x0a);
    s.push_back(0x01);
    s.push_back(0x02);
    script::PushData(s, CTV_WITHDRAW_BODY);
    s.push_back(script::OP_VAULT);
    auto t = ParseTriggerLeaf(s);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->push_count, 2);
    EXPECT_EQ(t->spend_delay, 10);
    EXPECT_TRUE(t->auth_prefix.empty());
    EXPECT_FALSE(t->trigger_key.has_value());
}

TEST(opvault_tests, TriggerWitnessRangeRules)
{
    const auto& rec = Vectors().at("scenarios").as_array().at(0).at("vaults").as_array().at(0);
    const Vault vault = VaultFromRecord(rec);
    const TriggerLeaf& leaf = vault.trigger_leaf(0);
    const Bytes hash(32, 0x42);
    const Bytes script = vault.tree().leaves()[vault.trigger_indices()[0]].script;
    const Bytes cb = vault.ControlBlockFor(vault.trigger_indices()[0]).Serialize();
    auto W = [&](Bytes amount, Bytes revault, Bytes trig) {
        return std::vector<Bytes>{amount, revault, trig, hash, Bytes(64, 0x01), script, cb};
    };
    const Bytes none = script::EncodeScriptNum(-1);
    EXPECT_TRUE(ParseTriggerWitness(W({}, none, {}), leaf, 1).has_value());
    EXPECT_EQ(ParseTriggerWitness(W({}, none, script::EncodeScriptNum(1)), leaf, 1).error(), VaultError::BadTriggerIndex);
    EXPECT_EQ(ParseTriggerWitness(W({}, none, script::EncodeScriptNum(-1)), leaf, 1).error(), VaultError::BadTriggerIndex);
    EXPECT_EQ(ParseTriggerWitness(W({}, script::EncodeScriptNum(-2), {}), leaf, 1).error(), VaultError::BadRevaultIndex);
    EXPECT_EQ(ParseTriggerWitness(W({}, script::EncodeScriptNum(1), {}), leaf, 1).error(), VaultError::BadRevaultIndex);
    EXPECT_EQ(ParseTriggerWitness(W(script::EncodeScriptNum(5), none, {}), leaf, 2).error(), VaultError::BadRevaultAmount);
    EXPECT_EQ(ParseTriggerWitness(W({}, script::EncodeScriptNum(1), {}), leaf, 2).error(), VaultError::BadRevaultAmount);
    EXPECT_EQ(ParseTriggerWitness(W(script::EncodeScriptNum(-5), script::EncodeScriptNum(1), {}), leaf, 2).error(),
              VaultError::BadRevaultAmount);
    EXPECT_TRUE(ParseTriggerWitness(W(script::EncodeScriptNum(5), script::EncodeScriptNum(1), {}), leaf, 2).has_value());
    // 7-byte amounts are allowed, 8-byte ones are not.
    EXPECT_TRUE(ParseTriggerWitness(W(Bytes(7, 0x01), script::EncodeScriptNum(1), {}), leaf, 2).has_value());
    EXPECT_EQ(ParseTriggerWitness(W(Bytes(8, 0x01), script::EncodeScriptNum(1), {}), leaf, 2).error(), VaultError::BadNumber);
    EXPECT_EQ(ParseTriggerWitness(W({}, none, Bytes(5, 0x01)), leaf, 1).error(), VaultError::BadNumber);
    EXPECT_EQ(ParseTriggerWitness({}, leaf, 1).error(), VaultError::NoWitness);
    EXPECT_EQ(ParseTriggerWitness(std::vector<Bytes>{script, cb}, leaf, 1).error(), VaultError::NotEnoughItems);
    auto big = W({}, none, {});
    big[3] = Bytes(521, 0x00);
    EXPECT_EQ(ParseTriggerWitness(big, leaf, 1).error(), VaultError::ItemTooLarge);
    // An annex is stripped before locating script and control block.
    auto with_annex = W({}, none, {});
    with_annex.push_back(Bytes{taproot::ANNEX_TAG, 0x00});
    auto pa = ParseTriggerWitness(with_annex, leaf, 1);
    ASSERT_TRUE(pa.has_value());
    EXPECT_TRUE(pa->annex.has_value());
    EXPECT_EQ(pa->control_block, cb);
    // Leaf update with the wrong number of items.
    EXPECT_EQ(BuildLeafUpdateScript(leaf, {}).error(), VaultError::NotEnoughItems);
    // Garbage control blocks.
    EXPECT_EQ(DeriveTriggerOutputKey(Bytes{}, script).error(), VaultError::BadControlBlock);
    EXPECT_EQ(DeriveTriggerOutputKey(Bytes(34, 0xc0), script).error(), VaultError::BadControlBlock);
    EXPECT_EQ(CheckTriggerOutputSpk(crypto::TweakedKey{}, Bytes{0x00, 0x20}).error(), VaultError::TriggerOutputNotV1);
}

TEST(opvault_tests, PushAllRulesForLeafUpdateItems)
{
    TriggerLeaf leaf;
    leaf.push_count = 4;
    leaf.body = Bytes(CTV_WITHDRAW_BODY.begin(), CTV_WITHDRAW_BODY.end());
    // Witness items deepest first: empty -> OP_0, 0x05 -> OP_5, 0x81 -> OP_1NEGATE, 0x00 -> 01 00.
    const std::vector<Bytes> items{Bytes{}, Bytes{0x05}, Bytes{0x81}, Bytes{0x00}};
    auto s = BuildLeafUpdateScript(leaf, items);
    ASSERT_TRUE(s.has_value());
    Bytes want{script::OP_0, 0x55, script::OP_1NEGATE, 0x01, 0x00};
    want.insert(want.end(), CTV_WITHDRAW_BODY.begin(), CTV_WITHDRAW_BODY.end());
    EXPECT_EQ(*s, want);
}

TEST(opvault_tests, VaultSpecValidationMessages)
{
    const auto& rec = Vectors().at("scenarios").as_array().at(0).at("vaults").as_array().at(0);
    const VaultSpec good = SpecFromRecord(rec);
    ASSERT_TRUE(Vault::FromSpec(good).has_value());

    VaultSpec no_leaves = good;
    no_leaves.leaves.clear();
    EXPECT_FALSE(Vault::FromSpec(no_leaves).has_value());

    VaultSpec wrong_spk = good;
    wrong_spk.recovery_spk.back() ^= 1;
    auto e1 = Vault::FromSpec(wrong_spk);
    ASSERT_FALSE(e1.has_value());
    EXPECT_NE(e1.error().find("recovery sPK hash"), std::string::npos) << e1.error();

    VaultSpec two_recover = good;
    for (auto& l : two_recover.leaves) {
        if (ParseTriggerLeaf(l.script)) l.script = MakeRecoverLeaf(RecoverySpkHash(good.recovery_spk), good.recovery_auth_key);
    }
    auto e2 = Vault::FromSpec(two_recover);
    ASSERT_FALSE(e2.has_value());
    EXPECT_NE(e2.error().find("exactly one recover leaf"), std::string::npos) << e2.error();

    VaultSpec no_trigger = good;
    for (auto& l : no_trigger.leaves) {
        if (ParseTriggerLeaf(l.script)) l.script = Bytes{script::OP_1};
    }
    auto e3 = Vault::FromSpec(no_trigger);
    ASSERT_FALSE(e3.has_value());
    EXPECT_NE(e3.error().find("no trigger leaf"), std::string::npos) << e3.error();

    VaultSpec bad_depth = good;
    bad_depth.leaves[0].depth = 2;
    EXPECT_FALSE(Vault::FromSpec(bad_depth).has_value());

    VaultSpec auth_mismatch = good;
    auth_mismatch.recovery_auth_key = good.internal_key;
    EXPECT_FALSE(Vault::FromSpec(auth_mismatch).has_value());

    // A trigger leaf whose CHECKSIGVERIFY key is off the curve (x = 5): nobody could trigger it,
    // and the store's trusted reload must never meet one.
    VaultSpec off_curve = good;
    for (auto& l : off_curve.leaves) {
        if (auto t = ParseTriggerLeaf(l.script); t && t->trigger_key) {
            ASSERT_EQ(l.script[0], 0x20);
            std::fill(l.script.begin() + 1, l.script.begin() + 33, 0);
            l.script[32] = 5;
            EXPECT_FALSE(ParseTriggerLeaf(l.script)->trigger_key);
            EXPECT_TRUE(ParseTriggerLeaf(l.script, LeafKeys::Trusted)->trigger_key);
        }
    }
    auto e4 = Vault::FromSpec(off_curve);
    ASSERT_FALSE(e4.has_value());
    EXPECT_NE(e4.error().find("not on the curve"), std::string::npos) << e4.error();
}

TEST(opvault_tests, AKnownOutputKeyGivesTheSameVaultWithoutTheTweak)
{
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& rec : sc.at("vaults").as_array()) {
            auto checked = Vault::FromSpec(SpecFromRecord(rec));
            ASSERT_TRUE(checked) << checked.error();
            auto trusted = Vault::FromSpec(SpecFromRecord(rec), &checked->OutputKey());
            ASSERT_TRUE(trusted) << trusted.error();
            EXPECT_EQ(trusted->ScriptPubKey(), checked->ScriptPubKey());
            EXPECT_EQ(trusted->recover_leaf().auth_key, checked->recover_leaf().auth_key);
            ASSERT_EQ(trusted->trigger_indices(), checked->trigger_indices());
            for (size_t k = 0; k < checked->trigger_indices().size(); ++k) {
                EXPECT_EQ(trusted->trigger_leaf(k).trigger_key, checked->trigger_leaf(k).trigger_key);
            }
        }
    }
}

TEST(opvault_tests, ClassifyInputMisuse)
{
    const auto& rec = Vectors().at("scenarios").as_array().at(0).at("vaults").as_array().at(0);
    const Vault vault = VaultFromRecord(rec);
    MutableTransaction m;
    m.vin.resize(1);
    m.vout.push_back(TxOut{Amount{1}, vault.ScriptPubKey()});
    const Transaction no_witness(m);
    const TxOut prev{Amount{1}, vault.ScriptPubKey()};
    EXPECT_EQ(ClassifyInput(no_witness, 0, prev, vault).error(), VaultError::NoWitness);
    EXPECT_EQ(ClassifyInput(no_witness, 1, prev, vault).error(), VaultError::InputOutOfRange);
    m.vin[0].witness = {Bytes(64, 0x01)};
    EXPECT_EQ(ClassifyInput(Transaction(m), 0, prev, vault)->kind, SpendKind::KeyPath);
    m.vin[0].witness = {Bytes{0x51}, Bytes(33, 0xc0)};
    EXPECT_EQ(ClassifyInput(Transaction(m), 0, prev, vault)->kind, SpendKind::Other);
    // The recover leaf with an out-of-range index.
    const size_t ri = vault.recover_index();
    m.vin[0].witness = {script::EncodeScriptNum(3), vault.tree().leaves()[ri].script, vault.ControlBlockFor(ri).Serialize()};
    EXPECT_EQ(ClassifyInput(Transaction(m), 0, prev, vault).error(), VaultError::BadRecoveryIndex);
    // The trigger leaf with a truncated witness.
    const size_t ti = vault.trigger_indices()[0];
    m.vin[0].witness = {Bytes{}, vault.tree().leaves()[ti].script, vault.ControlBlockFor(ti).Serialize()};
    EXPECT_EQ(ClassifyInput(Transaction(m), 0, prev, vault).error(), VaultError::NotEnoughItems);
}

} // namespace
} // namespace vw::vault
