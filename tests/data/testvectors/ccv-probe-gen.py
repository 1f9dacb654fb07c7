#!/usr/bin/env python3
"""Record what a node answers to vaultwatch's CCV enforcement probe (lib/vault/ccv.h MakeProbe).

The probe is a P2TR output under the BIP-341 NUMS key with one leaf
    OP_0 OP_0 <dest> OP_0 OP_1 OP_CHECKCONTRACTVERIFY OP_1
("output 0 must be OP_1 <dest>, any amount"). A node enforcing BIP-443 accepts a spend to
dest and refuses one to another key for the CCV rule; a node that does not enforce it
answers otherwise. This script funds one probe output on a fresh regtest chain and records
testmempoolaccept for both spends (they are never broadcast).

It is a BitcoinTestFramework test that imports the framework of an already-built node at
run time (nothing of the node is stored here):

    NODE_FUNCTIONAL=/work/ccv-node/test/functional \\
    python3 tests/data/testvectors/ccv-probe-gen.py \\
        --configfile=/work/ccv-node/test/config.ini --label ccv-node --output PATH

Run once per node; each run writes one JSON record. ccv-probe.json is the list of records.
"""

import argparse
import json
import os
import sys

NODE_FUNCTIONAL = os.path.abspath(os.environ.get("NODE_FUNCTIONAL", "/work/ccv-node/test/functional"))
sys.path.insert(0, NODE_FUNCTIONAL)

from test_framework.test_framework import BitcoinTestFramework  # noqa: E402
from test_framework.messages import COutPoint, CTransaction, CTxIn, CTxInWitness, CTxOut  # noqa: E402
from test_framework.script import CScript, taproot_construct  # noqa: E402
from test_framework.wallet import MiniWallet, MiniWalletMode  # noqa: E402

NUMS = bytes.fromhex("50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0")
# x(G): a valid key that is not dest.
OTHER = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
OP_CCV = 0xBB
PROBE_VALUE = 10_000
FEE = 1_000


class ProbeRecorder(BitcoinTestFramework):
    def add_options(self, parser):
        parser.add_argument("--label", required=True, help="name of the node in the record")
        parser.add_argument("--output", required=True, help="where to write the JSON record")
        parser.add_argument("--node-arg", action="append", default=[], help="extra bitcoind argument")

    def set_test_params(self):
        self.num_nodes = 1
        self.setup_clean_chain = True

    def setup_network(self):
        # A 0-fee funding transaction (MiniWallet.send_to); no effect on script checks.
        self.extra_args = [["-minrelaytxfee=0", "-blockmintxfee=0"] + self.options.node_arg]
        super().setup_network()

    def run_test(self):
        node = self.nodes[0]
        wallet = MiniWallet(node, mode=MiniWalletMode.ADDRESS_OP_TRUE)
        self.generate(wallet, 110)
        leaf = bytes([0x00, 0x00, 0x20]) + NUMS + bytes([0x00, 0x51, OP_CCV, 0x51])
        info = taproot_construct(NUMS, [("probe", CScript(leaf))])
        res = wallet.send_to(from_node=node, scriptPubKey=info.scriptPubKey, amount=PROBE_VALUE)
        if isinstance(res, tuple):  # frameworks before v26 return (txid, vout)
            res = {"txid": res[0], "sent_vout": res[1]}
        self.generate(node, 1)

        def spend(to):
            tx = CTransaction()
            setattr(tx, "version" if hasattr(tx, "version") else "nVersion", 2)  # renamed in v27
            tx.vin = [CTxIn(COutPoint(int(res["txid"], 16), res["sent_vout"]), nSequence=0xFFFFFFFD)]
            tx.vout = [CTxOut(PROBE_VALUE - FEE, CScript(bytes([0x51, 0x20]) + to))]
            wit = CTxInWitness()
            wit.scriptWitness.stack = [leaf, info.controlblock_for_script_spend("probe")]
            tx.wit.vtxinwit = [wit]
            return tx

        record = {
            "label": self.options.label,
            "node": {k: node.getnetworkinfo()[k] for k in ("version", "subversion")},
            "node_args": self.options.node_arg,
            "probe": {"leaf": leaf.hex(), "scriptPubKey": bytes(info.scriptPubKey).hex(), "dest": NUMS.hex(),
                      "other": OTHER.hex(), "value_sats": PROBE_VALUE, "fee_sats": FEE,
                      "funding_txid": res["txid"], "vout": res["sent_vout"]},
        }
        for name, to in (("valid", NUMS), ("violating", OTHER)):
            tx = spend(to)
            record[name] = {"hex": tx.serialize().hex(), "testmempoolaccept": node.testmempoolaccept([tx.serialize().hex()])[0]}
            self.log.info("%s: %s", name, record[name]["testmempoolaccept"])
        with open(self.options.output, "w", encoding="utf8") as f:
            json.dump(record, f, indent=1, sort_keys=True, default=str)
            f.write("\n")


if __name__ == "__main__":
    try:
        ProbeRecorder(__file__).main()
    except TypeError:  # frameworks before v27 take no argument
        ProbeRecorder().main()
