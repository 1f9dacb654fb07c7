#!/usr/bin/env python3
"""Independent cross-check of opvault-demo-wallets.json.

Uses NONE of the wallet's code (no opvault-demo, verystable, python-bip32, shim):
only hashlib/hmac, OpenSSL through the `cryptography` package for k*G, and a few
lines of affine point addition / bech32m written here. Recomputes from the recorded
secrets and config:
  - trigger keys by BIP-32 private derivation from the recorded xpriv (and the xpub
    in config.json from that xpriv),
  - the createconfig default recovery key (seed 0x01, m/0h/0),
  - the recovery-auth key (PBKDF2-HMAC-SHA256, salt "OP_VAULT", 3,000,000 iterations),
  - recovery output key / spk / VaultRecoverySPK hash,
  - both leaf scripts byte by byte, leaf hashes, branch, TapTweak, output key, parity,
    control blocks, scriptPubKey and bech32m regtest address,
  - every entry of window_scriptPubKeys (0..299) for every wallet.
Usage: python3 check_vectors.py [opvault-demo-wallets.json]
"""
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization

P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def tagged(tag, data):
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def point_of(k):  # k*G via OpenSSL, affine ints
    nums = ec.derive_private_key(k, ec.SECP256K1()).public_key().public_numbers()
    return nums.x, nums.y


def compressed(pt):
    return bytes([2 + (pt[1] & 1)]) + pt[0].to_bytes(32, "big")


def lift_x(x):
    y2 = (pow(x, 3, P) + 7) % P
    y = pow(y2, (P + 1) // 4, P)
    assert y * y % P == y2, "not on curve"
    return (x, y if y % 2 == 0 else P - y)


def add(a, b):
    if a[0] == b[0]:
        assert a[1] == b[1]
        lam = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def taptweak(internal_x: bytes, merkle_root: bytes):
    t = tagged("TapTweak", internal_x + merkle_root)
    q = add(lift_x(int.from_bytes(internal_x, "big")), point_of(int.from_bytes(t, "big")))
    return t, q[0].to_bytes(32, "big"), q[1] & 1


# --- base58 / BIP-32 -----------------------------------------------------------
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check_decode(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(s) - len(s.lstrip("1"))) + raw
    data, chk = raw[:-4], raw[-4:]
    assert hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4] == chk
    return data


def b58check_encode(data):
    data = data + hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + s


def ckd_priv(k, c, i):
    if i >= 0x80000000:
        data = b"\x00" + k.to_bytes(32, "big") + i.to_bytes(4, "big")
    else:
        data = compressed(point_of(k)) + i.to_bytes(4, "big")
    I = hmac.new(c, data, hashlib.sha512).digest()
    il = int.from_bytes(I[:32], "big")
    assert il < N
    return (il + k) % N, I[32:]


def parse_path(p):
    out = []
    for part in p.split("/")[1:]:
        out.append(int(part[:-1]) + 0x80000000 if part[-1] in "hH'" else int(part))
    return out


def derive(k, c, path):
    for i in parse_path(path):
        k, c = ckd_priv(k, c, i)
    return k, c


def xpub_from_xpriv(xpriv):
    d = b58check_decode(xpriv)
    assert len(d) == 78 and d[45] == 0
    pub_version = {bytes.fromhex("0488ade4"): bytes.fromhex("0488b21e"),
                   bytes.fromhex("04358394"): bytes.fromhex("043587cf")}[d[:4]]
    k = int.from_bytes(d[46:], "big")
    return b58check_encode(pub_version + d[4:45] + compressed(point_of(k))), k, d[13:45]


# --- bech32m (BIP-350 reference) ------------------------------------------------
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1ffffff) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def segwit_v1_addr(hrp, prog):
    acc, bits, data = 0, 0, [1]
    for b in prog:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrpx = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    pm = _polymod(hrpx + data + [0] * 6) ^ 0x2bc830a3
    return hrp + "1" + "".join(CHARSET[d] for d in data + [(pm >> 5 * (5 - i)) & 31 for i in range(6)])


def script_num_push(n):
    """Minimal push of a positive integer (OP_0 / OP_1..OP_16 / CScriptNum bytes)."""
    assert n >= 0
    if n == 0:
        return b"\x00"
    if n <= 16:
        return bytes([0x50 + n])
    v = n.to_bytes((n.bit_length() + 7) // 8, "little")
    if v[-1] & 0x80:
        v += b"\x00"  # sign byte
    return bytes([len(v)]) + v


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "opvault-demo-wallets.json"
    d = json.load(open(path))
    checks = 0
    for w in d["wallets"]:
        cfg = w["config_json"]["config"]
        sec = json.loads(w["secrets_json_text"])
        assert list(sec) == [w["config_id"]]
        sec = sec[w["config_id"]]
        # config id format (main.py:69-73)
        assert w["config_id"] == "-".join([cfg["network"], str(cfg["spend_delay"]),
                                          cfg["recovery_pubkey"]["__hex"],
                                          cfg["recoveryauth_pubkey"]["__hex"],
                                          cfg["trigger_xpub"]])
        xpub, tk, tc = xpub_from_xpriv(sec["trigger_xpriv"])
        assert xpub == cfg["trigger_xpub"]
        checks += 2
        # createconfig: trigger master from seed
        if "trigger_seed_hex" in w["inputs"] and "trigger_account_path" not in w["inputs"]:
            I = hmac.new(b"Bitcoin seed", bytes.fromhex(w["inputs"]["trigger_seed_hex"]),
                         hashlib.sha512).digest()
            assert int.from_bytes(I[:32], "big") == tk and I[32:] == tc
            checks += 1
        # recovery key
        if "recovery_seed_hex" in w["inputs"]:
            seed, rpath = bytes.fromhex(w["inputs"]["recovery_seed_hex"]), w["inputs"]["recovery_path"]
        else:
            seed, rpath = b"\x01", "m/0h/0"
        I = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
        rk, _ = derive(int.from_bytes(I[:32], "big"), I[32:], rpath)
        recov_pub = point_of(rk)[0].to_bytes(32, "big")
        assert recov_pub.hex() == cfg["recovery_pubkey"]["__hex"] == w["recovery"]["config_recovery_pubkey"]
        # recovery-auth key
        ra = w["recoveryauth"]
        secret = hashlib.pbkdf2_hmac("sha256", ra["phrase"].encode(), b"OP_VAULT", 3_000_000)
        assert secret.hex() == ra["secret"]
        rauth_pt = point_of(int.from_bytes(secret, "big"))
        assert compressed(rauth_pt).hex() == ra["pubkey_compressed"]
        rauth_x = rauth_pt[0].to_bytes(32, "big")
        assert rauth_x.hex() == ra["pubkey_xonly"] == cfg["recoveryauth_pubkey"]["__hex"]
        checks += 4
        # recovery output: key-path-only taproot of the recovery pubkey
        t, rq, rpar = taptweak(recov_pub, b"")
        R = w["recovery"]
        assert (t.hex(), rq.hex(), rpar) == (R["recovery_taptweak"], R["recovery_output_key"], R["recovery_output_key_parity"])
        recov_spk = b"\x51\x20" + rq
        assert recov_spk.hex() == R["recovery_spk_hex"]
        assert segwit_v1_addr("bcrt", rq) == R["recovery_address"]
        rhash = tagged("VaultRecoverySPK", bytes([len(recov_spk)]) + recov_spk)
        assert rhash.hex() == R["recovery_spk_hash"]
        checks += 4
        recover_script = b"\x20" + rauth_x + b"\xad" + b"\x20" + rhash + b"\xbc"
        prefix = cfg["trigger_xpub_path_prefix"]

        def vault(i):
            k, _ = derive(tk, tc, f"{prefix}/{i}")
            tp = point_of(k)
            trig_x = tp[0].to_bytes(32, "big")
            trigger_script = (b"\x20" + trig_x + b"\xad" + script_num_push(cfg["spend_delay"])
                              + b"\x52" + b"\x03\xb2\x75\xb3" + b"\xbb")
            lr = tagged("TapLeaf", b"\xc0" + bytes([len(recover_script)]) + recover_script)
            lt = tagged("TapLeaf", b"\xc0" + bytes([len(trigger_script)]) + trigger_script)
            root = tagged("TapBranch", min(lr, lt) + max(lr, lt))
            tw, q, par = taptweak(rq, root)
            return dict(k=k, tp=tp, trig_x=trig_x, trigger_script=trigger_script, lr=lr,
                        lt=lt, root=root, tw=tw, q=q, par=par)

        for v in w["vaults"]:
            r = vault(v["index"])
            assert v["trigger_path"] == f"{prefix}/{v['index']}"
            assert r["k"].to_bytes(32, "big").hex() == v["trigger_privkey"]
            assert compressed(r["tp"]).hex() == v["trigger_pubkey_compressed"]
            assert r["trig_x"].hex() == v["trigger_pubkey_xonly"]
            assert v["internal_key"] == rq.hex()
            L = v["leaves"]
            assert L["recover"]["script_hex"] == recover_script.hex()
            assert L["trigger"]["script_hex"] == r["trigger_script"].hex()
            assert L["recover"]["leaf_hash"] == r["lr"].hex()
            assert L["trigger"]["leaf_hash"] == r["lt"].hex()
            assert L["recover"]["merkle_branch_hex"] == r["lt"].hex()
            assert L["trigger"]["merkle_branch_hex"] == r["lr"].hex()
            for name, br in (("recover", r["lt"]), ("trigger", r["lr"])):
                assert L[name]["control_block_hex"] == (bytes([0xc0 | r["par"]]) + rq + br).hex()
            assert v["merkle_root"] == r["root"].hex()
            assert v["taptweak"] == r["tw"].hex()
            assert v["output_key"] == r["q"].hex() and v["output_key_parity"] == r["par"]
            assert v["scriptPubKey_hex"] == "5120" + r["q"].hex()
            assert v["address"] == segwit_v1_addr("bcrt", r["q"])
            assert w["window_scriptPubKeys"]["scriptPubKey_hex"][v["index"]] == v["scriptPubKey_hex"]
            checks += 20
        win = w["window_scriptPubKeys"]
        for i, spk in enumerate(win["scriptPubKey_hex"]):
            assert spk == "5120" + vault(win["first_index"] + i)["q"].hex(), (w["name"], i)
            checks += 1
        assert w["next_deposit_address_fresh_wallet"] == w["vaults"][0]["address"]
        print(f"{w['name']}: OK", file=sys.stderr)
    print(f"all {checks} checks passed for {len(d['wallets'])} wallets")


if __name__ == "__main__":
    main()
