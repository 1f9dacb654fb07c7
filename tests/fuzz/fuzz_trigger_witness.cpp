// OP_VAULT trigger/recover/withdraw leaves and trigger witnesses from outside transactions, and
// the witnesses of BIP-443 (CCV) vault clauses. The input is split into witness items (1-byte
// length prefix each); the second-to-last item is taken as the leaf script, as in a script-path
// spend. For CCV, the first byte also picks one of a fixed vault's leaves to put there, so that
// the clause parsers and CheckTx see witnesses of leaves they know.
#include "vault/ccv.h"
#include "vault/opvault.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

void FuzzCcv(const uint8_t* data, size_t size, std::vector<vw::Bytes> items)
{
    using namespace vw;
    using namespace vw::vault::ccv;
    static const Vault vault = [] {
        const auto k = [](uint8_t b) { return *crypto::XOnlyPubKey::Parse(taproot::OutputKey(NumsKey(), Uint256::FromSpan(Bytes(32, b)))->xonly); };
        return *Vault::FromParams(Params{Construction::Ctv, std::nullopt, 10, k(1), k(2)});
    }();
    if (size == 0 || items.size() < 2) return;
    const bool unvaulting = data[0] & 0x80;
    const taproot::TapTree& tree = unvaulting ? vault.unvaulting_tree() : vault.tree();
    items[items.size() - 2] = tree.leaves()[data[0] % tree.leaves().size()].script;
    auto sp = unvaulting ? ClassifyUnvaultingSpend(items, vault, 3, 0) : ClassifyVaultSpend(items, vault, 3, 0);
    if (!sp) return;
    if (sp->trigger && (sp->trigger->out_i >= 3 || sp->trigger->revault_out_i.value_or(0) >= 3)) __builtin_trap();
    if (sp->clause == Clause::Recover && sp->recover_out_i >= 3) __builtin_trap();
    // A whole transaction around that witness: CheckTx must answer, never crash.
    MutableTransaction mtx;
    mtx.vin.push_back(TxIn{OutPoint{}, {}, static_cast<uint32_t>(size), items});
    for (size_t i = 0; i < 3; ++i) mtx.vout.push_back(TxOut{Amount{static_cast<int64_t>(i * 1000)}, items[i % items.size()]});
    const Transaction tx{std::move(mtx)};
    std::optional<Bytes> unv_data;
    if (unvaulting) unv_data = items.front();
    Bytes spk = vault.ScriptPubKey();
    if (unv_data) {
        auto u = vault.UnvaultingFor(*unv_data);
        if (!u) return;
        spk = u->spk;
    }
    const std::vector<TxOut> prevouts{TxOut{Amount{5000}, spk}};
    const std::vector<SpentOutput> spent{SpentOutput{&vault, unv_data, 1}};
    (void)CheckTx(tx, prevouts, spent, static_cast<int64_t>(size));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    std::vector<Bytes> items;
    size_t pos = 0;
    while (pos < size && items.size() < 16) {
        const size_t want = data[pos++];
        const size_t len = std::min<size_t>(want, size - pos);
        items.emplace_back(data + pos, data + pos + len);
        pos += len;
    }
    FuzzCcv(data, size, items);
    for (const auto& it : items) {
        (void)vault::ParseRecoverLeaf(it);
        (void)vault::ParseWithdrawLeaf(it);
    }
    // The block path's look ahead reads the same witness with no registry: it must agree with
    // the derivation below whenever both succeed.
    const auto ahead = vault::TriggerOutputKeyInputs(items, /*vout_count=*/3);
    if (items.size() < 2) return 0;
    const Bytes& leaf_script = items[items.size() - 2];
    auto leaf = vault::ParseTriggerLeaf(leaf_script);
    if (!leaf) return 0;
    auto w = vault::ParseTriggerWitness(items, *leaf, /*vout_count=*/3);
    if (!w) return 0;
    auto update = vault::BuildLeafUpdateScript(*leaf, w->leaf_update_items);
    if (!update) return 0;
    auto key = vault::DeriveTriggerOutputKey(w->control_block, *update);
    if (key) {
        Bytes spk{0x51, 0x20};
        spk.insert(spk.end(), key->xonly.begin(), key->xonly.end());
        if (!vault::CheckTriggerOutputSpk(*key, spk)) __builtin_trap(); // a derived key must match its own output
        if (ahead) {
            auto q = crypto::TweakAddUnparsed(ahead->internal, taproot::TweakHash(ahead->internal, ahead->merkle_root));
            if (!q || q->xonly != key->xonly || q->parity != key->parity) __builtin_trap();
        }
    }
    return 0;
}
