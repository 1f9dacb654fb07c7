#!/usr/bin/env python3
"""Writes small seed corpora for the fuzz targets from the real blocks in tests/data.

usage: gen_seeds.py DATA_DIR OUT_DIR   (creates OUT_DIR/<target>/ files; nothing is committed)
"""
import hashlib
import os
import sys


def cs(b, p):
    x = b[p]
    if x < 253:
        return x, p + 1
    n = {253: 2, 254: 4, 255: 8}[x]
    return int.from_bytes(b[p + 1:p + 1 + n], "little"), p + 1 + n


def parse_tx(b, p):
    start = p
    p += 4
    nin, p = cs(b, p)
    seg = False
    if nin == 0:
        seg = True
        p += 1
        nin, p = cs(b, p)
    ins = []
    for _ in range(nin):
        p += 36
        n, p = cs(b, p)
        p += n + 4
        ins.append([])
    nout, p = cs(b, p)
    spks = []
    for _ in range(nout):
        p += 8
        n, p = cs(b, p)
        spks.append(b[p:p + n])
        p += n
    if seg:
        for i in range(nin):
            k, p = cs(b, p)
            for _ in range(k):
                n, p = cs(b, p)
                ins[i].append(b[p:p + n])
                p += n
    p += 4
    return b[start:p], ins, spks, p


def blocks(data):
    for name in ("block413567.raw", "regtest-taproot-block.raw"):
        with open(os.path.join(data, name), "rb") as f:
            b = f.read()
        ntx, p = cs(b, 80)
        txs = []
        for _ in range(ntx):
            raw, ins, spks, p = parse_tx(b, p)
            txs.append((raw, ins, spks))
        yield b, txs


def write(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    data, out = sys.argv[1], sys.argv[2]
    for b, txs in blocks(data):
        small = [t for t in txs if len(t[0]) <= 1200]
        for raw, ins, spks in small[:: max(1, len(small) // 40)]:
            write(out, "fuzz_transaction", raw)
            for s in spks[:2]:
                write(out, "fuzz_script", s)
            for w in ins[:1]:
                if len(w) >= 2 and len(w[-1]) >= 33 and (len(w[-1]) - 33) % 32 == 0:
                    write(out, "fuzz_control_block", w[-1])
                    write(out, "fuzz_script", w[-2])
                enc = b""
                for it in w:
                    enc += bytes([min(len(it), 254)]) + it[:254]
                if enc:
                    write(out, "fuzz_taproot_witness", enc)
        # A small block: the header and a handful of the block's transactions.
        picked = [txs[0][0]] + [t[0] for t in small[1:4]]
        write(out, "fuzz_block", b[:80] + bytes([len(picked)]) + b"".join(picked))


if __name__ == "__main__":
    main()
