#!/usr/bin/env python3
"""Generate ccv-regtest.json: OP_CHECKCONTRACTVERIFY (BIP-443) vault transactions
accepted or rejected by a real regtest node.

The script is a BitcoinTestFramework test.  It imports the framework and the CCV
helpers (feature_checkcontractverify.py, feature_checkcontractverify_vaults.py)
at run time from an already-built node tree (Merkleize/bitcoin,
branch ccv-no-deferredchecks); nothing of the node is stored here.

Usage:
    CCV_NODE_FUNCTIONAL=/work/ccv-node/test/functional \\
    python3 tests/data/testvectors/ccv-gen.py \\
        --configfile=/work/ccv-node/test/config.ini [--output PATH]

Environment:
    CCV_NODE_FUNCTIONAL  node's test/functional dir (default /work/ccv-node/test/functional)
    CCV_GEN_OUTPUT       output path (default: ccv-regtest.json next to this script);
                         --output overrides it.
    CCV_NODE_GIT_DIR     git dir holding the node's commit, used to record the full
                         commit id (default /work/.mirror/Merkleize+bitcoin/repo;
                         optional, falls back to the abbreviated id).

Two vault constructions are built (both with the same Vault tree shapes):
  * "withdrawal-key": the node's feature_checkcontractverify_vaults.py Vault/Unvaulting
    (the Unvaulting class is the node's own; the Vault tree variants are rebuilt here
    because the node's class always builds the full tree; the full tree is checked
    against the node's Vault class).
  * "ctv": the MATT vault of Merkleize/pymatt examples/vault/vault_contracts.py
    (trigger data = 32-byte BIP-119 template hash; withdraw leaf ends in
    OP_CHECKTEMPLATEVERIFY), written here on top of the node's P2TR/AugmentedP2TR.

Every value written comes from the node run (transactions are submitted with
testmempoolaccept + sendrawtransaction, then mined; prevouts are read back with
getrawtransaction).  After writing, the file is re-parsed and checked offline.
Keys are derived from a fixed seed (regtest-only test keys); the node clock is
mocked, so a re-run produces the same file.
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_FUNCTIONAL = os.path.abspath(os.environ.get("CCV_NODE_FUNCTIONAL", "/work/ccv-node/test/functional"))
NODE_GIT_DIR = os.environ.get("CCV_NODE_GIT_DIR", "/work/.mirror/Merkleize+bitcoin/repo")
NODE_COMMIT_ABBREV = "9f1922cb00"
sys.path.insert(0, NODE_FUNCTIONAL)

from test_framework.test_framework import BitcoinTestFramework  # noqa: E402
from test_framework.authproxy import JSONRPCException  # noqa: E402
from test_framework.wallet import MiniWallet, MiniWalletMode  # noqa: E402
from test_framework.address import (  # noqa: E402
    create_deterministic_address_bcrt1_p2tr_op_true, output_key_to_p2tr)
from test_framework.key import (  # noqa: E402
    ORDER, TaggedHash, compute_xonly_pubkey, sign_schnorr, tweak_add_privkey,
    tweak_add_pubkey, verify_schnorr)
from test_framework.messages import (  # noqa: E402
    COIN, COutPoint, CTransaction, CTxIn, CTxInWitness, CTxOut, ser_string, tx_from_hex)
from test_framework.script import (  # noqa: E402
    CScript, CScriptOp, LEAF_VERSION_TAPSCRIPT, OPCODE_NAMES, OP_CHECKCONTRACTVERIFY,
    OP_CHECKSEQUENCEVERIFY, OP_CHECKSIG, OP_CHECKTEMPLATEVERIFY, OP_DROP, OP_DUP,
    OP_SWAP, OP_TRUE, TaprootSignatureHash, bn2vch)

import feature_checkcontractverify_vaults as node_vaults  # noqa: E402
from feature_checkcontractverify import (  # noqa: E402
    CCV_FLAG_CHECK_INPUT, CCV_FLAG_DEDUCT_OUTPUT_AMOUNT, NUMS_KEY, P2TR, AugmentedP2TR)

assert OP_CHECKTEMPLATEVERIFY == 0xb3 and OP_CHECKCONTRACTVERIFY == 0xbb

SEED = "vaultwatch/ccv-regtest/v1"
MOCKTIME = 1_700_000_000
NODE_OPTIONS = ["-par=1", "-acceptnonstdtxn=1", "-minrelaytxfee=0", "-blockmintxfee=0", "-txindex=1"]
POOL_COIN_SATS = 2_000_000
POOL_SIZE = 150
CONSTRUCTIONS = [("withdrawal-key", "wk"), ("ctv", "ctv")]


def h(b):
    return bytes(b).hex()


def sha256(b):
    return hashlib.sha256(b).digest()


def seckey(label):
    """Seeded regtest-only test key (32 bytes big endian)."""
    x = int.from_bytes(sha256((SEED + "/key/" + label).encode()), "big") % ORDER
    assert x != 0
    return x.to_bytes(32, "big")


def xonly(sec):
    return compute_xonly_pubkey(sec)[0]


def p2tr_spk(key32):
    return bytes([0x51, 0x20]) + key32


def asm(script):
    out = []
    for opcode, data, _ in CScript(script).raw_iter():
        if data is not None:
            out.append("0" if opcode == 0 else data.hex())
        else:
            op = CScriptOp(opcode)
            if op.is_small_int():
                out.append(str(op.decode_op_n()))
            elif op == 0x4f:
                out.append("-1")  # OP_1NEGATE
            else:
                out.append(OPCODE_NAMES.get(op, "0x%02x" % op))
    return " ".join(out)


def ctv_hash(tx, n_in):
    """BIP-119 DefaultCheckTemplateVerifyHash, written out here (single SHA-256s)."""
    r = (tx.version & 0xffffffff).to_bytes(4, "little")
    r += tx.nLockTime.to_bytes(4, "little")
    if any(len(i.scriptSig) for i in tx.vin):
        r += sha256(b"".join(ser_string(i.scriptSig) for i in tx.vin))
    r += len(tx.vin).to_bytes(4, "little")
    r += sha256(b"".join(i.nSequence.to_bytes(4, "little") for i in tx.vin))
    r += len(tx.vout).to_bytes(4, "little")
    r += sha256(b"".join(o.serialize() for o in tx.vout))
    r += n_in.to_bytes(4, "little")
    return sha256(r)


def self_test_ctv_hash():
    """Check ctv_hash against the published BIP-119 vectors stored next to this script."""
    path = os.path.join(HERE, "bip119-ctvhash.json")
    if not os.path.exists(path):
        return 0
    n = 0
    for case in (c for c in json.load(open(path)) if isinstance(c, dict)):
        tx = tx_from_hex(case["hex_tx"])
        for idx, res in zip(case["spend_index"], case["result"]):
            assert ctv_hash(tx, idx).hex() == res, (case["hex_tx"][:40], idx)
            n += 1
    return n


# ======= Contracts =======

def recover_leaf(recover_pk):
    # witness: <out_i>
    return CScript([0, OP_SWAP, recover_pk, 0, 0, OP_CHECKCONTRACTVERIFY, OP_TRUE])


class CtvUnvaulting(AugmentedP2TR):
    """pymatt examples/vault/vault_contracts.py Unvaulting (data = CTV template hash)."""

    def __init__(self, alternate_pk, spend_delay, recover_pk):
        assert (alternate_pk is None or len(alternate_pk) == 32) and len(recover_pk) == 32
        self.alternate_pk = alternate_pk
        self.spend_delay = spend_delay
        self.recover_pk = recover_pk
        super().__init__(NUMS_KEY if alternate_pk is None else alternate_pk)

    def get_scripts(self):
        withdraw = ("withdraw", CScript([
            # witness: <ctv_hash>
            OP_DUP,
            # check_input_contract(-1, alternate_pk)
            -1, 0 if self.alternate_pk is None else self.alternate_pk, -1, CCV_FLAG_CHECK_INPUT,
            OP_CHECKCONTRACTVERIFY,
            # older(spend_delay)
            self.spend_delay, OP_CHECKSEQUENCEVERIFY, OP_DROP,
            OP_CHECKTEMPLATEVERIFY,
        ]))
        return [withdraw, ("recover", recover_leaf(self.recover_pk))]


def make_unvaulting(construction, alternate_pk, spend_delay, recover_pk):
    if construction == "withdrawal-key":
        return node_vaults.Unvaulting(alternate_pk, spend_delay, recover_pk)  # the node's own class
    return CtvUnvaulting(alternate_pk, spend_delay, recover_pk)


class CcvVault(P2TR):
    """The Vault of both constructions (identical leaves; only the unvaulting taptree differs)."""

    def __init__(self, construction, alternate_pk, spend_delay, recover_pk, unvault_pk, *,
                 has_partial_revault=True, has_early_recover=True):
        assert (alternate_pk is None or len(alternate_pk) == 32) and len(recover_pk) == 32 and len(unvault_pk) == 32
        self.construction = construction
        self.alternate_pk = alternate_pk
        self.spend_delay = spend_delay
        self.recover_pk = recover_pk
        self.unvault_pk = unvault_pk
        self.has_partial_revault = has_partial_revault
        self.has_early_recover = has_early_recover
        self.unvaulting = make_unvaulting(construction, alternate_pk, spend_delay, recover_pk)
        pk = 0 if alternate_pk is None else alternate_pk
        utree = self.unvaulting.get_taptree()
        # witness: <sig> <data> <out_i>
        trigger = ("trigger", CScript([pk, utree, 0, OP_CHECKCONTRACTVERIFY, unvault_pk, OP_CHECKSIG]))
        # witness: <sig> <data> <out_i> <revault_out_i>
        trigger_and_revault = ("trigger_and_revault", CScript([
            0, OP_SWAP, -1, -1, CCV_FLAG_DEDUCT_OUTPUT_AMOUNT, OP_CHECKCONTRACTVERIFY,
            pk, utree, 0, OP_CHECKCONTRACTVERIFY,
            unvault_pk, OP_CHECKSIG]))
        recover = ("recover", recover_leaf(recover_pk))
        if has_partial_revault and has_early_recover:
            tree, self.shape = [trigger, [trigger_and_revault, recover]], "[trigger, [trigger_and_revault, recover]]"
        elif has_partial_revault:
            tree, self.shape = [trigger, trigger_and_revault], "[trigger, trigger_and_revault]"
        elif has_early_recover:
            tree, self.shape = [trigger, recover], "[trigger, recover]"
        else:
            tree, self.shape = [trigger], "trigger"
        super().__init__(NUMS_KEY if alternate_pk is None else alternate_pk, tree)


class HazardP2TR(P2TR):
    """A recover-looking leaf whose CCV mode is undefined (3): OP_SUCCESS behaviour."""

    def __init__(self, recover_pk):
        super().__init__(NUMS_KEY, [("recover_mode3", CScript(
            [0, OP_SWAP, recover_pk, 0, 3, OP_CHECKCONTRACTVERIFY, OP_TRUE]))])


class Sig:
    """Witness placeholder: BIP-340 signature (SIGHASH_DEFAULT, script path) by `sec`."""

    def __init__(self, sec):
        self.sec = sec


# ======= JSON helpers =======

def dec_default(o):
    if isinstance(o, Decimal):
        return "@@DEC" + format(o, "f") + "@@"
    raise TypeError(repr(o))


def dumps(obj):
    text = json.dumps(obj, indent=1, default=dec_default)
    return re.sub(r'"@@DEC(-?[0-9.]+)@@"', r"\1", text) + "\n"


def sats(btc):
    v = Decimal(btc) * COIN
    assert v == int(v)
    return int(v)


class CcvGen(BitcoinTestFramework):
    def add_options(self, parser):
        parser.add_argument("--output", dest="output",
                            default=os.environ.get("CCV_GEN_OUTPUT", os.path.join(HERE, "ccv-regtest.json")),
                            help="where to write the JSON (default: %(default)s)")

    def set_test_params(self):
        self.num_nodes = 1
        self.setup_clean_chain = True
        self.extra_args = [list(NODE_OPTIONS)]

    # ------------------------------------------------------------------ setup

    def run_test(self):
        n_ctv = self_test_ctv_hash()
        self.log.info("ctv_hash self-test: %d BIP-119 vector pairs match", n_ctv)
        self.node = node = self.nodes[0]
        node.setmocktime(MOCKTIME)
        self.rng = random.Random(SEED)
        self.vaults = {}        # id -> CcvVault
        self.vault_json = []
        self.scenarios = []
        self.invalid = []
        self.hazards = []

        self.wallet = MiniWallet(node, mode=MiniWalletMode.ADDRESS_OP_TRUE)
        self.opt_addr, self.opt_info = create_deterministic_address_bcrt1_p2tr_op_true()
        assert self.wallet.get_scriptPubKey() == self.opt_info.scriptPubKey
        self.generate(self.wallet, 101)
        self.make_pool()

        for construction, p in CONSTRUCTIONS:
            self.define_vaults(construction, p)
        for construction, p in CONSTRUCTIONS:
            self.sc_withdraw(construction, p)
            self.sc_recover_from_vault(construction, p)
            self.sc_recover_from_unvaulting(construction, p)
            self.sc_trigger_out_i_1(construction, p)
            self.sc_batched_trigger(construction, p)
            self.sc_trigger_and_revault(construction, p)
            self.sc_batched_recovery(construction, p)
            self.sc_variants(construction, p)
        self.sc_hazard()

        assert node.getmempoolinfo()["size"] == 0
        info = node.getnetworkinfo()
        doc = {
            "description": "OP_CHECKCONTRACTVERIFY (BIP-443) vault transactions run through a regtest node "
                           "(testmempoolaccept + sendrawtransaction, then mined). Generated by ccv-gen.py; "
                           "not a published vector set.",
            "source": {
                "repo": "Merkleize/bitcoin",
                "branch": "ccv-no-deferredchecks",
                "commit": self.node_commit(),
                "node_version": {"version": info["version"], "subversion": info["subversion"]},
                "options": list(NODE_OPTIONS),
                "chain": "regtest",
                "mocktime": MOCKTIME,
                "genesis": node.getblockhash(0),
                "final_height": node.getblockcount(),
                "final_tip": node.getbestblockhash(),
                "key_seed": SEED,
                "contracts": {
                    "withdrawal-key": "Merkleize/bitcoin test/functional/feature_checkcontractverify_vaults.py "
                                      "Vault/Unvaulting (tree variants rebuilt with the same leaves)",
                    "ctv": "Merkleize/pymatt examples/vault/vault_contracts.py Vault/Unvaulting "
                           "(src/matt/script_helpers.py check_input_contract/older)",
                },
            },
            "conventions": self.conventions(),
            "vaults": self.vault_json,
            "scenarios": self.scenarios,
            "invalid": self.invalid,
            "hazards": self.hazards,
        }
        text = dumps(doc)
        with open(self.options.output, "w") as f:
            f.write(text)
        self.log.info("wrote %s (%d bytes)", self.options.output, len(text))
        counts = verify_file(self.options.output)
        self.log.info("offline check OK: %s", counts)

    def node_commit(self):
        try:
            return subprocess.check_output(["git", "--git-dir", NODE_GIT_DIR, "rev-parse", NODE_COMMIT_ABBREV + "^{commit}"],
                                           text=True, stderr=subprocess.DEVNULL).strip()
        except Exception:
            return NODE_COMMIT_ABBREV

    def conventions(self):
        return {
            "amounts": "satoshis (integers) in *_sats fields; testmempoolaccept objects are verbatim RPC results (BTC, BTC/kvB)",
            "txid/wtxid/block hashes": "RPC display order (byte-reversed)",
            "keys, scripts, hashes, witness items, control blocks": "hex, serialization order; keys are 32-byte x-only",
            "naked_key": "the taproot internal key before any data tweak: NUMS_KEY (BIP-341 H point, "
                         "50929b74...3ac0) unless alternate_pk is set, then alternate_pk",
            "data tweak": "data_tweak = SHA256(naked_key || data) (plain single SHA-256, no tag); "
                          "internal_key = x-only(naked_key + data_tweak*G) (naked_key lifted to even Y); "
                          "empty data means no data tweak (internal_key = naked_key). The vault outputs carry no data.",
            "taproot": "tapleaf_hash = TaggedHash('TapLeaf', 0xc0 || compact_size(len(script)) || script); "
                       "merkle_root per BIP-341 (sorted TapBranch); output_key = x-only(internal_key + "
                       "TaggedHash('TapTweak', internal_key || merkle_root)*G); output_key_parity = 1 if odd Y; "
                       "spk = 0x51 0x20 || output_key; control_block = (0xc0 | parity) || internal_key || merkle_path",
            "merkle_path": "concatenated 32-byte sibling hashes, leaf to root (control block without its first 33 bytes)",
            "tree shapes": "nested lists as given to the node's taproot_construct: full = [trigger, [trigger_and_revault, recover]]; "
                           "has_early_recover=false -> [trigger, trigger_and_revault]; has_partial_revault=false -> "
                           "[trigger, recover]; both false -> single leaf trigger (empty merkle_path). Unvaulting = [withdraw, recover].",
            "CCV": "OP_CHECKCONTRACTVERIFY = 0xbb, stack (data index pk taptree flags -- ); pk 0 = NUMS_KEY, -1 = current "
                   "input's internal key; taptree 0 = no taptweak (output key = internal key), -1 = current input's merkle root; "
                   "flags 0 = output, amount >= sum of the amounts assigned to it; 1 = ignore amount; 2 = deduct "
                   "output amount from the input's residual; -1 = check input; other values = immediate success (OP_SUCCESS)",
            "recovery output": "exactly 0x51 0x20 || recover_pk (no BIP-86 tweak, taptree 0)",
            "withdrawal-key construction": "trigger witness <sig> <withdrawal_pk> <out_i>; unvaulting data = withdrawal_pk; "
                                           "withdraw witness <withdrawal_pk>, requires output 0 = 0x51 0x20 || withdrawal_pk with "
                                           "amount >= unvaulting amount, after nSequence >= spend_delay",
            "ctv construction": "trigger witness <sig> <ctv_hash> <out_i>; unvaulting data = ctv_hash = BIP-119 "
                                "DefaultCheckTemplateVerifyHash(withdrawal tx, input 0) (same bytes as the stack item); "
                                "withdraw witness <ctv_hash>",
            "out_i / revault_out_i in witnesses": "minimal script numbers (0 is the empty item)",
            "signatures": "BIP-340, SIGHASH_DEFAULT (64 bytes), script path, aux_rand = 32 zero bytes",
            "funding / fee inputs": "P2TR anyone-can-spend MiniWallet output (internal key 0x00..01, one leaf OP_TRUE), "
                                    "witness <OP_TRUE script> <control block>; role 'fee' or 'funding'",
            "vault_id": "id of an entry of 'vaults' (a parameter set); several UTXOs may share one",
            "outputs[].from_inputs": "indices of the inputs whose CCV check targets this output",
            "unvault_secret / alternate_secret": "regtest-only test keys (seeded), so signatures can be re-made",
            "reject strings": "testmempoolaccept reject-reason, sendrawtransaction error and generateblock error exactly as "
                              "returned. CCV 'Mismatching contract data or program' and 'Invalid Schnorr signature' come "
                              "as 'mandatory-script-verify-flag-failed (...)'; CCV 'Incorrect amount for "
                              "OP_CHECKCONTRACTVERIFY' and 'Script failed an OP_CHECKTEMPLATEVERIFY operation' come as "
                              "'non-mandatory-script-verify-flag (...)' (the node's re-check without policy flags skips "
                              "the tx-wide CCV amount state, and CTV's verify flag is not in its mandatory set). All are "
                              "invalid by consensus: generateblock_error shows a block holding each one is rejected",
        }

    def make_pool(self):
        """Split one coinbase into POOL_SIZE P2TR OP_TRUE coins (funding and fee inputs)."""
        utxo = self.wallet.get_utxo()
        value = sats(utxo["value"])
        tx = CTransaction()
        tx.vin = [CTxIn(COutPoint(int(utxo["txid"], 16), utxo["vout"]))]
        tx.vout = [CTxOut(POOL_COIN_SATS, self.opt_info.scriptPubKey) for _ in range(POOL_SIZE)]
        tx.vout.append(CTxOut(value - POOL_SIZE * POOL_COIN_SATS - 100_000, self.opt_info.scriptPubKey))
        self.set_optrue_witness(tx, 0)
        txid = self.node.sendrawtransaction(tx.serialize().hex())
        self.generate(self.node, 1)
        self.pool = [(txid, i, POOL_COIN_SATS) for i in range(POOL_SIZE)]
        self.pool.reverse()

    def coin(self):
        return self.pool.pop()

    def set_optrue_witness(self, tx, i):
        while len(tx.wit.vtxinwit) < len(tx.vin):
            tx.wit.vtxinwit.append(CTxInWitness())
        leaf = self.opt_info.leaves["only-path"]
        tx.wit.vtxinwit[i].scriptWitness.stack = [
            leaf.script, bytes([leaf.version | self.opt_info.negflag]) + self.opt_info.internal_pubkey]

    # -------------------------------------------------------------- vaults

    def add_vault(self, vid, construction, *, spend_delay, recover_label, unvault_label,
                  alternate_label=None, has_partial_revault=True, has_early_recover=True):
        recover_pk = xonly(seckey(recover_label))
        unvault_sec = seckey(unvault_label)
        alt_sec = seckey(alternate_label) if alternate_label else None
        alt_pk = xonly(alt_sec) if alt_sec else None
        v = CcvVault(construction, alt_pk, spend_delay, recover_pk, xonly(unvault_sec),
                     has_partial_revault=has_partial_revault, has_early_recover=has_early_recover)
        v.id = vid
        v.unvault_sec = unvault_sec
        v.alt_sec = alt_sec
        self.vaults[vid] = v
        tr = v.get_tr_info()
        leaves = []
        for name, leaf in sorted(tr.leaves.items(), key=lambda kv: ["trigger", "trigger_and_revault", "recover"].index(kv[0])):
            leaves.append({
                "name": name, "script": h(leaf.script), "asm": asm(leaf.script), "leaf_version": leaf.version,
                "tapleaf_hash": h(leaf.leaf_hash), "merkle_path": h(leaf.merklebranch),
                "control_block": h(tr.controlblock_for_script_spend(name)),
            })
        u = v.unvaulting
        utr = u.get_tr_info(b"")
        uleaves = []
        for name in ["withdraw", "recover"]:
            leaf = utr.leaves[name]
            uleaves.append({"name": name, "script": h(leaf.script), "asm": asm(leaf.script),
                            "leaf_version": leaf.version, "tapleaf_hash": h(leaf.leaf_hash),
                            "merkle_path": h(leaf.merklebranch)})
        entry = {
            "id": vid,
            "construction": construction,
            "params": {
                "alternate_pk": h(alt_pk) if alt_pk else None,
                "spend_delay": spend_delay,
                "recover_pk": h(recover_pk),
                "unvault_pk": h(v.unvault_pk),
                "has_partial_revault": has_partial_revault,
                "has_early_recover": has_early_recover,
            },
            "unvault_secret": h(unvault_sec),
            "alternate_secret": h(alt_sec) if alt_sec else None,
            "tree_shape": v.shape,
            "naked_key": h(tr.internal_pubkey),
            "leaves": leaves,
            "merkle_root": h(tr.merkle_root),
            "taptweak": h(tr.tweak),
            "output_key": h(tr.output_pubkey),
            "output_key_parity": int(tr.negflag),
            "vault_spk": h(tr.scriptPubKey),
            "address": output_key_to_p2tr(tr.output_pubkey),
            "unvaulting": {
                "naked_key": h(u.naked_internal_pubkey),
                "merkle_root": h(utr.merkle_root),
                "leaves": uleaves,
            },
        }
        self.vault_json.append(entry)
        return v

    def define_vaults(self, c, p):
        self.add_vault(f"{p}-full", c, spend_delay=10 if c == "withdrawal-key" else 12,
                       recover_label=f"{p}/recover", unvault_label=f"{p}/unvault")
        self.add_vault(f"{p}-no-partial-revault", c, spend_delay=6, recover_label=f"{p}/recover",
                       unvault_label=f"{p}/unvault", has_partial_revault=False)
        self.add_vault(f"{p}-no-early-recover", c, spend_delay=7, recover_label=f"{p}/recover",
                       unvault_label=f"{p}/unvault", has_early_recover=False)
        self.add_vault(f"{p}-trigger-only", c, spend_delay=8, recover_label=f"{p}/recover",
                       unvault_label=f"{p}/unvault", has_partial_revault=False, has_early_recover=False)
        self.add_vault(f"{p}-alternate-pk", c, spend_delay=9, recover_label=f"{p}/recover",
                       unvault_label=f"{p}/unvault", alternate_label=f"{p}/alternate")
        self.add_vault(f"{p}-recover2", c, spend_delay=11, recover_label=f"{p}/recover2",
                       unvault_label=f"{p}/unvault2")
        if c == "withdrawal-key":
            # our full tree must equal the node's own Vault class
            v = self.vaults[f"{p}-full"]
            ref = node_vaults.Vault(None, v.spend_delay, v.recover_pk, v.unvault_pk)
            assert ref.get_tr_info().scriptPubKey == v.get_tr_info().scriptPubKey
            assert ref.get_tr_info().merkle_root == v.get_tr_info().merkle_root

    # ------------------------------------------------------- tx building

    def vin_vault(self, v, txid, vout, amount, clause, wit, args, nSequence=0, role="vault"):
        tr = v.get_tr_info()
        return {"txid": txid, "vout": vout, "prevout": CTxOut(amount, tr.scriptPubKey), "role": role,
                "vault_id": v.id, "clause": clause, "tr": tr, "leaf": clause, "wit": wit, "args": args,
                "seq": nSequence, "path": "script"}

    def vin_unvaulting(self, v, data, txid, vout, amount, clause, wit, args, nSequence=0):
        tr = v.unvaulting.get_tr_info(data)
        a = {"data": h(data)}
        a.update(args)
        return {"txid": txid, "vout": vout, "prevout": CTxOut(amount, tr.scriptPubKey), "role": "unvaulting",
                "vault_id": v.id, "clause": clause, "tr": tr, "leaf": clause, "wit": wit, "args": a,
                "seq": nSequence, "path": "script"}

    def vin_keypath(self, v, txid, vout, amount):
        tr = v.get_tr_info()
        return {"txid": txid, "vout": vout, "prevout": CTxOut(amount, tr.scriptPubKey), "role": "vault",
                "vault_id": v.id, "clause": None, "tr": tr, "leaf": None, "wit": None, "args": None,
                "seq": 0, "path": "keypath", "keysec": tweak_add_privkey(v.alt_sec, tr.tweak)}

    def vin_fee(self, role="fee", coin=None):
        txid, vout, value = coin or self.coin()
        return {"txid": txid, "vout": vout, "prevout": CTxOut(value, self.opt_info.scriptPubKey), "role": role,
                "vault_id": None, "clause": None, "tr": None, "leaf": None, "wit": None, "args": None,
                "seq": 0, "path": "script"}

    def vin_raw(self, contract, leaf, wit, txid, vout, amount, role):
        tr = contract.get_tr_info()
        return {"txid": txid, "vout": vout, "prevout": CTxOut(amount, tr.scriptPubKey), "role": role,
                "vault_id": None, "clause": leaf, "tr": tr, "leaf": leaf, "wit": wit, "args": None,
                "seq": 0, "path": "script"}

    def out_vault(self, v, amount, role="vault", from_inputs=None):
        return {"txout": CTxOut(amount, v.get_tr_info().scriptPubKey), "role": role, "vault_ids": [v.id],
                "from_inputs": from_inputs}

    def out_unvaulting(self, v, data, amount, from_inputs, vault_ids=None):
        u = v.unvaulting
        tr = u.get_tr_info(data)
        tweak = sha256(u.naked_internal_pubkey + data)
        assert tweak_add_pubkey(u.naked_internal_pubkey, tweak)[0] == tr.internal_pubkey
        return {"txout": CTxOut(amount, tr.scriptPubKey), "role": "unvaulting", "vault_ids": vault_ids or [v.id],
                "from_inputs": from_inputs, "data": h(data), "data_tweak": h(tweak),
                "naked_key": h(u.naked_internal_pubkey), "internal_key": h(tr.internal_pubkey),
                "merkle_root": h(tr.merkle_root), "output_key": h(tr.output_pubkey),
                "output_key_parity": int(tr.negflag)}

    def out_recovery(self, recover_pk, amount, vault_ids, from_inputs):
        return {"txout": CTxOut(amount, p2tr_spk(recover_pk)), "role": "recovery", "vault_ids": vault_ids,
                "from_inputs": from_inputs, "output_key": h(recover_pk)}

    def out_change(self, amount):
        return {"txout": CTxOut(amount, self.opt_info.scriptPubKey), "role": "change", "vault_ids": None,
                "from_inputs": None}

    def out_plain(self, spk, amount, role, **extra):
        d = {"txout": CTxOut(amount, spk), "role": role, "vault_ids": None, "from_inputs": None}
        d.update(extra)
        return d

    def build(self, ins, outs, *, version=2, locktime=0):
        tx = CTransaction()
        tx.version = version
        tx.nLockTime = locktime
        tx.vin = [CTxIn(COutPoint(int(i["txid"], 16), i["vout"]), nSequence=i["seq"]) for i in ins]
        tx.vout = [o["txout"] for o in outs]
        tx.wit.vtxinwit = [CTxInWitness() for _ in ins]
        spent = [i["prevout"] for i in ins]
        for n, i in enumerate(ins):
            if i["tr"] is None:
                self.set_optrue_witness(tx, n)
            elif i["path"] == "keypath":
                msg = TaprootSignatureHash(tx, spent, 0, input_index=n, scriptpath=False)
                sig = sign_schnorr(i["keysec"], msg)
                assert verify_schnorr(i["tr"].output_pubkey, sig, msg)
                tx.wit.vtxinwit[n].scriptWitness.stack = [sig]
            else:
                leaf = i["tr"].leaves[i["leaf"]]
                stack = []
                for w in i["wit"]:
                    if isinstance(w, Sig):
                        msg = TaprootSignatureHash(tx, spent, 0, input_index=n, scriptpath=True, leaf_script=leaf.script)
                        w = sign_schnorr(w.sec, msg)
                    stack.append(w)
                stack += [leaf.script, i["tr"].controlblock_for_script_spend(i["leaf"])]
                tx.wit.vtxinwit[n].scriptWitness.stack = stack
        tx.rehash()
        return tx

    # ------------------------------------------------------- recording

    def read_prevouts(self, tx):
        res = []
        for vin in tx.vin:
            txid = "%064x" % vin.prevout.hash
            prev = self.node.getrawtransaction(txid, True)
            o = prev["vout"][vin.prevout.n]
            res.append({"txid": txid, "vout": vin.prevout.n, "value_sats": sats(o["value"]),
                        "scriptPubKey": o["scriptPubKey"]["hex"]})
        return res

    def describe(self, tx, ins, outs):
        prevouts = self.read_prevouts(tx)
        for p, i in zip(prevouts, ins):
            assert p["value_sats"] == i["prevout"].nValue and p["scriptPubKey"] == h(i["prevout"].scriptPubKey), (p, i)
        jin = []
        for n, i in enumerate(ins):
            jin.append({"role": i["role"], "vault_id": i["vault_id"], "clause": i["clause"],
                        "spend_path": i["path"], "sequence": tx.vin[n].nSequence,
                        "witness": [h(w) for w in tx.wit.vtxinwit[n].scriptWitness.stack],
                        "args": i["args"]})
        jout = []
        for n, o in enumerate(outs):
            d = {"vout": n, "value_sats": tx.vout[n].nValue, "scriptPubKey": h(tx.vout[n].scriptPubKey)}
            for k, val in o.items():
                if k != "txout":
                    d[k] = val
            jout.append(d)
        fee = sum(p["value_sats"] for p in prevouts) - sum(o.nValue for o in tx.vout)
        return prevouts, jin, jout, fee

    def tma(self, tx):
        return self.node.testmempoolaccept([tx.serialize().hex()])

    def submit(self, scen, kind, tx, ins, outs, *, mine=True, description=None):
        hexs = tx.serialize().hex()
        prevouts, jin, jout, fee = self.describe(tx, ins, outs)
        tma = self.tma(tx)
        assert tma[0]["allowed"], (scen["id"], kind, tma)
        assert tma[0]["vsize"] == tx.get_vsize() and sats(tma[0]["fees"]["base"]) == fee
        assert self.node.sendrawtransaction(hexs) == tx.rehash()
        step = {"kind": kind, "description": description, "txid": tx.rehash(), "wtxid": tx.getwtxid(),
                "hex": hexs, "vsize": tx.get_vsize(), "weight": tx.get_weight(), "fee_sats": fee,
                "prevouts": prevouts, "inputs": jin, "outputs": jout, "submitted_at_height": self.node.getblockcount(),
                "testmempoolaccept": tma, "mined_height": None, "mined_block_hash": None}
        scen["steps"].append(step)
        if mine:
            self.mine([step])
        return tx.rehash()

    def mine(self, steps):
        bh = self.generate(self.node, 1)[0]
        blk = self.node.getblock(bh)
        for s in steps:
            assert s["txid"] in blk["tx"], s["txid"]
            s["mined_height"] = blk["height"]
            s["mined_block_hash"] = bh
        assert self.node.getmempoolinfo()["size"] == 0

    def reject(self, iid, construction, description, tx, ins, outs, expect, related, **extra):
        hexs = tx.serialize().hex()
        prevouts, jin, jout, fee = self.describe(tx, ins, outs)
        mempool_before = self.node.getrawmempool()
        tma = self.tma(tx)
        assert not tma[0]["allowed"], (iid, tma)
        try:
            self.node.sendrawtransaction(hexs)
            raise AssertionError("%s was accepted" % iid)
        except JSONRPCException as e:
            err = {"code": e.error["code"], "message": e.error["message"]}
        assert expect in tma[0]["reject-reason"] and expect in err["message"], (iid, tma, err)
        assert self.node.getrawmempool() == mempool_before
        # consensus: a block holding the transaction must be rejected as well
        tip = self.node.getbestblockhash()
        try:
            self.generateblock(self.node, self.wallet.get_address(), [hexs])
            raise AssertionError("%s was mined" % iid)
        except JSONRPCException as e:
            gb = {"code": e.error["code"], "message": e.error["message"]}
        assert self.node.getbestblockhash() == tip
        entry = {"id": iid, "construction": construction, "description": description, "related_scenario": related,
                 "txid": tx.rehash(), "wtxid": tx.getwtxid(), "hex": hexs, "vsize": tx.get_vsize(), "fee_sats": fee,
                 "prevouts": prevouts, "inputs": jin, "outputs": jout,
                 "tested_at_height": self.node.getblockcount(), "testmempoolaccept": tma,
                 "reject_reason": tma[0]["reject-reason"], "sendrawtransaction_error": err,
                 "generateblock_error": gb}
        entry.update(extra)
        self.invalid.append(entry)
        self.log.info("invalid %s: %s", iid, err["message"])
        return entry

    def new_scenario(self, sid, construction, description):
        s = {"id": sid, "construction": construction, "description": description, "notes": [], "steps": []}
        self.scenarios.append(s)
        return s

    def deposit(self, scen, vault_amounts, fee=1_000):
        """One funding coin -> vault outputs (in order) + change (last). Returns [(txid, vout, amount)]."""
        fin = self.vin_fee(role="funding")
        outs = [self.out_vault(v, a) for v, a in vault_amounts]
        total = sum(a for _, a in vault_amounts)
        outs.append(self.out_change(fin["prevout"].nValue - total - fee))
        tx = self.build([fin], outs)
        txid = self.submit(scen, "deposit", tx, [fin], outs, description="%d vault output(s)" % len(vault_amounts))
        return [(txid, n, a) for n, (_, a) in enumerate(vault_amounts)]

    def amount(self, lo=30_000, hi=400_000):
        return self.rng.randrange(lo, hi)

    # ---- construction-specific data

    def wk_data(self, label):
        sec = seckey(label)
        return xonly(sec)

    def ctv_template(self, v, amount, dests, fee):
        """Withdrawal template spending one unvaulting output: outputs dests (list of (spk, share)) summing
        to amount - fee; nSequence = spend_delay."""
        tx = CTransaction()
        tx.version = 2
        tx.nLockTime = 0
        tx.vin = [CTxIn(COutPoint(0, 0), nSequence=v.spend_delay)]
        rest = amount - fee
        vout = []
        for k, (spk, share) in enumerate(dests):
            val = rest - sum(o.nValue for o in vout) if k == len(dests) - 1 else rest * share // 100
            vout.append(CTxOut(val, spk))
        tx.vout = vout
        assert ctv_hash(tx, 0) == tx.get_standard_template_hash(0)  # the framework's own helper agrees
        return tx, ctv_hash(tx, 0)

    def trigger_data(self, c, v, amount, label):
        """Returns (data, ctv template or None) for a trigger of `amount`."""
        if c == "withdrawal-key":
            return self.wk_data(label), None
        dest = p2tr_spk(xonly(seckey(label)))
        tmpl, hsh = self.ctv_template(v, amount, [(dest, 70), (p2tr_spk(xonly(seckey(label + "/b"))), 30)], 600)
        return hsh, tmpl

    def trig_wit(self, v, data, out_i):
        return [Sig(v.unvault_sec), data, bn2vch(out_i)]

    # ------------------------------------------------------- scenarios

    def sc_withdraw(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-withdraw", c, "deposit -> trigger (out_i 0, 0 fee) -> withdraw one block "
                              "early (rejected) -> withdraw to a wrong output (rejected) -> withdraw after the delay")
        amt = self.amount()
        [(vtxid, vout, _)] = self.deposit(s, [(v, amt)])
        data, tmpl = self.trigger_data(c, v, amt, f"{p}/withdrawal/1")
        ins = [self.vin_vault(v, vtxid, vout, amt, "trigger", self.trig_wit(v, data, 0), {"data": h(data), "out_i": 0})]
        outs = [self.out_unvaulting(v, data, amt, [0])]
        ttxid = self.submit(s, "trigger", self.build(ins, outs), ins, outs)
        trig_height = s["steps"][-1]["mined_height"]

        def withdraw_tx(wdata, variant):
            if c == "withdrawal-key":
                key = wdata if variant == "good" else xonly(seckey(f"{p}/withdrawal/wrong"))
                fin = self.vin_fee(coin=fee_coin)
                i = [self.vin_unvaulting(v, data, ttxid, 0, amt, "withdraw", [wdata], {}, nSequence=v.spend_delay), fin]
                o = [self.out_plain(p2tr_spk(key), amt, "withdrawal", from_inputs=[0]),
                     self.out_change(fin["prevout"].nValue - 1_000)]
            else:
                tx = CTransaction()
                tx.vout = [CTxOut(x.nValue, x.scriptPubKey) for x in tmpl.vout]
                if variant != "good":
                    tx.vout[0].nValue -= 1  # one more sat of fee: different template
                i = [self.vin_unvaulting(v, data, ttxid, 0, amt, "withdraw", [wdata], {}, nSequence=v.spend_delay)]
                o = [self.out_plain(x.scriptPubKey, x.nValue, "withdrawal") for x in tx.vout]
            return self.build(i, o), i, o

        fee_coin = self.coin()
        # one block early: next block height = trig_height + spend_delay - 1
        self.generate(self.node, v.spend_delay - 2)
        assert self.node.getblockcount() + 1 == trig_height + v.spend_delay - 1
        tx, i, o = withdraw_tx(data, "good")
        self.reject(f"{p}-withdraw-early", c, "withdraw one block before the relative timelock (nSequence = "
                    "spend_delay) is satisfied", tx, i, o, "non-BIP68-final", s["id"],
                    blocks_until_valid=1)
        self.generate(self.node, 1)
        if c == "withdrawal-key":
            tx, i, o = withdraw_tx(data, "wrong")
            self.reject(f"{p}-withdraw-wrong-output", c, "withdraw witness <withdrawal_pk> but output 0 pays "
                        "OP_1 <other key>", tx, i, o, "Mismatching contract data or program", s["id"])
        else:
            tx, i, o = withdraw_tx(data, "wrong")
            self.reject(f"{p}-withdraw-wrong-output", c, "withdraw with the committed ctv_hash but output 0 is 1 sat "
                        "smaller than in the template (CTV mismatch)", tx, i, o,
                        "Script failed an OP_CHECKTEMPLATEVERIFY operation", s["id"])
            tx.wit.vtxinwit[0].scriptWitness.stack[0] = ctv_hash(tx, 0)
            self.reject(f"{p}-withdraw-wrong-ctv-data", c, "same outputs as ctv-withdraw-wrong-output, witness = that "
                        "tx's own template hash (CTV would pass) but the unvaulting output commits to another hash "
                        "(CCV check-input mismatch)", tx, i, o, "Mismatching contract data or program", s["id"],
                        witness_ctv_hash=h(ctv_hash(tx, 0)))
        tx, i, o = withdraw_tx(data, "good")
        if c == "ctv":
            assert ctv_hash(tx, 0) == data
        self.submit(s, "withdraw", tx, i, o, description="after spend_delay blocks")

    def sc_recover_from_vault(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-recover-from-vault", c, "two vault outputs; recover #1 with a fee input + change; "
                              "recover #2 with no fee input (0 fee)")
        a1, a2 = self.amount(), self.amount()
        [(t1, n1, _), (t2, n2, _)] = self.deposit(s, [(v, a1), (v, a2)])

        def rec(txid, vout, amt, rpk, delta, with_fee):
            i = [self.vin_vault(v, txid, vout, amt, "recover", [bn2vch(0)], {"out_i": 0})]
            o = [self.out_recovery(rpk, amt + delta, [v.id], [0])]
            if rpk != v.recover_pk:
                o[0]["role"] = "recovery_wrong_key"
            if with_fee:
                i.append(self.vin_fee(coin=fc))
                o.append(self.out_change(fc[2] - 1_000))
            return self.build(i, o), i, o

        fc = self.coin()
        tx, i, o = rec(t1, n1, a1, xonly(seckey(f"{p}/recover/wrong")), 0, True)
        self.reject(f"{p}-recover-wrong-key", c, "vault recover clause, output 0 pays OP_1 <other key>", tx, i, o,
                    "Mismatching contract data or program", s["id"])
        tx, i, o = rec(t1, n1, a1, v.recover_pk, -1, True)
        self.reject(f"{p}-recover-1-sat-short", c, "vault recover clause, recovery output = vault amount - 1",
                    tx, i, o, "Incorrect amount for OP_CHECKCONTRACTVERIFY", s["id"])
        tx, i, o = rec(t1, n1, a1, v.recover_pk, 0, True)
        self.submit(s, "recover", tx, i, o, description="keyless recover, fee paid by a fee input")
        tx, i, o = rec(t2, n2, a2, v.recover_pk, 0, False)
        r = self.tma(tx)
        if r[0]["allowed"]:
            self.submit(s, "recover", tx, i, o, description="keyless recover, single input, 0 fee (minrelaytxfee=0)")
            s["notes"].append("0-fee recover accepted by the mempool (node runs with -minrelaytxfee=0 -blockmintxfee=0) and mined")
        else:
            self.reject(f"{p}-recover-zero-fee", c, "0-fee recover", tx, i, o, "", s["id"])
            s["notes"].append("0-fee recover rejected: " + r[0]["reject-reason"])

    def sc_recover_from_unvaulting(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-recover-from-unvaulting", c, "deposit -> trigger (fee input, change) -> recover "
                              "the unvaulting output, submitted while the trigger is still unconfirmed")
        amt = self.amount()
        [(vt, vn, _)] = self.deposit(s, [(v, amt)])
        data, _ = self.trigger_data(c, v, amt, f"{p}/withdrawal/2")
        fin = self.vin_fee()
        ins = [self.vin_vault(v, vt, vn, amt, "trigger", self.trig_wit(v, data, 0), {"data": h(data), "out_i": 0}), fin]
        outs = [self.out_unvaulting(v, data, amt, [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        ttxid = self.submit(s, "trigger", self.build(ins, outs), ins, outs, mine=False)
        fin2 = self.vin_fee()
        ri = [self.vin_unvaulting(v, data, ttxid, 0, amt, "recover", [bn2vch(0)], {"out_i": 0}), fin2]
        ro = [self.out_recovery(v.recover_pk, amt, [v.id], [0]), self.out_change(fin2["prevout"].nValue - 1_000)]
        rtx = self.build(ri, ro)
        if self.tma(rtx)[0]["allowed"]:
            self.submit(s, "recover", rtx, ri, ro, mine=False, description="recover of an unconfirmed unvaulting output")
            self.mine(s["steps"][-2:])
            s["notes"].append("recover spending the unvaulting output of an unconfirmed trigger was accepted by the "
                              "mempool; trigger and recover were mined in the same block")
        else:
            s["notes"].append("recover of an unconfirmed unvaulting output rejected: " + self.tma(rtx)[0]["reject-reason"])
            self.mine(s["steps"][-1:])
            self.submit(s, "recover", rtx, ri, ro, description="recover after the trigger confirmed")

    def sc_trigger_out_i_1(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-trigger-out-i-1", c, "trigger whose unvaulting output is at index 1 (fee input at "
                              "input 1, change at output 0); invalid variants tested first")
        amt = self.amount()
        [(vt, vn, _)] = self.deposit(s, [(v, amt)])
        data, _ = self.trigger_data(c, v, amt, f"{p}/withdrawal/3")
        wrong, _ = self.trigger_data(c, v, amt, f"{p}/withdrawal/3-wrong")
        fc = self.coin()

        def trig(out_data, delta):
            fin = self.vin_fee(coin=fc)
            i = [self.vin_vault(v, vt, vn, amt, "trigger", self.trig_wit(v, data, 1), {"data": h(data), "out_i": 1}), fin]
            o = [self.out_change(fc[2] - 1_000), self.out_unvaulting(v, out_data, amt + delta, [0])]
            return self.build(i, o), i, o

        tx, i, o = trig(wrong, 0)
        self.reject(f"{p}-trigger-wrong-data", c, "trigger witness data D, but the unvaulting output commits to other "
                    "data D'", tx, i, o, "Mismatching contract data or program", s["id"], output_data=o[1]["data"])
        tx, i, o = trig(data, -1)
        self.reject(f"{p}-trigger-1-sat-short", c, "trigger, unvaulting output = vault amount - 1", tx, i, o,
                    "Incorrect amount for OP_CHECKCONTRACTVERIFY", s["id"])
        good, i, o = trig(data, 0)
        bad = tx_from_hex(good.serialize().hex())
        sig = bytearray(bad.wit.vtxinwit[0].scriptWitness.stack[0])
        sig[-1] ^= 0x01
        bad.wit.vtxinwit[0].scriptWitness.stack[0] = bytes(sig)
        bad.rehash()
        assert bad.rehash() == good.rehash() and bad.getwtxid() != good.getwtxid()
        self.reject(f"{p}-trigger-bad-signature", c, "the valid trigger of this scenario with the last byte of the "
                    "signature flipped: same txid, different wtxid", bad, i, o, "Invalid Schnorr signature", s["id"],
                    valid_txid=good.rehash(), valid_wtxid=good.getwtxid())
        self.submit(s, "trigger", good, i, o, description="out_i = 1")

    def sc_batched_trigger(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-batched-trigger", c, "3 vault outputs (same vault) triggered into ONE unvaulting "
                              "output (amount = sum), fee input + change; then withdraw after the delay")
        amts = [self.amount() for _ in range(3)]
        utx = self.deposit(s, [(v, a) for a in amts])
        total = sum(amts)
        data, tmpl = self.trigger_data(c, v, total, f"{p}/withdrawal/4")
        fin = self.vin_fee()
        ins = [self.vin_vault(v, t, n, a, "trigger", self.trig_wit(v, data, 0), {"data": h(data), "out_i": 0})
               for t, n, a in utx] + [fin]
        outs = [self.out_unvaulting(v, data, total, [0, 1, 2]), self.out_change(fin["prevout"].nValue - 2_000)]
        ttxid = self.submit(s, "trigger", self.build(ins, outs), ins, outs, description="3 inputs -> 1 unvaulting")
        self.generate(self.node, v.spend_delay - 1)
        if c == "withdrawal-key":
            fin = self.vin_fee()
            i = [self.vin_unvaulting(v, data, ttxid, 0, total, "withdraw", [data], {}, nSequence=v.spend_delay), fin]
            o = [self.out_plain(p2tr_spk(data), total, "withdrawal", from_inputs=[0]),
                 self.out_change(fin["prevout"].nValue - 1_000)]
        else:
            i = [self.vin_unvaulting(v, data, ttxid, 0, total, "withdraw", [data], {}, nSequence=v.spend_delay)]
            o = [self.out_plain(x.scriptPubKey, x.nValue, "withdrawal") for x in tmpl.vout]
        self.submit(s, "withdraw", self.build(i, o), i, o, description="first block allowed by the timelock")

    def sc_trigger_and_revault(self, c, p):
        v = self.vaults[f"{p}-full"]
        s = self.new_scenario(f"{p}-trigger-and-revault", c, "2 vault outputs: input 0 'trigger', input 1 "
                              "'trigger_and_revault' -> unvaulting (output 0) + revault (output 1, same spk as the "
                              "vault) + change; later the revault output is recovered")
        a1, a2 = self.amount(), self.amount(100_000, 400_000)
        [(t1, n1, _), (t2, n2, _)] = self.deposit(s, [(v, a1), (v, a2)])
        revault = a2 // 3
        unv = a1 + a2 - revault
        data, _ = self.trigger_data(c, v, unv, f"{p}/withdrawal/5")
        fc = self.coin()

        def trig(d_unv, d_rev):
            fin = self.vin_fee(coin=fc)
            i = [self.vin_vault(v, t1, n1, a1, "trigger", self.trig_wit(v, data, 0), {"data": h(data), "out_i": 0}),
                 self.vin_vault(v, t2, n2, a2, "trigger_and_revault",
                                [Sig(v.unvault_sec), data, bn2vch(0), bn2vch(1)],
                                {"data": h(data), "out_i": 0, "revault_out_i": 1}),
                 fin]
            o = [self.out_unvaulting(v, data, unv + d_unv, [0, 1]),
                 self.out_vault(v, revault + d_rev, role="revault", from_inputs=[1]),
                 self.out_change(fc[2] - 1_500)]
            return self.build(i, o), i, o

        tx, i, o = trig(0, -1)
        self.reject(f"{p}-trigger-and-revault-revault-1-sat-short", c, "revault output 1 sat smaller (unvaulting "
                    "unchanged): the extra sat must go to the unvaulting output, which is now 1 sat short", tx, i, o,
                    "Incorrect amount for OP_CHECKCONTRACTVERIFY", s["id"])
        tx, i, o = trig(-1, 0)
        self.reject(f"{p}-trigger-and-revault-unvaulting-1-sat-short", c, "unvaulting output 1 sat short (revault "
                    "unchanged)", tx, i, o, "Incorrect amount for OP_CHECKCONTRACTVERIFY", s["id"])
        tx, i, o = trig(0, 0)
        ttxid = self.submit(s, "trigger", tx, i, o, description="trigger + trigger_and_revault")
        fin = self.vin_fee()
        ri = [self.vin_vault(v, ttxid, 1, revault, "recover", [bn2vch(0)], {"out_i": 0}, role="revault"), fin]
        ro = [self.out_recovery(v.recover_pk, revault, [v.id], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        self.submit(s, "recover", self.build(ri, ro), ri, ro, description="recover the revault output")

    def sc_batched_recovery(self, c, p):
        v = self.vaults[f"{p}-full"]
        v2 = self.vaults[f"{p}-recover2"]
        s = self.new_scenario(f"{p}-batched-recovery", c, "(a) 2 vault UTXOs + 2 unvaulting UTXOs (different data) of "
                              "one recover key -> one recovery output; (b) vaults of two recover keys -> two recovery "
                              "outputs in one tx; both with fee input + change")
        amts = [self.amount() for _ in range(5)]
        amts2 = [self.amount() for _ in range(2)]
        utx = self.deposit(s, [(v, a) for a in amts] + [(v2, a) for a in amts2])
        unv = []
        for k in (2, 3):
            t, n, a = utx[k]
            data, _ = self.trigger_data(c, v, a, f"{p}/withdrawal/6-{k}")
            fin = self.vin_fee()
            ins = [self.vin_vault(v, t, n, a, "trigger", self.trig_wit(v, data, 0), {"data": h(data), "out_i": 0}), fin]
            outs = [self.out_unvaulting(v, data, a, [0]), self.out_change(fin["prevout"].nValue - 1_000)]
            unv.append((self.submit(s, "trigger", self.build(ins, outs), ins, outs, mine=False), data, a))
        self.mine(s["steps"][-2:])
        # (a)
        fin = self.vin_fee()
        ri = [self.vin_vault(v, utx[k][0], utx[k][1], utx[k][2], "recover", [bn2vch(0)], {"out_i": 0}) for k in (0, 1)]
        ri += [self.vin_unvaulting(v, d, t, 0, a, "recover", [bn2vch(0)], {"out_i": 0}) for t, d, a in unv]
        ri.append(fin)
        total = sum(i["prevout"].nValue for i in ri[:4])
        ro = [self.out_recovery(v.recover_pk, total, [v.id], [0, 1, 2, 3]),
              self.out_change(fin["prevout"].nValue - 2_000)]
        self.submit(s, "recover", self.build(ri, ro), ri, ro, description="2 vault + 2 unvaulting inputs -> 1 recovery output")
        # (b)
        fin = self.vin_fee()
        t, n, a = utx[4]
        # Recovery outputs in the order of the first input that pays each (as vaultwatch builds them),
        # so the second key's input names output 1.
        ri = [self.vin_vault(v2, utx[5][0], utx[5][1], utx[5][2], "recover", [bn2vch(0)], {"out_i": 0}),
              self.vin_vault(v, t, n, a, "recover", [bn2vch(1)], {"out_i": 1}),
              self.vin_vault(v2, utx[6][0], utx[6][1], utx[6][2], "recover", [bn2vch(0)], {"out_i": 0}),
              fin]
        ro = [self.out_recovery(v2.recover_pk, utx[5][2] + utx[6][2], [v2.id], [0, 2]),
              self.out_recovery(v.recover_pk, a, [v.id], [1]),
              self.out_change(fin["prevout"].nValue - 2_000)]
        self.submit(s, "recover", self.build(ri, ro), ri, ro, description="two recover keys -> two recovery outputs")

    def sc_variants(self, c, p):
        vnp = self.vaults[f"{p}-no-partial-revault"]
        vne = self.vaults[f"{p}-no-early-recover"]
        vto = self.vaults[f"{p}-trigger-only"]
        valt = self.vaults[f"{p}-alternate-pk"]
        s = self.new_scenario(f"{p}-variants", c, "tree-shape variants and alternate_pk: one deposit, then "
                              "no-partial-revault -> recover; no-early-recover -> trigger_and_revault; trigger-only -> "
                              "trigger -> recover from unvaulting; alternate-pk -> key-path spend, and -> trigger -> "
                              "recover from unvaulting (naked key = alternate_pk)")
        amts = [self.amount() for _ in range(5)]
        utx = self.deposit(s, list(zip([vnp, vne, vto, valt, valt], amts)))
        # no-partial-revault: recover
        fin = self.vin_fee()
        i = [self.vin_vault(vnp, *utx[0], "recover", [bn2vch(0)], {"out_i": 0}), fin]
        o = [self.out_recovery(vnp.recover_pk, amts[0], [vnp.id], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        self.submit(s, "recover", self.build(i, o), i, o, description="no-partial-revault vault: recover")
        # no-early-recover: trigger_and_revault
        data, _ = self.trigger_data(c, vne, amts[1] - amts[1] // 4, f"{p}/withdrawal/7")
        fin = self.vin_fee()
        i = [self.vin_vault(vne, *utx[1], "trigger_and_revault", [Sig(vne.unvault_sec), data, bn2vch(0), bn2vch(1)],
                            {"data": h(data), "out_i": 0, "revault_out_i": 1}), fin]
        o = [self.out_unvaulting(vne, data, amts[1] - amts[1] // 4, [0]),
             self.out_vault(vne, amts[1] // 4, role="revault", from_inputs=[0]),
             self.out_change(fin["prevout"].nValue - 1_000)]
        self.submit(s, "trigger", self.build(i, o), i, o, description="no-early-recover vault: trigger_and_revault")
        # trigger-only: trigger, then recover from the unvaulting output
        data, _ = self.trigger_data(c, vto, amts[2], f"{p}/withdrawal/8")
        fin = self.vin_fee()
        i = [self.vin_vault(vto, *utx[2], "trigger", self.trig_wit(vto, data, 0), {"data": h(data), "out_i": 0}), fin]
        o = [self.out_unvaulting(vto, data, amts[2], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        tt = self.submit(s, "trigger", self.build(i, o), i, o, description="trigger-only vault (single leaf): trigger")
        fin = self.vin_fee()
        i = [self.vin_unvaulting(vto, data, tt, 0, amts[2], "recover", [bn2vch(0)], {"out_i": 0}), fin]
        o = [self.out_recovery(vto.recover_pk, amts[2], [vto.id], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        self.submit(s, "recover", self.build(i, o), i, o, description="trigger-only vault: recover from unvaulting")
        # alternate-pk: key path
        i = [self.vin_keypath(valt, *utx[3])]
        o = [self.out_plain(p2tr_spk(xonly(seckey(f"{p}/alternate/dest"))), amts[3] - 500, "keypath_destination")]
        self.submit(s, "keypath_spend", self.build(i, o), i, o,
                    description="alternate-pk vault spent by key path (secret = alternate_secret tweaked by taptweak)")
        # alternate-pk: trigger, recover from unvaulting
        data, _ = self.trigger_data(c, valt, amts[4], f"{p}/withdrawal/9")
        fin = self.vin_fee()
        i = [self.vin_vault(valt, *utx[4], "trigger", self.trig_wit(valt, data, 0), {"data": h(data), "out_i": 0}), fin]
        o = [self.out_unvaulting(valt, data, amts[4], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        tt = self.submit(s, "trigger", self.build(i, o), i, o, description="alternate-pk vault: trigger")
        fin = self.vin_fee()
        i = [self.vin_unvaulting(valt, data, tt, 0, amts[4], "recover", [bn2vch(0)], {"out_i": 0}), fin]
        o = [self.out_recovery(valt.recover_pk, amts[4], [valt.id], [0]), self.out_change(fin["prevout"].nValue - 1_000)]
        self.submit(s, "recover", self.build(i, o), i, o, description="alternate-pk vault: recover from unvaulting")

    def sc_hazard(self):
        node = self.node
        rpk = xonly(seckey("hazard/recover"))
        hz = HazardP2TR(rpk)
        tr = hz.get_tr_info()
        s = {"id": "hazard-undefined-ccv-mode", "construction": None, "steps": []}
        amt = 150_000
        fin = self.vin_fee(role="funding")
        outs = [self.out_plain(tr.scriptPubKey, amt, "hazard"), self.out_change(fin["prevout"].nValue - amt - 1_000)]
        txid = self.submit(s, "deposit", self.build([fin], outs), [fin], outs)
        attacker = xonly(seckey("hazard/attacker"))
        i = [self.vin_raw(hz, "recover_mode3", [bn2vch(0)], txid, 0, amt, "hazard")]
        o = [self.out_plain(p2tr_spk(attacker), amt - 1_000, "attacker")]
        tx = self.build(i, o)
        prevouts, jin, jout, fee = self.describe(tx, i, o)
        height = node.getblockcount()
        tma = self.tma(tx)
        # the same check under default (standard) policy: restart without -acceptnonstdtxn
        std_options = [o for o in NODE_OPTIONS if o != "-acceptnonstdtxn=1"]
        self.restart_node(0, extra_args=std_options)
        node.setmocktime(MOCKTIME)
        tma_std = self.tma(tx)
        self.restart_node(0, extra_args=list(NODE_OPTIONS))
        node.setmocktime(MOCKTIME)
        tip_before = node.getbestblockhash()
        res = self.generateblock(node, self.wallet.get_address(), [tx.serialize().hex()])
        blk = node.getblock(res["hash"])
        accepted = node.getbestblockhash() == res["hash"] and tx.rehash() in blk["tx"]
        assert accepted
        leaf = tr.leaves["recover_mode3"]
        self.hazards.append({
            "id": "hazard-undefined-ccv-mode",
            "description": "P2TR(NUMS, one leaf '0 OP_SWAP <pk> 0 3 OP_CHECKCONTRACTVERIFY OP_TRUE'): a recover-looking "
                           "leaf whose CCV flags value 3 is undefined, so OP_CHECKCONTRACTVERIFY succeeds immediately "
                           "(OP_SUCCESS behaviour) and the coin can be sent anywhere. The spend pays an unrelated key.",
            "contract": {"naked_key": h(NUMS_KEY), "leaf_script": h(leaf.script), "leaf_asm": asm(leaf.script),
                         "tapleaf_hash": h(leaf.leaf_hash), "merkle_root": h(tr.merkle_root),
                         "output_key": h(tr.output_pubkey), "spk": h(tr.scriptPubKey), "pk_in_leaf": h(rpk)},
            "funding": s["steps"][0],
            "spend": {"txid": tx.rehash(), "wtxid": tx.getwtxid(), "hex": tx.serialize().hex(),
                      "vsize": tx.get_vsize(), "fee_sats": fee, "prevouts": prevouts, "inputs": jin, "outputs": jout,
                      "tested_at_height": height, "testmempoolaccept": tma,
                      "mempool_allowed": tma[0]["allowed"],
                      "standard_policy": {"options": std_options, "testmempoolaccept": tma_std},
                      "generateblock": {"rpc": "generateblock(<MiniWallet address>, [<spend hex>])",
                                        "block_hash": res["hash"], "height": blk["height"],
                                        "previous_tip": tip_before, "block_accepted_as_tip": accepted}},
        })
        self.log.info("hazard: mempool allowed=%s; block %s accepted=%s", tma[0]["allowed"], res["hash"], accepted)


# ======= offline check of the written file =======

def leaf_hash(script_hex, ver=LEAF_VERSION_TAPSCRIPT):
    return TaggedHash("TapLeaf", bytes([ver]) + ser_string(bytes.fromhex(script_hex)))


def root_from_path(lh, path_hex):
    k = lh
    p = bytes.fromhex(path_hex)
    assert len(p) % 32 == 0
    for j in range(0, len(p), 32):
        e = p[j:j + 32]
        k = TaggedHash("TapBranch", k + e if k < e else e + k)
    return k


def taptweak(internal, root):
    t = TaggedHash("TapTweak", internal + root)
    return tweak_add_pubkey(internal, t)


def verify_file(path):
    d = json.load(open(path), parse_float=Decimal)
    vaults = {v["id"]: v for v in d["vaults"]}
    n_nums = 0
    for v in d["vaults"]:
        naked = bytes.fromhex(v["naked_key"])
        prm = v["params"]
        assert naked == (NUMS_KEY if prm["alternate_pk"] is None else bytes.fromhex(prm["alternate_pk"]))
        n_nums += prm["alternate_pk"] is None
        root = bytes.fromhex(v["merkle_root"])
        for lf in v["leaves"]:
            lh = leaf_hash(lf["script"])
            assert lh.hex() == lf["tapleaf_hash"]
            assert root_from_path(lh, lf["merkle_path"]) == root
        q, neg = taptweak(naked, root)
        assert q.hex() == v["output_key"] and int(neg) == v["output_key_parity"]
        for lf in v["leaves"]:
            assert lf["control_block"] == "%02x" % (0xc0 | int(neg)) + v["naked_key"] + lf["merkle_path"]
        assert v["vault_spk"] == "5120" + v["output_key"]
        assert v["address"] == output_key_to_p2tr(q)
        assert xonly(bytes.fromhex(v["unvault_secret"])).hex() == prm["unvault_pk"]
        if v["alternate_secret"]:
            assert xonly(bytes.fromhex(v["alternate_secret"])).hex() == prm["alternate_pk"]
        u = v["unvaulting"]
        assert u["naked_key"] == v["naked_key"]
        for lf in u["leaves"]:
            assert leaf_hash(lf["script"]).hex() == lf["tapleaf_hash"]
            assert root_from_path(bytes.fromhex(lf["tapleaf_hash"]), lf["merkle_path"]).hex() == u["merkle_root"]
        # the unvaulting merkle root is pushed in the trigger leaf
        trig = [lf for lf in v["leaves"] if lf["name"] == "trigger"][0]
        assert ("20" + u["merkle_root"]) in trig["script"]
        assert ("20" + prm["recover_pk"]) in [lf for lf in u["leaves"] if lf["name"] == "recover"][0]["script"]

    def check_tx(t, where):
        tx = tx_from_hex(t["hex"])
        assert tx.serialize().hex() == t["hex"]
        assert tx.rehash() == t["txid"] and tx.getwtxid() == t["wtxid"], where
        assert len(t["prevouts"]) == len(tx.vin) == len(t["inputs"])
        spent = []
        for vin, pv, inp in zip(tx.vin, t["prevouts"], t["inputs"]):
            assert "%064x" % vin.prevout.hash == pv["txid"] and vin.prevout.n == pv["vout"]
            assert [x.hex() for x in tx.wit.vtxinwit[len(spent)].scriptWitness.stack] == inp["witness"]
            spent.append(CTxOut(pv["value_sats"], bytes.fromhex(pv["scriptPubKey"])))
        assert t["fee_sats"] == sum(p["value_sats"] for p in t["prevouts"]) - sum(o.nValue for o in tx.vout)
        assert len(t["outputs"]) == len(tx.vout)
        for n, (o, jo) in enumerate(zip(tx.vout, t["outputs"])):
            assert jo["vout"] == n and jo["value_sats"] == o.nValue and jo["scriptPubKey"] == o.scriptPubKey.hex()
            role = jo["role"]
            if role in ("vault", "revault"):
                assert jo["scriptPubKey"] == vaults[jo["vault_ids"][0]]["vault_spk"]
            elif role == "recovery":
                pks = {vaults[i]["params"]["recover_pk"] for i in jo["vault_ids"]}
                assert len(pks) == 1 and jo["scriptPubKey"] == "5120" + pks.pop() == "5120" + jo["output_key"]
            elif role == "unvaulting":
                vv = vaults[jo["vault_ids"][0]]
                naked, data = bytes.fromhex(vv["unvaulting"]["naked_key"]), bytes.fromhex(jo["data"])
                tw = sha256(naked + data)
                assert tw.hex() == jo["data_tweak"]
                ik = tweak_add_pubkey(naked, tw)[0]
                assert ik.hex() == jo["internal_key"]
                q, neg = taptweak(ik, bytes.fromhex(vv["unvaulting"]["merkle_root"]))
                assert q.hex() == jo["output_key"] and int(neg) == jo["output_key_parity"]
                assert jo["scriptPubKey"] == "5120" + q.hex()
        for n, inp in enumerate(t["inputs"]):
            pv = t["prevouts"][n]
            wit = [bytes.fromhex(x) for x in inp["witness"]]
            if inp["role"] in ("vault", "revault") and inp["spend_path"] == "script":
                vv = vaults[inp["vault_id"]]
                lf = [lf for lf in vv["leaves"] if lf["name"] == inp["clause"]][0]
                assert wit[-2].hex() == lf["script"] and wit[-1].hex() == lf["control_block"]
                assert pv["scriptPubKey"] == vv["vault_spk"]
            if inp["role"] == "unvaulting":
                vv = vaults[inp["vault_id"]]
                lf = [lf for lf in vv["unvaulting"]["leaves"] if lf["name"] == inp["clause"]][0]
                assert wit[-2].hex() == lf["script"] and wit[-1][33:].hex() == lf["merkle_path"]
                naked, data = bytes.fromhex(vv["unvaulting"]["naked_key"]), bytes.fromhex(inp["args"]["data"])
                ik = tweak_add_pubkey(naked, sha256(naked + data))[0]
                q, _ = taptweak(ik, bytes.fromhex(vv["unvaulting"]["merkle_root"]))
                assert wit[-1][1:33] == ik and pv["scriptPubKey"] == "5120" + q.hex()
                if inp["clause"] == "withdraw" and "withdraw-wrong" not in t.get("id", ""):
                    assert wit[0] == data
                    if vv["construction"] == "ctv":
                        assert ctv_hash(tx, n) == data
                    else:
                        assert tx.vout[0].scriptPubKey.hex() == "5120" + data.hex()
            if inp["clause"] in ("trigger", "trigger_and_revault"):
                vv = vaults[inp["vault_id"]]
                msg = TaprootSignatureHash(tx, spent, 0, input_index=n, scriptpath=True, leaf_script=wit[-2])
                ok = verify_schnorr(bytes.fromhex(vv["params"]["unvault_pk"]), wit[0], msg)
                assert ok == ("bad-signature" not in t.get("id", "")), where
                assert wit[1].hex() == inp["args"]["data"]
                assert wit[2] == bn2vch(inp["args"]["out_i"])
                out = t["outputs"][inp["args"]["out_i"]]
                if "wrong-data" not in t.get("id", ""):
                    assert out["role"] == "unvaulting" and out["data"] == inp["args"]["data"]
            if inp["clause"] == "recover":
                assert wit[0] == bn2vch(inp["args"]["out_i"])
                out = t["outputs"][inp["args"]["out_i"]]
                if "wrong-key" not in t.get("id", ""):
                    assert out["scriptPubKey"] == "5120" + vaults[inp["vault_id"]]["params"]["recover_pk"]
        return tx

    n_steps = 0
    outs_seen = {}
    for sc in d["scenarios"]:
        for st in sc["steps"]:
            check_tx(st, sc["id"])
            assert st["testmempoolaccept"][0]["allowed"] is True
            assert st["mined_height"] is not None and st["mined_block_hash"]
            for pv in st["prevouts"]:
                key = (pv["txid"], pv["vout"])
                if key in outs_seen:
                    assert outs_seen[key] == (pv["value_sats"], pv["scriptPubKey"])
            for o in st["outputs"]:
                outs_seen[(st["txid"], o["vout"])] = (o["value_sats"], o["scriptPubKey"])
            n_steps += 1
    for inv in d["invalid"]:
        check_tx(inv, inv["id"])
        assert inv["testmempoolaccept"][0]["allowed"] is False
        assert inv["reject_reason"] == inv["testmempoolaccept"][0]["reject-reason"]
    for hz in d["hazards"]:
        check_tx(hz["funding"], hz["id"])
        check_tx(hz["spend"], hz["id"])
    return {"vaults": len(d["vaults"]), "scenarios": len(d["scenarios"]), "steps": n_steps,
            "invalid": len(d["invalid"]), "hazards": len(d["hazards"])}


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--verify-only":
        print(verify_file(sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "ccv-regtest.json")))
        sys.exit(0)
    # test_file inside the node's functional dir, so --configfile defaults to <node>/test/config.ini
    CcvGen(os.path.join(NODE_FUNCTIONAL, "ccv-gen.py")).main()
