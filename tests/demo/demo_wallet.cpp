// vw-demo-wallet: builds the transactions of the end-to-end demo (contrib/demo.sh). Coins are
// mined to P2WSH(OP_TRUE), which any node accepts spending with the witness [OP_TRUE], so the
// same transactions work on the simulator and on a real regtest bitcoind without a wallet.
//
//   vw-demo-wallet address                      the regtest address to mine to
//   vw-demo-wallet presigned <block hex>        a presigned vault funded from that block's coinbase:
//                                                {funding, trigger, recovery_txid, registration}
#include "crypto/sha256.h"
#include "primitives/block.h"
#include "primitives/transaction.h"
#include "util/bech32.h"
#include "util/hex.h"

#include <boost/json.hpp>

#include <iostream>
#include <string>

namespace {
using namespace vw;
namespace json = boost::json;

const Bytes kWitnessScript{0x51}; // OP_TRUE

Bytes AnyoneCanSpendSpk()
{
    const Uint256 h = crypto::Sha256Once(kWitnessScript);
    Bytes spk{0x00, 0x20};
    spk.insert(spk.end(), h.bytes.begin(), h.bytes.end());
    return spk;
}

Transaction Spend(const OutPoint& prev, Amount value, const Bytes& spk)
{
    MutableTransaction m;
    TxIn in;
    in.prevout = prev;
    in.sequence = 0xfffffffd;
    in.witness = {kWitnessScript};
    m.vin.push_back(in);
    m.vout.push_back({value, spk});
    return Transaction{m};
}

std::string Hex(const Transaction& t) { return HexStr(SerializeTransaction(t)); }
} // namespace

int main(int argc, char** argv)
{
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "address") {
        const Bytes spk = AnyoneCanSpendSpk();
        auto a = bech32::SegwitAddress("bcrt", 0, ByteSpan{spk}.subspan(2));
        if (!a) return 1;
        std::cout << *a << "\n";
        return 0;
    }
    if (cmd == "presigned" && argc == 3) {
        const auto raw = ParseHex(argv[2]);
        if (!raw) {
            std::cerr << "not hex\n";
            return 1;
        }
        auto block = DecodeBlock(*raw);
        if (!block || block->txs.empty()) {
            std::cerr << "not a block\n";
            return 1;
        }
        const Transaction& cb = block->txs[0];
        const Bytes spk = AnyoneCanSpendSpk();
        // The vault output, the operator's pre-signed unvault (trigger) and its recovery: in a real
        // deployment these are signed by the operator's keys; the demo only needs valid shapes.
        const Transaction funding = Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{2'000}, spk);
        const Amount v = funding.vout()[0].value;
        const Transaction trigger = Spend({funding.GetTxid(), 0}, v - Amount{2'000}, spk);
        const Transaction recovery = Spend({trigger.GetTxid(), 0}, v - Amount{4'000}, spk);
        json::object reg{{"kind", "presigned"},
                         {"label", "demo vault"},
                         {"watch_outpoints", json::array{json::object{{"txid", funding.GetTxid().ToString()}, {"vout", 0}}}},
                         {"triggers", json::array{json::object{{"txid", trigger.GetTxid().ToString()},
                                                               {"spend_delay", 10},
                                                               {"recovery_txs", json::array{Hex(recovery)}}}}}};
        json::object out{{"funding", Hex(funding)},
                         {"trigger", Hex(trigger)},
                         {"trigger_txid", trigger.GetTxid().ToString()},
                         {"recovery_txid", recovery.GetTxid().ToString()},
                         {"registration", json::serialize(reg)}};
        std::cout << json::serialize(out) << "\n";
        return 0;
    }
    std::cerr << "usage: vw-demo-wallet address | presigned <block hex>\n";
    return 1;
}
