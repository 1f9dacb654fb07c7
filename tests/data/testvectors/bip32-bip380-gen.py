#!/usr/bin/env python3
"""Generate bip32.json, bip380.json and bip380_reference.py from the raw BIP texts.

Inputs (saved beside this script, exported from the bitcoin/bips git mirror):
    bip-0032.mediawiki, bip-0380.mediawiki, BIPS_COMMIT (commit hash the texts came from)

Usage:
    python3 gen.py            # parse from the saved texts
    BIPS_GIT_DIR=/work/.mirror/bitcoin+bips/repo python3 gen.py --refresh
                              # re-export the texts from the mirror's HEAD first

Nothing here is typed in by hand: every vector is parsed out of the BIP text, and
the BIP-380 reference checksum code is copied verbatim out of the BIP's <pre> blocks.
"""
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def path_in(name):
    return os.path.join(HERE, name)


def refresh():
    git_dir = os.environ.get("BIPS_GIT_DIR", "/work/.mirror/bitcoin+bips/repo")
    commit = subprocess.check_output(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], text=True).strip()
    for f in ("bip-0032.mediawiki", "bip-0380.mediawiki"):
        data = subprocess.check_output(["git", "--git-dir", git_dir, "show", "%s:%s" % (commit, f)])
        with open(path_in(f), "wb") as fh:
            fh.write(data)
    with open(path_in("BIPS_COMMIT"), "w") as fh:
        fh.write(commit + "\n")


def read(name):
    with open(path_in(name), encoding="utf-8") as fh:
        return fh.read()


def section(text, heading):
    """Text of a '==heading==' section up to the next heading of the same level."""
    m = re.search(r"^==%s==[ \t]*$" % re.escape(heading), text, re.M)
    if not m:
        raise SystemExit("section %r not found" % heading)
    end = re.search(r"^==[^=].*==[ \t]*$", text[m.end():], re.M)
    return text[m.end(): m.end() + end.start() if end else len(text)]


# --------------------------------------------------------------------------- BIP-32

def parse_bip32(text):
    tv = section(text, "Test Vectors")
    parts = re.split(r"^===Test vector (\d+)===[ \t]*$", tv, flags=re.M)
    vectors, invalid = [], []
    for num, body in zip(parts[1::2], parts[2::2]):
        num = int(num)
        seed = re.search(r"^Seed \(hex\):\s*([0-9a-fA-F]+)\s*$", body, re.M)
        if seed:
            chain = []
            cur = None
            for line in body.splitlines():
                m = re.match(r"^\* Chain (\S+)\s*$", line)
                if m:
                    p = re.sub(r"<sub>H</sub>", "H", m.group(1))
                    if not re.fullmatch(r"m(/\d+H?)*", p):
                        raise SystemExit("unparsed path %r" % m.group(1))
                    cur = {"path": p}
                    chain.append(cur)
                    continue
                m = re.match(r"^\*\* ext (pub|prv):\s*(\S+)\s*$", line)
                if m:
                    cur["ext_" + m.group(1)] = m.group(2)
            for e in chain:
                assert set(e) == {"path", "ext_pub", "ext_prv"}, e
                assert e["ext_pub"].startswith("xpub") and e["ext_prv"].startswith("xprv"), e
            vectors.append({"vector": num, "seed": seed.group(1).lower(), "chain": chain})
        else:
            for line in body.splitlines():
                m = re.match(r"^\* (\S+) \((.*)\)\s*$", line)
                if m:
                    invalid.append({"vector": num, "key": m.group(1), "reason": m.group(2)})
    return vectors, invalid


# Independent sanity check of the parse: re-derive every key of vectors 1-4 from its seed
# with a tiny pure-Python BIP-32 (few dozen scalar mults; negligible CPU).
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
P = 2 ** 256 - 2 ** 32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def _mul(k):
    r, q = None, (GX, GY)
    while k:
        if k & 1:
            r = _add(r, q)
        q = _add(q, q)
        k >>= 1
    return r


def _ser_p(pt):
    return bytes([2 + (pt[1] & 1)]) + pt[0].to_bytes(32, "big")


def _b58check(payload):
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + s


def _hash160(b):
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


def derive_check(vectors):
    try:
        hashlib.new("ripemd160")
    except ValueError:
        return None  # ripemd160 unavailable in this OpenSSL; skip the check
    for v in vectors:
        for e in v["chain"]:
            I = hmac.new(b"Bitcoin seed", bytes.fromhex(v["seed"]), hashlib.sha512).digest()
            k, c = int.from_bytes(I[:32], "big"), I[32:]
            depth, fpr, child = 0, b"\0" * 4, 0
            for el in e["path"].split("/")[1:]:
                i = int(el.rstrip("H")) + (0x80000000 if el.endswith("H") else 0)
                pub = _ser_p(_mul(k))
                data = (b"\0" + k.to_bytes(32, "big") if i >= 0x80000000 else pub) + i.to_bytes(4, "big")
                I = hmac.new(c, data, hashlib.sha512).digest()
                k, c = (int.from_bytes(I[:32], "big") + k) % N, I[32:]
                depth, fpr, child = depth + 1, _hash160(pub)[:4], i
            head = bytes([depth]) + fpr + child.to_bytes(4, "big") + c
            xprv = _b58check(bytes.fromhex("0488ADE4") + head + b"\0" + k.to_bytes(32, "big"))
            xpub = _b58check(bytes.fromhex("0488B21E") + head + _ser_p(_mul(k)))
            if (xprv, xpub) != (e["ext_prv"], e["ext_pub"]):
                raise SystemExit("BIP32 derivation mismatch at vector %d %s" % (v["vector"], e["path"]))
    return True


# --------------------------------------------------------------------------- BIP-380

def extract_reference_code(text):
    """The <pre> blocks of the Checksum section that contain Python code, verbatim."""
    chk = section(text, "Specification")
    chk = chk[chk.index("===Checksum==="):]
    blocks = re.findall(r"<pre>\n(.*?)</pre>", chk, re.S)
    code = [b for b in blocks if "def descsum_" in b or "INPUT_CHARSET" in b]
    assert len(code) == 2 and "descsum_check" in code[0] and "descsum_create" in code[1], len(code)
    return code


def parse_bip380(text):
    tv = section(text, "Test Vectors")
    checksum_part, key_part = tv.split("The following tests cover key expressions:")
    items = lambda s: [(m.group(1).strip(), m.group(2))
                       for m in re.finditer(r"^\* (.*?):?\s*<tt>(.*?)</tt>\s*$", s, re.M)]
    checksum = items(checksum_part)
    valid_part, invalid_part = re.split(r"^Invalid expressions?:\s*$", key_part, flags=re.M)
    keys_valid = items(valid_part.split("Valid expressions:")[1])
    keys_invalid = items(invalid_part)
    return checksum, keys_valid, keys_invalid


def main():
    if "--refresh" in sys.argv:
        refresh()
    commit = read("BIPS_COMMIT").strip()

    # ---- BIP-32
    vectors, invalid = parse_bip32(read("bip-0032.mediawiki"))
    derived = derive_check(vectors)
    out32 = {
        "source": "bitcoin/bips bip-0032.mediawiki",
        "commit": commit,
        "derivation_rechecked": derived,
        "vectors": vectors,
        "invalid": invalid,
    }
    with open(path_in("bip32.json"), "w") as fh:
        json.dump(out32, fh, indent=2)
        fh.write("\n")

    # ---- BIP-380 reference code (verbatim copy of the BIP's <pre> blocks)
    t380 = read("bip-0380.mediawiki")
    code = extract_reference_code(t380)
    ref_src = ("# Verbatim copy of the Python reference code in bitcoin/bips bip-0380.mediawiki\n"
               "# (section \"Checksum\"), commit %s.\n"
               "# Written by gen.py; the two <pre> blocks are concatenated unchanged.\n\n" % commit
               + code[0] + "\n" + code[1])
    with open(path_in("bip380_reference.py"), "w") as fh:
        fh.write(ref_src)
    ns = {}
    exec(compile(ref_src, "bip380_reference.py", "exec"), ns)

    def run_check(s):
        try:
            return bool(ns["descsum_check"](s)), None
        except Exception as ex:  # reference code raises on chars outside INPUT_CHARSET
            return False, "%s: %s" % (type(ex).__name__, ex)

    checksum_items, keys_valid, keys_invalid = parse_bip380(t380)
    cs_valid, cs_nochk, cs_invalid = [], [], []
    all_ok = True
    for label, s in checksum_items:
        ok, exc = run_check(s)
        if label.startswith("Valid checksum"):
            entry = {"descriptor": s, "label": label, "descsum_check": ok}
            body = s[:s.rindex("#")]
            entry["descsum_create_roundtrip"] = ns["descsum_create"](body) == s
            all_ok &= ok and entry["descsum_create_roundtrip"]
            cs_valid.append(entry)
        elif label == "No checksum":
            # Checksum is optional for parsing (BIP-380 Specification); descsum_check only
            # applies to SCRIPT#CHECKSUM strings and returns False here, as expected.
            entry = {"descriptor": s, "label": label, "descsum_check": ok,
                     "note": "valid descriptor without checksum (checksum optional); "
                             "descsum_check is not applicable and returns False"}
            all_ok &= not ok
            cs_nochk.append(entry)
        else:
            entry = {"descriptor": s, "reason": label, "descsum_check": ok}
            if exc:
                entry["reference_raised"] = exc
            all_ok &= not ok
            cs_invalid.append(entry)

    # Expected results are derived from the BIP's own labels, so this script fails loudly
    # if the reference code disagrees with any of them.
    if not all_ok:
        raise SystemExit("BIP-380 reference check FAILED")

    out380 = {
        "source": "bitcoin/bips bip-0380.mediawiki",
        "commit": commit,
        "checked_with_reference": True,
        "reference_code": "bip380_reference.py",
        "checksum": {
            "valid": cs_valid,
            "no_checksum": cs_nochk,
            "invalid": cs_invalid,
        },
        "key_expressions": {
            "note": "BIP-380 key-expression vectors: KEY strings with no SCRIPT wrapper and no "
                    "checksum; validity is about KEY syntax, not the checksum.",
            "valid": [{"key": s, "label": l} for l, s in keys_valid],
            "invalid": [{"key": s, "reason": l} for l, s in keys_invalid],
        },
        "checksum_spec": {
            "INPUT_CHARSET": ns["INPUT_CHARSET"],
            "CHECKSUM_CHARSET": ns["CHECKSUM_CHARSET"],
            "GENERATOR": ["0x%010x" % g for g in ns["GENERATOR"]],
        },
    }
    with open(path_in("bip380.json"), "w") as fh:
        json.dump(out380, fh, indent=2, ensure_ascii=False)
        fh.write("\n")

    print("bips commit", commit)
    print("BIP-32: %d vectors, %d chain entries, %d invalid keys, derivation re-checked: %s"
          % (len(vectors), sum(len(v["chain"]) for v in vectors), len(invalid), derived))
    print("BIP-380 checksum: %d valid, %d no-checksum, %d invalid; key exprs: %d valid, %d invalid"
          % (len(cs_valid), len(cs_nochk), len(cs_invalid), len(keys_valid), len(keys_invalid)))


if __name__ == "__main__":
    main()
