// Scripts from the chain: opcode iteration, minimal-push rules and CScriptNum decoding.
#include "script/script.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    using namespace vw::script;
    const ByteSpan in{data, size};

    OpIterator it{in};
    size_t last = 0;
    size_t nops = 0;
    while (auto op = it.Next()) {
        ++nops;
        if (it.pos() <= last || it.pos() > size) std::abort();
        const ByteSpan raw = in.subspan(last, it.pos() - last);
        last = it.pos();
        if (op->is_push && IsMinimalPush(*op) && op->data.size() <= 65535) {
            // A minimal push is exactly what PushData writes.
            Bytes again;
            PushData(again, op->data);
            if (!Equal(again, raw)) std::abort();
        }
        (void)OpAsNumber(*op);
        (void)OpAsNumber(*op, 5, false);
    }
    if (!it.failed() && last != size) std::abort();
    auto ops = DecodeOps(in);
    if (static_cast<bool>(ops) == it.failed()) std::abort();
    if (ops && ops->size() != nops) std::abort();

    for (bool minimal : {true, false}) {
        auto n = DecodeScriptNum(in, 8, minimal);
        if (n && *n != INT64_MIN) {
            const Bytes enc = EncodeScriptNum(*n);
            if (minimal && !Equal(enc, in)) std::abort();
            auto back = DecodeScriptNum(enc, 8, true);
            if (!back || *back != *n) std::abort();
        }
    }
    return 0;
}
