#!/usr/bin/env python3
"""Record opvault-demo (BIP-345 reference vault wallet) derivation test vectors.

Imports the wallet's OWN code (src/opvault-demo/main.py + createconfig.py, src/verystable,
src/python-bip32) with the pure-Python stand-ins in shim/ (coincurve, clii, rich) first on
sys.path, builds a few wallets exactly the way the wallet does, and writes
opvault-demo-wallets.json.

Usage:  python3 gen_vectors.py [--out PATH]      (default: opvault-demo-wallets.json
                                                   next to this script)
Deterministic: no timestamps, no randomness (every seed is given explicitly).
"""
import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
sys.path[:0] = [
    str(HERE / "shim"),            # coincurve / clii / rich stand-ins
    str(SRC / "python-bip32"),     # bip32 4.0 (needs coincurve)
    str(SRC / "verystable"),       # verystable 28.1.0-dev
    str(SRC / "opvault-demo"),     # main.py, createconfig.py
]

# Indexes asked for (0..5, around the wallet's fixed 200-address window, and beyond).
RECORD_INDEXES = [0, 1, 2, 3, 4, 5, 199, 200, 201, 250, 299]
# Compact spk/address lists for every index in [0, WINDOW_DUMP).
WINDOW_DUMP = 300
# main.py ChainMonitor.__post_init__: DEFAULT_GAP_LIMIT = 200 (fixed window 0..199).
WALLET_WATCHED_COUNT = 200

# The wallets. Seeds/phrases are test-only and chosen here; everything else is
# computed by the wallet's code.
WALLETS = [
    {
        "name": "w1-createconfig-defaults",
        "how": "createconfig.main(trigger_seed_hex=SEED) with all other arguments at "
               "their defaults (spend_delay=10, recoveryauth_phrase='changeme2')",
        "createconfig_kwargs": {
            "trigger_seed_hex": "000102030405060708090a0b0c0d0e0f"
                                "101112131415161718191a1b1c1d1e1f",
        },
    },
    {
        "name": "w2-createconfig-delay144",
        "how": "createconfig.main(spend_delay=144, trigger_seed_hex=SEED, "
               "recoveryauth_phrase=PHRASE); 144 = 0x90 needs a sign byte in the "
               "script push (0x02 0x90 0x00)",
        "createconfig_kwargs": {
            "spend_delay": 144,
            "trigger_seed_hex": "ff" * 32,
            "recoveryauth_phrase": "correct horse battery staple",
        },
    },
    {
        "name": "w3-createconfig-delay1-utf8",
        "how": "createconfig.main(spend_delay=1, trigger_seed_hex=SEED (16 bytes), "
               "recoveryauth_phrase=PHRASE with non-ASCII characters); spend_delay 1 "
               "is encoded as OP_1, the phrase is UTF-8 encoded before PBKDF2",
        "createconfig_kwargs": {
            "spend_delay": 1,
            "trigger_seed_hex": "7661756c747761746368207633207365",
            "recoveryauth_phrase": "vaultwatch r\u00e9cup\u00e9ration \u2713",
        },
    },
    {
        "name": "w4-handbuilt-tpub-prefix",
        "how": "Not reachable through createconfig's CLI: VaultConfig built directly "
               "(as createconfig.py:50-56 does) then saved with WalletMetadata.save(). "
               "trigger_xpub is a testnet 'tpub' at depth 3 (m/48h/1h/0h of SEED, "
               "network='test'), trigger_xpub_path_prefix='m/1/' (trailing slash is "
               "stripped by VaultConfig.__post_init__), recovery key = "
               "BIP32.from_seed(RECOVERY_SEED) m/0h/0 instead of the built-in default, "
               "spend_delay=4320, birthday_height=1234",
        "handbuilt": {
            "trigger_seed_hex": "5eed" * 16,
            "trigger_bip32_network": "test",
            "trigger_account_path": "m/48h/1h/0h",
            "trigger_xpub_path_prefix": "m/1/",
            "recovery_seed_hex": "02",
            "recovery_path": "m/0h/0",
            "spend_delay": 4320,
            "birthday_height": 1234,
            "recoveryauth_phrase": "changeme2",
        },
    },
]


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def read_sources() -> dict:
    return json.loads((SRC / "SOURCES.json").read_text())


def build_wallet(spec: dict, main, createconfig, BIP32, workdir: Path) -> dict:
    cfg_path = workdir / "config.json"
    sec_path = workdir / "secrets.json"
    inputs: dict
    if "createconfig_kwargs" in spec:
        kw = dict(spec["createconfig_kwargs"])
        # createconfig.main's own defaults, made explicit for the record.
        inputs = {
            "spend_delay": kw.get("spend_delay", 10),
            "trigger_seed_hex": kw["trigger_seed_hex"],
            "recoveryauth_phrase": kw.get("recoveryauth_phrase", "changeme2"),
            "recovery_key": "createconfig default: BIP32.from_seed(b'\\x01') "
                            "m/0h/0, x-only (createconfig.py:45-46)",
        }
        with contextlib.redirect_stdout(io.StringIO()):
            createconfig.main(filepath=str(cfg_path), secretspath=str(sec_path), **kw)
    else:
        h = spec["handbuilt"]
        inputs = dict(h)
        trig_master = BIP32.from_seed(bytes.fromhex(h["trigger_seed_hex"]),
                                      network=h["trigger_bip32_network"])
        trig_xpub = trig_master.get_xpub_from_path(h["trigger_account_path"])
        trig_xpriv = trig_master.get_xpriv_from_path(h["trigger_account_path"])
        recov_pub = BIP32.from_seed(bytes.fromhex(h["recovery_seed_hex"])) \
            .get_pubkey_from_path(h["recovery_path"])[1:]
        rauth_pub = main.recoveryauth_phrase_to_key(h["recoveryauth_phrase"]) \
            .get_pubkey().get_bytes()[1:]
        config = main.VaultConfig(
            spend_delay=h["spend_delay"],
            recovery_pubkey=recov_pub,
            recoveryauth_pubkey=rauth_pub,
            trigger_xpub=trig_xpub,
            trigger_xpub_path_prefix=h["trigger_xpub_path_prefix"],
            birthday_height=h["birthday_height"],
        )
        main.WalletMetadata(config, filepath=cfg_path).save()
        sec_path.write_text(json.dumps({config.id: {
            "trigger_xpriv": trig_xpriv,
            "recoveryauth_phrase": h["recoveryauth_phrase"]}}, indent=2))

    config_text = cfg_path.read_text()
    secrets_text = sec_path.read_text()
    # Load the config back exactly as main.py's load() does (main.py:898).
    meta = main.WalletMetadata.load(cfg_path)
    config = meta.config
    secrets = json.loads(secrets_text)[config.id]
    phrase = secrets["recoveryauth_phrase"]

    # Recovery-auth key from the phrase (main.py:152-163).
    rauth_key = main.recoveryauth_phrase_to_key(phrase)
    rauth_secret = rauth_key.get_bytes()
    rauth_pub33 = rauth_key.get_pubkey().get_bytes()
    assert rauth_pub33[1:] == config.recoveryauth_pubkey

    rti = config.recov_taproot_info
    recovery_spk = bytes(rti.scriptPubKey)
    import verystable.core as core
    recov_spk_hash = core.key.TaggedHash(
        "VaultRecoverySPK", core.messages.ser_string(recovery_spk))

    xpub = BIP32.from_xpub(config.trigger_xpub)
    xpriv = BIP32.from_xpriv(secrets["trigger_xpriv"])

    vaults = []
    for i in RECORD_INDEXES:
        vs = config.get_spec_for_vault_num(i)
        ti = vs.taproot_info
        path = f"{config.trigger_xpub_path_prefix}/{i}"
        pub33 = xpub.get_pubkey_from_path(path)
        assert pub33[1:] == vs.trigger_pubkey
        # The signer (main.py:1163) derives the private key with the same path from
        # the xpriv; check it matches the watch-only derivation.
        priv = xpriv.get_privkey_from_path(path)
        assert core.key.compute_xonly_pubkey(priv)[0] == vs.trigger_pubkey
        leaves = {}
        for name in ("recover", "trigger"):
            leaf = ti.leaves[name]
            leaves[name] = {
                "script_hex": bytes(leaf.script).hex(),
                "leaf_version": leaf.version,
                "leaf_hash": leaf.leaf_hash.hex(),
                "merkle_branch_hex": leaf.merklebranch.hex(),
                "control_block_hex": ti.controlblock_for_script_spend(name).hex(),
            }
        vaults.append({
            "index": i,
            "watched_by_wallet": i < WALLET_WATCHED_COUNT,
            "trigger_path": path,
            "trigger_pubkey_compressed": pub33.hex(),
            "trigger_pubkey_xonly": vs.trigger_pubkey.hex(),
            "trigger_privkey": priv.hex(),
            "internal_key": ti.internal_pubkey.hex(),
            "leaves": leaves,
            "merkle_root": ti.merkle_root.hex(),
            "taptweak": ti.tweak.hex(),
            "output_key": ti.output_pubkey.hex(),
            "output_key_parity": ti.negflag,
            "scriptPubKey_hex": bytes(vs.scriptPubKey).hex(),
            "address": vs.address,
        })

    window = []
    for i in range(WINDOW_DUMP):
        vs = config.get_spec_for_vault_num(i)
        window.append(bytes(vs.scriptPubKey).hex())

    return {
        "name": spec["name"],
        "how_built": spec["how"],
        "inputs": inputs,
        "config_json_text": config_text,
        "config_json": json.loads(config_text),
        "secrets_json_text": secrets_text,
        "config_id": config.id,
        "next_deposit_address_fresh_wallet": meta.get_next_deposit_addr(),
        "recovery": {
            "config_recovery_pubkey": config.recovery_pubkey.hex(),
            "recovery_taptweak": rti.tweak.hex(),
            "recovery_output_key": rti.output_pubkey.hex(),
            "recovery_output_key_parity": rti.negflag,
            "recovery_spk_hex": recovery_spk.hex(),
            "recovery_address": config.recov_address,
            "recovery_spk_hash": recov_spk_hash.hex(),
            "note": "recovery_output_key is used BOTH as the vault's taproot internal "
                    "key and (as OP_1 <key>) as the recovery scriptPubKey",
        },
        "recoveryauth": {
            "phrase": phrase,
            "phrase_utf8_hex": phrase.encode().hex(),
            "pbkdf2": {"hash": "sha256", "salt": "OP_VAULT", "salt_hex": b"OP_VAULT".hex(),
                       "iterations": 3_000_000, "dklen": 32},
            "secret": rauth_secret.hex(),
            "pubkey_compressed": rauth_pub33.hex(),
            "pubkey_xonly": config.recoveryauth_pubkey.hex(),
        },
        "vaults": vaults,
        "window_scriptPubKeys": {
            "first_index": 0,
            "count": WINDOW_DUMP,
            "wallet_watches_indexes_below": WALLET_WATCHED_COUNT,
            "scriptPubKey_hex": window,
        },
    }


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "opvault-demo-wallets.json"))
    args = ap.parse_args()

    orig_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="opvault-vectors-") as tmp:
        # main.py opens ./opvault-demo.log at import time (main.py:32); keep it out of
        # the way.
        os.chdir(tmp)
        import main as ovmain
        import createconfig
        from bip32 import BIP32
        import bip32
        import coincurve

        wallets = []
        for n, spec in enumerate(WALLETS):
            wd = Path(tmp) / f"wallet{n}"
            wd.mkdir()
            print(f"building {spec['name']} ...", file=sys.stderr)
            wallets.append(build_wallet(spec, ovmain, createconfig, BIP32, wd))
        os.chdir(orig_cwd)

    src = read_sources()
    out = {
        "description": (
            "Derivation test vectors recorded from jamesob/opvault-demo, the BIP-345 "
            "(OP_VAULT) reference vault wallet, by running the wallet's own code. For each "
            "wallet: the config.json exactly as WalletMetadata.save() writes it, the "
            "secrets.json createconfig writes, the recovery / recovery-auth material and, "
            "per deposit index, the trigger key, taproot internal key, tapscript leaves, "
            "tweak, output key, scriptPubKey and regtest address. See NOTES.md for the "
            "derivation scheme. Test-only keys: never use with real money."),
        "format_version": 1,
        "sources": src,
        "generator": {
            "script": "gen_vectors.py",
            "command_line": "python3 gen_vectors.py",
            "command_line_note": "run from /work/opvault-wallet; '--out PATH' only "
                                 "changes where this file is written",
            "python": platform.python_version(),
            "ec_backend": {
                "bip32": f"python-bip32 {bip32.__version__} on shim/coincurve.py "
                         f"({coincurve.__version__}, pure Python)",
                "taproot/recoveryauth": "verystable.core.key / core.crypto.secp256k1 "
                                        "(pure Python, from the verystable snapshot)",
            },
            "shims": ["shim/coincurve.py", "shim/clii.py", "shim/rich.py"],
        },
        "index_semantics": {
            "recorded_indexes": RECORD_INDEXES,
            "wallet_watched_indexes": f"0..{WALLET_WATCHED_COUNT - 1} "
                                      "(main.py:503-506, fixed, never extended)",
            "window_scriptPubKeys": f"all indexes 0..{WINDOW_DUMP - 1}",
        },
        "wallets": wallets,
    }
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main_()
