// BIP-443 (OP_CHECKCONTRACTVERIFY) vaults against tests/data/testvectors/ccv-regtest.json: real
// transactions a CCV-enforcing node accepted or refused, read at run time. Every number compared
// here comes from that file or is recomputed.

#include "vault/ccv.h"

#include "script/taproot.h"
#include "util/hex.h"
#include "unit/vault/ccv_test_util.h"
#include "vault/opvault.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace vw::vault::ccv {
namespace {

using namespace testutil;

Params ParamsOf(const json::value& rec)
{
    const auto& p = rec.at("params");
    Params r{*ParseConstruction(Str(rec.at("construction"))), std::nullopt, I(p.at("spend_delay")),
             XOnly(p.at("recover_pk")), XOnly(p.at("unvault_pk"))};
    if (!p.at("alternate_pk").is_null()) r.alternate_key = XOnly(p.at("alternate_pk"));
    r.partial_revault = p.at("has_partial_revault").as_bool();
    r.early_recover = p.at("has_early_recover").as_bool();
    return r;
}

//! Every vault of the file built from its parameters (those Validate accepts).
struct Book {
    std::map<std::string, Vault> by_id;
    //! scriptPubKey -> (vault id, unvaulting data if it is an unvaulting output), from the vaults
    //! and from every recorded unvaulting output.
    std::map<Bytes, std::pair<std::string, std::optional<Bytes>>> by_spk;
    std::map<std::string, int64_t> mined_height; //!< txid -> height
};
const Book& TheBook()
{
    static const Book book = [] {
        Book b;
        for (const auto& rec : Vectors().at("vaults").as_array()) {
            // Derive, not FromParams: the alternate-key vaults' spends are recognised too.
            auto v = Vault::Derive(ParamsOf(rec));
            EXPECT_TRUE(v) << Str(rec.at("id"));
            if (!v) continue;
            b.by_spk[v->ScriptPubKey()] = {Str(rec.at("id")), std::nullopt};
            b.by_id.emplace(Str(rec.at("id")), std::move(*v));
        }
        for (const auto& sc : Vectors().at("scenarios").as_array()) {
            for (const auto& st : sc.at("steps").as_array()) {
                if (st.as_object().contains("mined_height") && !st.at("mined_height").is_null()) {
                    b.mined_height[Str(st.at("txid"))] = I(st.at("mined_height"));
                }
                for (const auto& o : st.at("outputs").as_array()) {
                    if (Str(o.at("role")) != "unvaulting") continue;
                    b.by_spk[H(o.at("scriptPubKey"))] = {Str(o.at("vault_ids").as_array().at(0)), H(o.at("data"))};
                }
            }
        }
        return b;
    }();
    return book;
}

//! What each input of a recorded tx spends, resolved by its prevout's scriptPubKey.
std::vector<SpentOutput> Resolve(const json::value& prevouts)
{
    const Book& b = TheBook();
    std::vector<SpentOutput> r;
    for (const auto& p : prevouts.as_array()) {
        SpentOutput s;
        auto it = b.by_spk.find(H(p.at("scriptPubKey")));
        if (it != b.by_spk.end()) {
            s.vault = &b.by_id.at(it->second.first);
            s.unvaulting_data = it->second.second;
            auto h = b.mined_height.find(Str(p.at("txid")));
            if (h != b.mined_height.end()) s.confirm_height = h->second;
        }
        r.push_back(std::move(s));
    }
    return r;
}

TEST(ccv_tests, EveryVaultIsDerivedFromItsParameters)
{
    size_t n = 0, refused = 0;
    for (const auto& rec : Vectors().at("vaults").as_array()) {
        SCOPED_TRACE(Str(rec.at("id")));
        const Params p = ParamsOf(rec);
        // Leaves first, from the parameters alone: they hold for every vault of the file.
        auto unv = taproot::TapTree::FromLeaves({{MakeWithdrawLeaf(p), 1}, {MakeRecoverLeaf(p.recover_key), 1}});
        ASSERT_TRUE(unv);
        const auto& ul = rec.at("unvaulting").at("leaves").as_array();
        ASSERT_EQ(ul.size(), 2u);
        EXPECT_EQ(HexStr(unv->leaves()[0].script), Str(ul[0].at("script")));
        EXPECT_EQ(HexStr(unv->leaves()[1].script), Str(ul[1].at("script")));
        EXPECT_EQ(unv->MerkleRoot().Hex(), Str(rec.at("unvaulting").at("merkle_root")));

        auto guarded = Vault::FromParams(p);
        if (p.alternate_key) {
            // A real key where NUMS belongs is a key path around the vault: refused, and said so.
            ASSERT_FALSE(guarded);
            EXPECT_NE(guarded.error().find("key path"), std::string::npos) << guarded.error();
            ++refused;
        } else {
            ASSERT_TRUE(guarded) << guarded.error();
        }
        auto v = Vault::Derive(p);
        ASSERT_TRUE(v) << v.error();
        ++n;
        EXPECT_EQ(HexStr(v->NakedKey().span()), Str(rec.at("naked_key")));
        const auto& leaves = rec.at("leaves").as_array();
        ASSERT_EQ(leaves.size(), v->tree().leaves().size());
        for (size_t i = 0; i < leaves.size(); ++i) {
            const Clause c = i == 0 ? Clause::Trigger
                                    : (Str(leaves[i].at("name")) == "recover" ? Clause::Recover : Clause::TriggerAndRevault);
            SCOPED_TRACE(std::string(ToString(c)));
            EXPECT_EQ(Str(leaves[i].at("name")), ToString(c));
            ASSERT_EQ(v->LeafIndex(c), i);
            EXPECT_EQ(HexStr(v->tree().leaves()[i].script), Str(leaves[i].at("script")));
            EXPECT_EQ(v->tree().LeafHashAt(i).Hex(), Str(leaves[i].at("tapleaf_hash")));
            EXPECT_EQ(HexStr(v->ControlBlockFor(c).Serialize()), Str(leaves[i].at("control_block")));
        }
        EXPECT_EQ(v->tree().MerkleRoot().Hex(), Str(rec.at("merkle_root")));
        EXPECT_EQ(HexStr(ByteSpan{v->OutputKey().xonly.data(), 32}), Str(rec.at("output_key")));
        EXPECT_EQ(v->OutputKey().parity, I(rec.at("output_key_parity")));
        EXPECT_EQ(HexStr(v->ScriptPubKey()), Str(rec.at("vault_spk")));
        EXPECT_EQ(v->Address("bcrt"), Str(rec.at("address")));
    }
    EXPECT_GE(n, 10u);      // both constructions, four shapes each, and an alternate key
    EXPECT_GE(refused, 1u); // the alternate-key vaults
}

TEST(ccv_tests, EveryAcceptedSpendIsRecognisedAndPassesTheChecks)
{
    std::map<std::string, size_t> seen;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            const std::string kind = Str(st.at("kind"));
            SCOPED_TRACE(Str(sc.at("id")) + "/" + kind + " " + Str(st.at("txid")));
            const Transaction tx = Tx(st.at("hex"));
            EXPECT_EQ(tx.GetTxid().ToString(), Str(st.at("txid")));
            if (kind == "deposit") continue;
            const auto spent = Resolve(st.at("prevouts"));
            const auto& inputs = st.at("inputs").as_array();
            ASSERT_EQ(inputs.size(), tx.vin().size());
            for (size_t i = 0; i < inputs.size(); ++i) {
                const auto& in = inputs[i];
                if (in.at("clause").is_null()) {
                    if (kind == "keypath_spend") {
                        // The alternate key's path around every clause: seen as no clause at all.
                        ASSERT_NE(spent[i].vault, nullptr);
                        auto sp = ClassifyVaultSpend(tx.vin()[i].witness, *spent[i].vault, tx.vout().size(), i);
                        ASSERT_FALSE(sp);
                        EXPECT_EQ(sp.error(), CcvError::NotScriptPath);
                    } else {
                        EXPECT_EQ(spent[i].vault, nullptr);
                    }
                    continue;
                }
                ASSERT_NE(spent[i].vault, nullptr) << "input " << i << " spends no known vault output";
                const std::string clause = Str(in.at("clause"));
                auto sp = spent[i].unvaulting_data
                              ? ClassifyUnvaultingSpend(tx.vin()[i].witness, *spent[i].vault, tx.vout().size(), i)
                              : ClassifyVaultSpend(tx.vin()[i].witness, *spent[i].vault, tx.vout().size(), i);
                ASSERT_TRUE(sp) << ToString(sp.error());
                EXPECT_EQ(ToString(sp->clause), clause);
                ++seen[clause];
                const auto& args = in.at("args");
                if (sp->trigger) {
                    EXPECT_EQ(HexStr(sp->trigger->data), Str(args.at("data")));
                    EXPECT_EQ(sp->trigger->out_i, I(args.at("out_i")));
                    if (sp->trigger->revault_out_i) {
                        EXPECT_EQ(*sp->trigger->revault_out_i, I(args.at("revault_out_i")));
                    }
                    // The unvaulting output is where the witness says, with the recorded keys.
                    auto u = spent[i].vault->UnvaultingFor(sp->trigger->data);
                    ASSERT_TRUE(u);
                    const auto& o = st.at("outputs").as_array().at(sp->trigger->out_i);
                    EXPECT_EQ(Str(o.at("role")), "unvaulting");
                    EXPECT_EQ(HexStr(u->spk), Str(o.at("scriptPubKey")));
                    EXPECT_EQ(HexStr(ByteSpan{u->internal_key.xonly.data(), 32}), Str(o.at("internal_key")));
                    EXPECT_EQ(HexStr(ByteSpan{u->output_key.xonly.data(), 32}), Str(o.at("output_key")));
                } else if (sp->clause == Clause::Recover) {
                    EXPECT_EQ(sp->recover_out_i, I(args.at("out_i")));
                    EXPECT_EQ(tx.vout().at(sp->recover_out_i).script_pubkey, spent[i].vault->RecoverySpk());
                }
            }
            const int64_t next = st.as_object().contains("mined_height") && !st.at("mined_height").is_null()
                                     ? I(st.at("mined_height"))
                                     : std::numeric_limits<int32_t>::max();
            auto ok = CheckTx(tx, Prevouts(st.at("prevouts")), spent, next);
            EXPECT_TRUE(ok) << ToString(ok.error().rule) << " at input " << ok.error().input;
        }
    }
    for (const char* c : {"trigger", "trigger_and_revault", "recover", "withdraw"}) EXPECT_GE(seen[c], 2u) << c;
}

TEST(ccv_tests, EveryRecoveryIsRebuiltByteForByte)
{
    size_t rebuilt = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        for (const auto& st : sc.at("steps").as_array()) {
            if (Str(st.at("kind")) != "recover") continue;
            SCOPED_TRACE(Str(sc.at("id")) + " " + Str(st.at("txid")));
            const Transaction tx = Tx(st.at("hex"));
            const auto spent = Resolve(st.at("prevouts"));
            const auto prevouts = Prevouts(st.at("prevouts"));
            std::vector<RecoverInput> ins;
            RecoveryOptions opts;
            opts.sequence = tx.vin().at(0).sequence;
            opts.version = tx.version();
            opts.locktime = tx.locktime();
            for (size_t i = 0; i < tx.vin().size(); ++i) {
                if (spent[i].vault) ins.push_back({tx.vin()[i].prevout, prevouts[i], spent[i].vault, spent[i].unvaulting_data});
                else opts.fee_inputs.push_back({tx.vin()[i].prevout, prevouts[i], tx.vin()[i].witness});
            }
            std::optional<TxOut> change;
            for (const auto& o : st.at("outputs").as_array()) {
                if (Str(o.at("role")) == "change") change = tx.vout().at(static_cast<size_t>(I(o.at("vout"))));
            }
            auto built = BuildRecover(ins, change, opts);
            ASSERT_TRUE(built) << ToString(built.error());
            EXPECT_EQ(HexStr(SerializeTransaction(*built)), Str(st.at("hex")));
            ++rebuilt;
        }
    }
    EXPECT_GE(rebuilt, 6u);
}

TEST(ccv_tests, EveryRefusedVaultSpendIsFlagged)
{
    // The node's reason, and the rule of ours that says the same.
    const std::vector<std::pair<std::string, TxRule>> words{
        {"Mismatching contract data or program", TxRule::ContractMismatch},
        {"Incorrect amount for OP_CHECKCONTRACTVERIFY", TxRule::WrongAmount},
        {"Invalid Schnorr signature", TxRule::BadSignature},
        {"non-BIP68-final", TxRule::NotBip68Final},
        {"OP_CHECKTEMPLATEVERIFY", TxRule::CtvMismatch},
    };
    size_t flagged = 0;
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        SCOPED_TRACE(Str(inv.at("id")));
        const std::string reason = Str(inv.at("reject_reason"));
        std::optional<TxRule> want;
        for (const auto& [w, r] : words) {
            if (reason.find(w) != std::string::npos) want = r;
        }
        if (!want) continue; // not a vault rule (e.g. the undefined-mode hazard's policy refusal)
        const Transaction tx = Tx(inv.at("hex"));
        const auto spent = Resolve(inv.at("prevouts"));
        auto r = CheckTx(tx, Prevouts(inv.at("prevouts")), spent, I(inv.at("tested_at_height")) + 1);
        ASSERT_FALSE(r) << reason;
        EXPECT_EQ(r.error().rule, *want) << "we say " << ToString(r.error().rule) << ", the node: " << reason;
        ++flagged;
    }
    EXPECT_GE(flagged, 10u);
}

TEST(ccv_tests, ALeafWithAnUndefinedModeIsAHazard)
{
    size_t n = 0;
    for (const auto& hz : Vectors().at("hazards").as_array()) {
        SCOPED_TRACE(Str(hz.at("id")));
        const Bytes leaf = H(hz.at("contract").at("leaf_script"));
        auto why = LeafHazard(leaf);
        ASSERT_TRUE(why);
        EXPECT_NE(why->find("anyone can spend"), std::string::npos) << *why;
        ++n;
    }
    EXPECT_GE(n, 1u);
    // Every leaf of every recorded vault is free of it.
    for (const auto& rec : Vectors().at("vaults").as_array()) {
        for (const auto& l : rec.at("leaves").as_array()) EXPECT_FALSE(LeafHazard(H(l.at("script"))));
        for (const auto& l : rec.at("unvaulting").at("leaves").as_array()) EXPECT_FALSE(LeafHazard(H(l.at("script"))));
    }
    // A mode computed at run time cannot be checked: refused too.
    EXPECT_TRUE(LeafHazard(Bytes{0x00, 0x00, 0x00, 0x00, 0x7c, OP_CHECKCONTRACTVERIFY}));
}

TEST(ccv_tests, TheProbeTellsANodeThatEnforcesCcvFromOnesThatDoNot)
{
    std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/testvectors/ccv-probe.json");
    std::stringstream ss;
    ss << f.rdbuf();
    const json::value records = json::parse(ss.str());
    std::map<std::string, Enforcement> verdict;
    for (const auto& r : records.as_array()) {
        SCOPED_TRACE(Str(r.at("label")));
        const auto& pr = r.at("probe");
        const Probe probe = MakeProbe(XOnly(pr.at("dest")));
        EXPECT_EQ(HexStr(probe.leaf), Str(pr.at("leaf")));
        EXPECT_EQ(HexStr(probe.spk), Str(pr.at("scriptPubKey")));
        const OutPoint at{*Txid::FromHex(Str(pr.at("funding_txid"))), static_cast<uint32_t>(I(pr.at("vout")))};
        const Amount value{I(pr.at("value_sats"))}, fee{I(pr.at("fee_sats"))};
        // Our spends are the ones the node judged, byte for byte.
        EXPECT_EQ(HexStr(SerializeTransaction(ProbeSpend(probe, at, value, fee, XOnly(pr.at("dest"))))), Str(r.at("valid").at("hex")));
        EXPECT_EQ(HexStr(SerializeTransaction(ProbeSpend(probe, at, value, fee, XOnly(pr.at("other"))))), Str(r.at("violating").at("hex")));
        auto answer = [](const json::value& t) {
            const auto& o = t.at("testmempoolaccept").as_object();
            return ProbeAnswer{o.at("allowed").as_bool(), o.contains("reject-reason") ? Str(o.at("reject-reason")) : ""};
        };
        verdict[Str(r.at("label"))] = JudgeProbe(answer(r.at("valid")), answer(r.at("violating")));
    }
    EXPECT_EQ(verdict.at("ccv-node"), Enforcement::Enforced);
    EXPECT_EQ(verdict.at("ccv-node-acceptnonstdtxn"), Enforcement::Enforced);
    // The BIP-345 prototype reads 0xbb as OP_VAULT and refuses both spends.
    EXPECT_EQ(verdict.at("opvault-node"), Enforcement::NotEnforced);
    // A node that lets both through (0xbb as OP_SUCCESS, no policy) or refuses both for another
    // reason (v31's policy against OP_SUCCESS) does not enforce CCV.
    EXPECT_EQ(JudgeProbe({true, ""}, {true, ""}), Enforcement::NotEnforced);
    EXPECT_EQ(JudgeProbe({false, "mempool-script-verify-flag-failed (OP_SUCCESSx reserved for soft-fork upgrades)"},
                         {false, "mempool-script-verify-flag-failed (OP_SUCCESSx reserved for soft-fork upgrades)"}),
              Enforcement::NotEnforced);
    EXPECT_EQ(JudgeProbe({true, ""}, {false, "min relay fee not met"}), Enforcement::NotEnforced);
}

//! The recorded trigger step of scenario id (its first trigger), with its input 0's out_i item
//! replaced by item: the signature commits to no witness, so the node takes it as well.
std::pair<Transaction, const json::value*> TriggerWithOutIndex(const std::string& scenario, Bytes item)
{
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("id")) != scenario) continue;
        for (const auto& st : sc.at("steps").as_array()) {
            if (Str(st.at("kind")) != "trigger") continue;
            MutableTransaction m = Tx(st.at("hex")).mutable_copy();
            m.vin.at(0).witness.at(2) = std::move(item); // [sig, data, out_i, leaf, cb]
            return {Transaction{std::move(m)}, &st};
        }
    }
    throw std::runtime_error("no trigger in " + scenario);
}

TEST(ccv_tests, AThiefsTriggerNamingItsOutputByMinusOneIsStillATrigger)
{
    // BIP-443: index -1 is the current input's index, outputs included. A thief whose vault input
    // and unvaulting output share an index may write -1 (0x81); the node takes it (the simulator's
    // independent interpreter records that: CcvInterp.MinusOneOutputIndexIsTheInputsOwnIndex).
    for (const char* sc : {"wk-withdraw", "ctv-withdraw"}) {
        SCOPED_TRACE(sc);
        auto [tx, st] = TriggerWithOutIndex(sc, Bytes{0x81});
        const auto spent = Resolve(st->at("prevouts"));
        ASSERT_NE(spent[0].vault, nullptr);
        auto sp = ClassifyVaultSpend(tx.vin()[0].witness, *spent[0].vault, tx.vout().size(), 0);
        ASSERT_TRUE(sp) << ToString(sp.error());
        ASSERT_TRUE(sp->trigger);
        EXPECT_EQ(sp->trigger->out_i, 0u);
        auto ok = CheckTx(tx, Prevouts(st->at("prevouts")), spent, I(st->at("mined_height")));
        EXPECT_TRUE(ok) << ToString(ok.error().rule);
        // A non-minimal 0 is the same number in a block (MINIMALDATA is policy).
        auto [tx0, st0] = TriggerWithOutIndex(sc, Bytes{0x00});
        auto sp0 = ClassifyVaultSpend(tx0.vin()[0].witness, *spent[0].vault, tx0.vout().size(), 0);
        ASSERT_TRUE(sp0);
        EXPECT_EQ(sp0->trigger->out_i, 0u);
        // -1 from input 1 names output 1, which is not there: not a trigger any node takes.
        EXPECT_FALSE(ClassifyVaultSpend(tx.vin()[0].witness, *spent[0].vault, 1, 1));
    }
}

TEST(ccv_tests, CheckTxHoldsTheControlBlockToTheSpentOutput)
{
    auto [tx, st] = TriggerWithOutIndex("wk-withdraw", Bytes{});
    MutableTransaction m = tx.mutable_copy();
    m.vin[0].witness.back().back() ^= 1; // the last byte of the merkle path
    const Transaction bad{m};
    auto r = CheckTx(bad, Prevouts(st->at("prevouts")), Resolve(st->at("prevouts")), I(st->at("mined_height")));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().rule, TxRule::WitnessProgramMismatch);
}

TEST(ccv_tests, CheckTxFailsWhereTheNodeFailsFirst)
{
    // A trigger 1 sat short with a bad signature too: CCV's amount check runs before CHECKSIG.
    for (const auto& inv : Vectors().at("invalid").as_array()) {
        if (Str(inv.at("id")) != "wk-trigger-1-sat-short") continue;
        MutableTransaction m = Tx(inv.at("hex")).mutable_copy();
        m.vin[0].witness[0][5] ^= 1;
        auto r = CheckTx(Transaction{m}, Prevouts(inv.at("prevouts")), Resolve(inv.at("prevouts")), I(inv.at("tested_at_height")) + 1);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().rule, TxRule::WrongAmount);
        return;
    }
    FAIL() << "no wk-trigger-1-sat-short vector";
}

TEST(ccv_tests, AmountsFollowBip443)
{
    const std::vector<Amount> in{Amount{100}, Amount{50}};
    // Two inputs paying one output in default mode: the output holds at least the sum.
    EXPECT_TRUE(CheckAmounts(in, std::vector<Amount>{Amount{150}}, std::vector<AmountCheck>{{0, 0, 0}, {1, 0, 0}}));
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{149}}, std::vector<AmountCheck>{{0, 0, 0}, {1, 0, 0}}));
    // Deduct then default: the residual goes on; deduct more than the input fails.
    const std::vector<Amount> out{Amount{30}, Amount{70}};
    EXPECT_TRUE(CheckAmounts(in, out, std::vector<AmountCheck>{{0, 0, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT}, {0, 1, 0}}));
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{30}, Amount{69}},
                              std::vector<AmountCheck>{{0, 0, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT}, {0, 1, 0}}));
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{101}}, std::vector<AmountCheck>{{0, 0, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT}}));
    // One output checked with both semantics fails either way round.
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{200}},
                              std::vector<AmountCheck>{{0, 0, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT}, {1, 0, 0}}));
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{200}},
                              std::vector<AmountCheck>{{0, 0, 0}, {1, 0, MODE_CHECK_OUTPUT_DEDUCT_AMOUNT}}));
    // An index past the outputs fails.
    EXPECT_FALSE(CheckAmounts(in, std::vector<Amount>{Amount{200}}, std::vector<AmountCheck>{{0, 1, 0}}));
}

TEST(ccv_tests, ValidateRefusesWhatNoTowerCanGuard)
{
    const auto& rec = Vectors().at("vaults").as_array().at(0);
    Params p = ParamsOf(rec);
    p.alternate_key = std::nullopt;
    EXPECT_FALSE(Validate(p));
    Params q = p;
    q.spend_delay = 0;
    EXPECT_TRUE(Validate(q));
    q.spend_delay = 65536;
    EXPECT_TRUE(Validate(q));
    q = p;
    q.unvault_key = q.recover_key;
    EXPECT_TRUE(Validate(q));
    q = p;
    q.alternate_key = NumsKey(); // the NUMS bytes pushed explicitly: still no key path
    EXPECT_FALSE(Validate(q));
}

TEST(ccv_tests, ACtvTriggerWithDataOfAnotherSizeLeavesTheWithdrawalUnconstrained)
{
    EXPECT_FALSE(WithdrawUnconstrained(Construction::Ctv, Bytes(32, 1)));
    EXPECT_TRUE(WithdrawUnconstrained(Construction::Ctv, Bytes(31, 1)));
    // Data that casts to false ends the withdraw leaf false: no withdrawal at all.
    EXPECT_FALSE(WithdrawUnconstrained(Construction::Ctv, Bytes{}));
    EXPECT_FALSE(WithdrawUnconstrained(Construction::Ctv, Bytes{0x00, 0x80}));
    EXPECT_FALSE(WithdrawUnconstrained(Construction::WithdrawalKey, Bytes(31, 1)));
}

} // namespace
} // namespace vw::vault::ccv
