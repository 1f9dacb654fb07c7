// OP_VAULT trigger/recover/withdraw leaves and trigger witnesses from outside transactions.
// The input is split into witness items (1-byte length prefix each); the second-to-last item is
// taken as the leaf script, as in a script-path spend.
#include "vault/opvault.h"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    std::vector<Bytes> items;
    size_t pos = 0;
    while (pos < size && items.size() < 16) {
        const size_t len = std::min<size_t>(data[pos++], size - pos);
        items.emplace_back(data + pos, data + pos + len);
        pos += len;
    }
    for (const auto& it : items) {
        (void)vault::ParseRecoverLeaf(it);
        (void)vault::ParseWithdrawLeaf(it);
    }
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
    }
    return 0;
}
