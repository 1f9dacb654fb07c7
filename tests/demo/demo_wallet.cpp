// vw-demo-wallet: builds the transactions of the end-to-end demo (contrib/demo.sh). Coins are
// mined to P2WSH(OP_TRUE), which any node accepts spending with the witness [OP_TRUE], so the
// same transactions work on the simulator and on a real regtest bitcoind without a wallet.
//
//   vw-demo-wallet address                      the regtest address to mine to
//   vw-demo-wallet presigned <block hex>        a presigned vault funded from that block's coinbase:
//                                                {funding, trigger, trigger_txid, recovery_txid, registration}
//   vw-demo-wallet opvault <block hex> <fee spk hex>
//                                               a BIP-345 vault (authorized recover leaf) funded from
//                                                that block's coinbase, a coin for the tower's fee
//                                                wallet, and a thief's trigger paying its own relay
//                                                fee: {deposit, trigger, trigger_txid, registration,
//                                                vault_address, recovery_script_pubkey}
#include "daemon/tx_util.h"
#include "primitives/block.h"
#include "script/ctv.h"
#include "vault/trigger_builder.h"

#include <boost/json.hpp>

#include <iostream>
#include <string>

namespace {
using namespace vw;
using namespace vw::test;
namespace json = boost::json;

std::string Hex(const Transaction& t) { return HexStr(SerializeTransaction(t)); }

std::optional<Transaction> Coinbase(const char* block_hex)
{
    const auto raw = ParseHex(block_hex);
    if (!raw) return std::nullopt;
    auto block = DecodeBlock(*raw);
    if (!block || block->txs.empty()) return std::nullopt;
    return block->txs[0];
}

int Presigned(const Transaction& cb)
{
    const Bytes spk = AnyoneCanSpend();
    // The vault output, the operator's pre-signed unvault (trigger) and its recovery: in a real
    // deployment these are signed by the operator's keys; the demo only needs valid shapes.
    const Transaction funding{Spend({cb.GetTxid(), 0}, cb.vout().at(0).value - Amount{2'000}, spk)};
    const Amount v = funding.vout()[0].value;
    const Transaction trigger{Spend({funding.GetTxid(), 0}, v - Amount{2'000}, spk)};
    const Transaction recovery{Spend({trigger.GetTxid(), 0}, v - Amount{4'000}, spk)};
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

int OpVault(const Transaction& cb, const Bytes& fee_spk)
{
    // Regtest-only demo keys. The trigger key is the one a thief steals; the recovery-auth key is
    // the tower's, so that the sweep is standard (no anchor) and relays on a stock-policy node.
    const crypto::KeyPair trigger_key = TestKey(0x71);
    const Bytes recovery_spk = P2TR(0x72);
    const int64_t delay = 10;
    const TestOpVault tv = MakeAuthorizedTestOpVault(TestKey(0x73).PubKey(), trigger_key.PubKey(), recovery_spk, delay, 0x74);

    const Amount vault_value{10'0000'0000};
    const Amount fee_coin{100'0000};
    const Amount thief_coin{10'0000};
    MutableTransaction m = Spend({cb.GetTxid(), 0}, vault_value, tv.vault.ScriptPubKey());
    m.vout.push_back({fee_coin, fee_spk});
    m.vout.push_back({thief_coin, AnyoneCanSpend()});
    m.vout.push_back({cb.vout().at(0).value - vault_value - fee_coin - thief_coin - Amount{10'000}, AnyoneCanSpend()});
    const Transaction deposit{m};

    // The thief's trigger: the whole vault into the trigger output, committed to a withdrawal of
    // their own after the delay; a coin of theirs pays the relay fee.
    vault::TriggerRequest tr;
    tr.deposit = {deposit.GetTxid(), 0};
    tr.deposit_value = vault_value;
    tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(delay, vault_value - Amount{5'000}, P2TR(0xee)), 0);
    tr.fee_input = vault::TriggerRequest::FeeInput{{deposit.GetTxid(), 2}, deposit.vout()[2], {kOpTrue}};
    tr.change = TxOut{thief_coin - Amount{5'000}, AnyoneCanSpend()};
    auto trigger = vault::BuildTrigger(tv.vault, tr, trigger_key);
    if (!trigger) {
        std::cerr << "trigger: " << trigger.error() << "\n";
        return 1;
    }
    const Transaction t{*trigger};
    json::object out{{"deposit", Hex(deposit)},
                     {"trigger", Hex(t)},
                     {"trigger_txid", t.GetTxid().ToString()},
                     {"registration", tv.registration},
                     {"vault_address", *bech32::SegwitAddress("bcrt", 1, ByteSpan{tv.vault.ScriptPubKey()}.subspan(2))},
                     {"recovery_script_pubkey", HexStr(recovery_spk)}};
    std::cout << json::serialize(out) << "\n";
    return 0;
}
} // namespace

int main(int argc, char** argv)
{
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "address") {
        std::cout << AnyoneCanSpendAddress() << "\n";
        return 0;
    }
    if ((cmd == "presigned" && argc == 3) || (cmd == "opvault" && argc == 4)) {
        const auto cb = Coinbase(argv[2]);
        if (!cb) {
            std::cerr << "not a block in hex\n";
            return 1;
        }
        if (cmd == "presigned") return Presigned(*cb);
        const auto fee_spk = ParseHex(argv[3]);
        if (!fee_spk || fee_spk->empty()) {
            std::cerr << "fee script_pubkey: not hex\n";
            return 1;
        }
        return OpVault(*cb, *fee_spk);
    }
    std::cerr << "usage: vw-demo-wallet address | presigned <block hex> | opvault <block hex> <fee spk hex>\n";
    return 1;
}
