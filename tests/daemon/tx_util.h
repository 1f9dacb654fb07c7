#pragma once
// Transaction helpers shared by the process tests and the benchmarks. Coins are mined to and moved
// through P2WSH(OP_TRUE), spent with the witness [OP_TRUE]: valid on a real node without a wallet,
// and on the simulator (which runs no scripts).

#include "crypto/sha256.h"
#include "primitives/transaction.h"
#include "util/bech32.h"

#include <algorithm>
#include <string>

namespace vw::test {

inline const Bytes kOpTrue{0x51};

//! P2WSH(OP_TRUE): anyone can spend it with the witness [OP_TRUE].
inline Bytes AnyoneCanSpend()
{
    const Uint256 h = crypto::Sha256Once(kOpTrue);
    Bytes spk(34, 0);
    spk[1] = 0x20;
    std::copy(h.bytes.begin(), h.bytes.end(), spk.begin() + 2);
    return spk;
}

inline std::string AnyoneCanSpendAddress() { return *bech32::SegwitAddress("bcrt", 0, ByteSpan{AnyoneCanSpend()}.subspan(2)); }

//! A P2TR scriptPubKey whose 32-byte key is `fill` repeated (a destination nobody spends from).
inline Bytes P2TR(uint8_t fill)
{
    Bytes spk{0x51, 0x20};
    spk.resize(34, fill);
    return spk;
}

//! Spends an anyone-can-spend output prev into one output (value to spk), replaceable.
inline MutableTransaction Spend(const OutPoint& prev, Amount value, const Bytes& spk)
{
    MutableTransaction m;
    TxIn in;
    in.prevout = prev;
    in.sequence = 0xfffffffd;
    in.witness = {kOpTrue};
    m.vin.push_back(in);
    m.vout.push_back({value, spk});
    return m;
}

} // namespace vw::test
