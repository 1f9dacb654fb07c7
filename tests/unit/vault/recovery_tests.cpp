// Recovery builders against the recovery steps of tests/data/testvectors/opvault-regtest.json (read
// at run time). The watchtower's view is replayed step by step: it knows the vault records, sees
// triggers and withdrawals, and at each recovery step sweeps every UTXO still live; the result is
// compared with the transaction the node accepted.

#include "vault/recovery.h"

#include "script/script.h"
#include "script/sighash.h"
#include "unit/vault/opvault_test_util.h"
#include "vault/opvault.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace vw::vault {
namespace {

using namespace testutil;

struct Live {
    RecoveryInput input;
    std::string vault_id;
};

crypto::KeyPair KeyFromSecret(const json::value& secret_hex)
{
    auto kp = crypto::KeyPair::FromSecret(H(secret_hex));
    EXPECT_TRUE(kp.has_value());
    return kp.value();
}

//! Replays one scenario; calls on_recovery(expected inputs, recovery step) at each recovery step.
template <typename F>
void Replay(const json::value& sc, F on_recovery)
{
    std::vector<Live> live;
    std::map<std::string, Vault> vaults;
    for (const auto& rec : sc.at("vaults").as_array()) {
        const std::string id = Str(rec.at("vault_id"));
        Vault v = VaultFromRecord(rec);
        const auto& op = rec.at("vault_outpoint");
        live.push_back(Live{RecoveryInput{Outpoint(op.at("txid"), op.at("vout")),
                                          TxOut{Amount{I(rec.at("amount_sats"))}, v.ScriptPubKey()},
                                          v.tree().leaves()[v.recover_index()].script,
                                          v.ControlBlockFor(v.recover_index()).Serialize(), v.spec().recovery_spk},
                            id});
        vaults.emplace(id, std::move(v));
    }
    auto find_live = [&](const OutPoint& op) {
        return std::find_if(live.begin(), live.end(), [&](const Live& l) { return l.input.outpoint == op; });
    };
    for (const auto& st : sc.at("steps").as_array()) {
        const std::string kind = Str(st.at("step"));
        const Transaction tx = Tx(st.at("hex"));
        if (kind == "trigger") {
            const std::vector<TxOut> prevouts = Prevouts(st.at("prevouts"));
            for (size_t n = 0; n < tx.vin().size(); ++n) {
                auto it = find_live(tx.vin()[n].prevout);
                if (it == live.end()) continue; // fee input
                const Vault& v = vaults.at(it->vault_id);
                auto c = ClassifyInput(tx, n, prevouts[n], v);
                ASSERT_TRUE(c.has_value());
                ASSERT_EQ(c->kind, SpendKind::Trigger);
                auto tree = v.TriggerOutput(c->trigger->leaf_index, c->trigger->leaf_update_script);
                ASSERT_TRUE(tree.has_value());
                const uint32_t idx = c->trigger->witness.trigger_vout_idx;
                const OutPoint trig_op{tx.GetTxid(), idx};
                if (find_live(trig_op) != live.end()) {
                    live.erase(it); // batched trigger: the output is already tracked
                } else {
                    it->input = RecoveryInput{trig_op, tx.vout()[idx], v.tree().leaves()[v.recover_index()].script,
                                              tree->recover_cb.Serialize(), v.spec().recovery_spk};
                }
            }
        } else if (kind == "withdrawal" || kind == "recovery") {
            if (kind == "recovery") {
                std::vector<RecoveryInput> inputs;
                for (const auto& l : live) inputs.push_back(l.input);
                on_recovery(inputs, st, vaults.at(live.front().vault_id));
            }
            for (const auto& in : tx.vin()) {
                auto it = find_live(in.prevout);
                if (it != live.end()) live.erase(it);
            }
        }
    }
}

//! Returns: how many recovery steps the file has for the given auth kind.
size_t RecoverySteps(std::string_view auth)
{
    size_t n = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != auth) continue;
        for (const auto& st : sc.at("steps").as_array()) n += Str(st.at("step")) == "recovery";
    }
    return n;
}

TEST(recovery_tests, UnauthorizedRecoveriesAreRebuiltExactly)
{
    size_t checked = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != "none") continue;
        SCOPED_TRACE(Str(sc.at("id")));
        Replay(sc, [&](const std::vector<RecoveryInput>& inputs, const json::value& st, const Vault&) {
            const Transaction recorded = Tx(st.at("hex"));
            // Nothing is taken from the recorded tx: defaults (version 2, locktime 0, nSequence 0,
            // OP_2 anchor, caller order = vault registration order) reproduce it byte for byte.
            auto built = BuildUnauthorizedRecovery(inputs);
            ASSERT_TRUE(built.has_value()) << ToString(built.error());
            EXPECT_EQ(HexStr(SerializeTransaction(*built)), Str(st.at("hex")));
            EXPECT_EQ(ComputeTxid(*built).ToString(), Str(st.at("txid")));
            EXPECT_TRUE(CheckRecoveryTx(Transaction(*built), Prevouts(st.at("prevouts"))).has_value());
            ++checked;
        });
    }
    EXPECT_GT(checked, 0u);
    EXPECT_EQ(checked, RecoverySteps("none"));
}

TEST(recovery_tests, AuthorizedRecoveriesMatchAndSignaturesVerify)
{
    size_t checked = 0;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != "checksig") continue;
        SCOPED_TRACE(Str(sc.at("id")));
        Replay(sc, [&](const std::vector<RecoveryInput>& inputs, const json::value& st, const Vault& some_vault) {
            const Transaction recorded = Tx(st.at("hex"));
            const json::value* rec = FindVault(sc, Str(st.at("inputs").as_array().at(0).at("vault_id")));
            ASSERT_NE(rec, nullptr);
            const crypto::KeyPair auth = KeyFromSecret(rec->at("recovery_auth_key").at("secret"));
            ASSERT_TRUE(some_vault.spec().recovery_auth_key.has_value());
            EXPECT_EQ(auth.PubKey(), *some_vault.spec().recovery_auth_key);
            // Fields TAKEN FROM THE RECORDED TX (free choices of the fee wallet, not of the
            // recovery logic): the fee inputs (outpoint, prevout, witness) and the change output
            // (value and scriptPubKey). Everything else is ours.
            RecoveryOptions opts;
            std::optional<TxOut> change;
            const std::vector<TxOut> prevouts = Prevouts(st.at("prevouts"));
            size_t taken = 0;
            for (const auto& in : st.at("inputs").as_array()) {
                if (Str(in.at("role")) != "fee") continue;
                const size_t n = static_cast<size_t>(I(in.at("n")));
                opts.fee_inputs.push_back(FeeInput{recorded.vin()[n].prevout, prevouts[n], recorded.vin()[n].witness});
                ++taken;
            }
            for (const auto& o : st.at("outputs").as_array()) {
                if (Str(o.at("role")) == "fee-change") change = recorded.vout().at(static_cast<size_t>(I(o.at("n"))));
            }
            EXPECT_EQ(taken > 0, change.has_value());
            auto built = BuildAuthorizedRecovery(inputs, auth, change, opts);
            ASSERT_TRUE(built.has_value()) << ToString(built.error());
            // Same txid = same version, locktime, inputs, sequences, outputs.
            EXPECT_EQ(ComputeTxid(*built).ToString(), Str(st.at("txid")));
            EXPECT_EQ(HexStr(SerializeTransaction(*built, false)), HexStr(SerializeTransaction(recorded, false)));
            ASSERT_EQ(built->vin.size(), recorded.vin().size());
            // Witnesses: equal except the BIP-340 signatures (aux randomness differs); both the
            // recorded and our signatures must verify against our sighash.
            const std::vector<TxOut> spent = SpentOutputs(inputs, opts);
            ASSERT_EQ(spent, prevouts);
            auto pre = sighash::Precompute(*built, spent);
            ASSERT_TRUE(pre.has_value());
            for (size_t i = 0; i < inputs.size(); ++i) {
                const auto& ours = built->vin[i].witness;
                const auto& theirs = recorded.vin()[i].witness;
                ASSERT_EQ(ours.size(), 4u);
                ASSERT_EQ(theirs.size(), 4u);
                EXPECT_EQ(ours[0], theirs[0]);
                EXPECT_EQ(ours[2], theirs[2]);
                EXPECT_EQ(ours[3], theirs[3]);
                auto h = sighash::Sighash(*built, *pre, static_cast<uint32_t>(i), sighash::SIGHASH_DEFAULT,
                                          sighash::ScriptPath{taproot::LeafHash(taproot::LEAF_VERSION_TAPSCRIPT, ours[2])});
                ASSERT_TRUE(h.has_value());
                EXPECT_EQ(ours[1].size(), 64u);
                EXPECT_TRUE(crypto::SchnorrVerify(ours[1], h->span(), auth.PubKey()));
                EXPECT_TRUE(crypto::SchnorrVerify(theirs[1], h->span(), auth.PubKey()));
            }
            EXPECT_TRUE(CheckRecoveryTx(Transaction(*built), prevouts).has_value());
            ++checked;
        });
    }
    EXPECT_GT(checked, 0u);
    EXPECT_EQ(checked, RecoverySteps("checksig"));
}

//! The inputs of the first unauthorized recovery in the file (replayed, not copied).
std::vector<RecoveryInput> FirstUnauthorizedInputs(bool authorized)
{
    std::vector<RecoveryInput> out;
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if ((Str(sc.at("recovery_auth")) == "checksig") != authorized || !out.empty()) continue;
        Replay(sc, [&](const std::vector<RecoveryInput>& inputs, const json::value&, const Vault&) {
            if (out.empty()) out = inputs;
        });
    }
    return out;
}

TEST(recovery_tests, FeeOnlyInputSignedByCallback)
{
    const auto inputs = FirstUnauthorizedInputs(false);
    ASSERT_FALSE(inputs.empty());
    RecoveryOptions opts;
    FeeInput fee{OutPoint{inputs[0].outpoint.txid, 77}, TxOut{Amount{5000}, inputs[0].recovery_spk}, {}};
    opts.fee_inputs.push_back(fee);
    size_t calls = 0;
    opts.fee_signer = [&](const MutableTransaction& tx, std::span<const TxOut> spent, size_t n) {
        ++calls;
        EXPECT_EQ(n, inputs.size());
        EXPECT_EQ(spent.size(), tx.vin.size());
        EXPECT_EQ(spent[n], fee.prevout);
        return std::optional<std::vector<Bytes>>{std::vector<Bytes>{Bytes(64, 0xaa)}};
    };
    auto tx = BuildUnauthorizedRecovery(inputs, opts);
    ASSERT_TRUE(tx.has_value());
    EXPECT_EQ(calls, 1u);
    ASSERT_EQ(tx->vin.size(), inputs.size() + 1);
    EXPECT_EQ(tx->vin.back().witness, std::vector<Bytes>{Bytes(64, 0xaa)});
    ASSERT_EQ(tx->vout.size(), 2u); // recovery + anchor, no change
    Amount sum{0};
    for (const auto& in : inputs) sum += in.prevout.value;
    EXPECT_EQ(tx->vout[0].value, sum);
    auto prevouts = SpentOutputs(inputs, opts);
    EXPECT_TRUE(CheckRecoveryTx(Transaction(*tx), prevouts).has_value());
}

TEST(recovery_tests, Misuse)
{
    const auto unauth = FirstUnauthorizedInputs(false);
    const auto auth_in = FirstUnauthorizedInputs(true);
    ASSERT_FALSE(unauth.empty());
    ASSERT_FALSE(auth_in.empty());
    EXPECT_EQ(BuildUnauthorizedRecovery({}).error(), RecoveryError::NoInputs);

    RecoveryOptions bad_seq;
    bad_seq.sequence = 0xfffffffe;
    EXPECT_EQ(BuildUnauthorizedRecovery(unauth, bad_seq).error(), RecoveryError::SequenceNotReplaceable);
    RecoveryOptions max_ok;
    max_ok.sequence = MAX_BIP125_RBF_SEQUENCE;
    EXPECT_TRUE(BuildUnauthorizedRecovery(unauth, max_ok).has_value());

    auto dup = unauth;
    dup.push_back(unauth[0]);
    EXPECT_EQ(BuildUnauthorizedRecovery(dup).error(), RecoveryError::DuplicateInput);

    auto wrong_spk = unauth;
    wrong_spk[0].recovery_spk.back() ^= 1;
    EXPECT_EQ(BuildUnauthorizedRecovery(wrong_spk).error(), RecoveryError::RecoverySpkMismatch);

    auto garbage = unauth;
    garbage[0].leaf_script = Bytes{0x20, 0x00};
    EXPECT_EQ(BuildUnauthorizedRecovery(garbage).error(), RecoveryError::NotRecoverLeaf);
    garbage[0].leaf_script.clear();
    EXPECT_EQ(BuildUnauthorizedRecovery(garbage).error(), RecoveryError::NotRecoverLeaf);

    // Two unauthorized recovery paths cannot share one (policy) recovery tx.
    auto mixed = unauth;
    RecoveryInput other = unauth[0];
    other.outpoint.n += 1000;
    other.recovery_spk.back() ^= 1;
    other.leaf_script = MakeRecoverLeaf(RecoverySpkHash(other.recovery_spk), std::nullopt);
    mixed.push_back(other);
    EXPECT_EQ(BuildUnauthorizedRecovery(mixed).error(), RecoveryError::MixedRecoveryHashes);

    // Authorized leaves in the unauthorized builder, and vice versa.
    EXPECT_EQ(BuildUnauthorizedRecovery(auth_in).error(), RecoveryError::WrongAuthKind);
    auto some_key = crypto::KeyPair::FromSecret(Bytes(32, 0x01));
    ASSERT_TRUE(some_key.has_value());
    EXPECT_EQ(BuildAuthorizedRecovery(unauth, *some_key, std::nullopt).error(), RecoveryError::WrongAuthKind);
    EXPECT_EQ(BuildAuthorizedRecovery(auth_in, *some_key, std::nullopt).error(), RecoveryError::AuthKeyMismatch);

    RecoveryOptions overflow;
    auto big = unauth;
    big[0].prevout.value = MAX_MONEY + Amount{1};
    EXPECT_EQ(BuildUnauthorizedRecovery(big, overflow).error(), RecoveryError::AmountOutOfRange);
}

TEST(recovery_tests, AuthorizedChangeAndGroups)
{
    // Re-run the checksig batch inputs with our own key material check: change > fees fails.
    for (const auto& sc : Vectors().at("scenarios").as_array()) {
        if (Str(sc.at("recovery_auth")) != "checksig") continue;
        Replay(sc, [&](const std::vector<RecoveryInput>& inputs, const json::value& st, const Vault&) {
            const json::value* rec = FindVault(sc, Str(st.at("inputs").as_array().at(0).at("vault_id")));
            const crypto::KeyPair auth = KeyFromSecret(rec->at("recovery_auth_key").at("secret"));
            EXPECT_EQ(BuildAuthorizedRecovery(inputs, auth, TxOut{Amount{1}, Bytes{0x51}}).error(), RecoveryError::ChangeTooLarge);
            // Without change/fees: outputs = one per distinct recovery sPK (+ anchor).
            auto tx = BuildAuthorizedRecovery(inputs, auth, std::nullopt);
            ASSERT_TRUE(tx.has_value());
            std::vector<Bytes> spks;
            for (const auto& in : inputs) {
                if (std::find(spks.begin(), spks.end(), in.recovery_spk) == spks.end()) spks.push_back(in.recovery_spk);
            }
            ASSERT_EQ(tx->vout.size(), spks.size() + 1);
            for (size_t g = 0; g < spks.size(); ++g) EXPECT_EQ(tx->vout[g].script_pubkey, spks[g]);
            EXPECT_TRUE(CheckRecoveryTx(Transaction(*tx), SpentOutputs(inputs, {})).has_value());
        });
    }
}

} // namespace
} // namespace vw::vault
