#include "vault/trigger_builder.h"

#include "script/script.h"
#include "script/sighash.h"
#include "script/taproot.h"

namespace vw::vault {

Expected<MutableTransaction, std::string> BuildTrigger(const Vault& v, const TriggerRequest& r, const crypto::KeyPair& trigger_key)
{
    if (r.trigger_leaf >= v.trigger_indices().size()) return Unexpected{std::string("no such trigger leaf")};
    if (r.deposit_value.sats() <= 0) return Unexpected{std::string("the deposit value must be positive")};
    const size_t leaf_index = v.trigger_indices()[r.trigger_leaf];
    const TriggerLeaf& leaf = v.trigger_leaf(r.trigger_leaf);
    if (!leaf.trigger_key || !(*leaf.trigger_key == trigger_key.PubKey())) {
        return Unexpected{std::string("the key does not sign this trigger leaf")};
    }
    const Bytes ctv(r.ctv_hash.bytes.begin(), r.ctv_hash.bytes.end());
    const std::vector<Bytes> items{ctv};
    auto update = BuildLeafUpdateScript(leaf, items);
    if (!update) return Unexpected{std::string("leaf update: ") + std::string(ToString(update.error()))};
    auto out_tree = v.TriggerOutput(leaf_index, *update);
    if (!out_tree) return Unexpected{std::string("trigger output: ") + std::string(ToString(out_tree.error()))};

    MutableTransaction tx;
    tx.version = 2;
    TxIn in;
    in.prevout = r.deposit;
    in.sequence = r.sequence;
    tx.vin.push_back(in);
    tx.vout.push_back({r.deposit_value, out_tree->script_pubkey});
    std::vector<TxOut> spent{TxOut{r.deposit_value, v.ScriptPubKey()}};
    if (r.fee_input) {
        TxIn fee;
        fee.prevout = r.fee_input->outpoint;
        fee.sequence = r.sequence;
        tx.vin.push_back(fee);
        spent.push_back(r.fee_input->prevout);
    }
    if (r.change) tx.vout.push_back(*r.change);

    const auto& script = v.tree().leaves()[leaf_index].script;
    auto pre = sighash::Precompute(tx, spent);
    if (!pre) return Unexpected{std::string("sighash: ") + std::string(sighash::ToString(pre.error()))};
    auto h = sighash::Sighash(tx, *pre, 0, sighash::SIGHASH_DEFAULT,
                              sighash::ScriptPath{taproot::LeafHash(v.tree().leaves()[leaf_index].version, script)});
    if (!h) return Unexpected{std::string("sighash: ") + std::string(sighash::ToString(h.error()))};
    const auto sig = trigger_key.Sign(h->span(), std::nullopt);
    // Witness, bottom of the stack first (docs/bip345.md §8): revault amount 0 (empty), revault
    // index -1 (0x81), trigger index 0 (empty), the CTV hash, the signature, leaf, control block.
    tx.vin[0].witness = {Bytes{}, Bytes{0x81}, Bytes{}, ctv, Bytes(sig.begin(), sig.end()), script,
                         v.ControlBlockFor(leaf_index).Serialize()};
    if (r.fee_input) tx.vin[1].witness = r.fee_input->witness;
    return tx;
}

MutableTransaction WithdrawalTemplate(int64_t spend_delay, Amount value, const Bytes& spk)
{
    MutableTransaction w;
    w.version = 2;
    TxIn in;
    in.sequence = static_cast<uint32_t>(spend_delay);
    w.vin.push_back(in);
    w.vout.push_back({value, spk});
    return w;
}

} // namespace vw::vault
