// Transactions from the network: DecodeTransaction must accept only canonical encodings, so a
// successful decode re-serializes to exactly the input. The zero-copy path (ScanTransaction over
// ReadTxView) must accept and reject exactly the same inputs.
#include "primitives/transaction.h"
#include "vault/watch_index.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    const ByteSpan in{data, size};
    auto tx = DecodeTransaction(in);
    static const vault::WatchIndex empty;
    std::vector<vault::Match> out;
    auto scan = vault::ScanTransaction(in, empty, out);
    if (static_cast<bool>(tx) != static_cast<bool>(scan)) std::abort();
    if (!tx) {
        if (tx.error() != scan.error()) std::abort();
        return 0;
    }
    const Bytes again = SerializeTransaction(*tx);
    if (!Equal(again, in)) std::abort();
    if (tx->TotalSize() != size) std::abort();
    if (ComputeTxid(tx->mutable_copy()) != tx->GetTxid()) std::abort();
    if (scan->inputs != tx->vin().size() || scan->outputs != tx->vout().size()) std::abort();
    return 0;
}
