// Taproot witnesses: split the input into items (1-byte length prefixes, the last item takes the
// rest), classify with ClassifyWitness and cross-check the scanner's ScriptPathOf on the same
// stack serialized as a witness.
#include "script/taproot.h"
#include "util/serialize.h"
#include "vault/watch_index.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    std::vector<ByteSpan> items;
    size_t pos = 0;
    while (pos < size && items.size() < 200) {
        const size_t len = data[pos++];
        if (len == 0xff) { // rest of the input
            items.emplace_back(data + pos, size - pos);
            pos = size;
            break;
        }
        const size_t n = std::min(len, size - pos);
        items.emplace_back(data + pos, n);
        pos += n;
    }
    auto s = taproot::ClassifyWitness(items);
    if (items.empty()) {
        if (s) std::abort();
        return 0;
    }
    if (!s) std::abort();
    const bool annex = items.size() >= 2 && !items.back().empty() && items.back()[0] == taproot::ANNEX_TAG;
    if (annex != s->annex.has_value()) std::abort();
    const size_t n = items.size() - (annex ? 1 : 0);
    if (s->kind == taproot::Spend::Kind::KeyPath) {
        if (n != 1 || s->signature.data() != items[0].data()) std::abort();
    } else {
        if (n < 2 || s->script.data() != items[n - 2].data() || s->control.data() != items[n - 1].data()) std::abort();
        if (s->stack.size() != n - 2) std::abort();
    }

    Writer w;
    for (const auto& it : items) w.VarBytes(it);
    const Bytes wit = w.Take();
    auto sp = vault::ScriptPathOf(wit, static_cast<uint32_t>(items.size()));
    const bool script_path = s->kind == taproot::Spend::Kind::ScriptPath;
    const size_t cs = s->control.size();
    const bool size_ok = script_path && cs >= 33 && (cs - 33) % 32 == 0 && (cs - 33) / 32 <= 128;
    if (sp.has_value() != size_ok) std::abort();
    if (sp) {
        if (!Equal(sp->script, s->script) || !Equal(sp->control, s->control)) std::abort();
        if (sp->leaf_version != (s->control[0] & 0xfe)) std::abort();
        auto cb = taproot::ParseControlBlock(s->control);
        if (cb && cb->leaf_version != sp->leaf_version) std::abort();
    }
    return 0;
}
