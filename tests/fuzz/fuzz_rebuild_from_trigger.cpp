// A thief's trigger witness, from which the registry rebuilds a vault's details without reading
// its registration (Registry::RebuildFromTrigger). Whatever the bytes, what it returns must be the
// registered vault: its id and its scriptPubKey. The input either is the witness (items with a
// 1-byte length prefix) or is XORed onto the genuine trigger witness (leaf script and control
// block), so that near-valid witnesses are explored; with or without the spent output's key.
#include "vault/opvault.h"
#include "vault/registry.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

using namespace vw;

struct World {
    vault::Registry reg;
    vault::VaultId id;
    Bytes spk;
    crypto::TweakedKey key;
    std::vector<Bytes> witness; //!< the genuine trigger witness: [signature, leaf, control block]
};

World Make()
{
    const auto internal = *crypto::KeyPair::FromSecret(Bytes(32, 0x11));
    const auto trigger = *crypto::KeyPair::FromSecret(Bytes(32, 0x22));
    Bytes rspk{0x51, 0x20};
    rspk.resize(34, 0x33);
    vault::VaultSpec spec{internal.PubKey(), {}, rspk, std::nullopt};
    spec.leaves = {taproot::Leaf{vault::MakeRecoverLeaf(vault::RecoverySpkHash(rspk), std::nullopt), 1},
                   taproot::Leaf{vault::MakeTriggerLeaf(trigger.PubKey(), 144), 1}};
    vault::Registry whole;
    auto added = whole.AddOpVault(vault::OpVaultRegistration{spec, std::nullopt, "", {}, std::nullopt, std::nullopt});
    if (!added) __builtin_trap();
    const vault::Vault& v = *whole.Details(added->index)->opvault;
    World w;
    w.id = added->id;
    w.spk = v.ScriptPubKey();
    w.key = v.OutputKey();
    if (!w.reg.AddCompact(*vault::CompactOf(*whole.Get(added->index), *whole.Details(added->index)), {})) __builtin_trap();
    const size_t ti = v.trigger_indices().front();
    auto cb = taproot::MakeControlBlock(v.tree(), ti, internal.PubKey());
    if (!cb) __builtin_trap();
    w.witness = {Bytes(64, 0x44), v.tree().leaves()[ti].script, cb->Serialize()};
    if (!w.reg.RebuildFromTrigger(0, w.witness)) __builtin_trap(); // the genuine one rebuilds
    return w;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const World w = Make();
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    std::vector<Bytes> items;
    if (mode & 1) {
        for (size_t i = 1; i < size;) {
            const size_t n = data[i++];
            const size_t take = std::min(n, size - i);
            items.emplace_back(data + i, data + i + take);
            i += take;
        }
    } else {
        items = w.witness;
        Bytes& leaf = items[1];
        Bytes& cb = items[2];
        for (size_t i = 1; i < size; ++i) {
            const size_t at = i - 1;
            if (at < leaf.size()) leaf[at] ^= data[i];
            else if (at - leaf.size() < cb.size()) cb[at - leaf.size()] ^= data[i];
            else cb.push_back(data[i]); // a longer path
        }
    }
    auto d = w.reg.RebuildFromTrigger(0, items, (mode & 2) ? &w.key : nullptr);
    if (!d) return 0;
    if (!d->opvault || vault::ComputeVaultId(d->opvault->spec()) != w.id || d->opvault->ScriptPubKey() != w.spk) __builtin_trap();
    return 0;
}
