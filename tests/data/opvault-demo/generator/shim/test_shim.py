"""Check the coincurve shim against OpenSSL (python `cryptography`) and BIP-32 test vector 1."""
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "src", "python-bip32"))
import coincurve
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
import hashlib

for i in range(20):
    k = int.from_bytes(hashlib.sha256(b"shimtest%d" % i).digest(), "big") % coincurve.N
    ours = coincurve.PublicKey.from_secret(k.to_bytes(32, "big")).format()
    ossl = ec.derive_private_key(k, ec.SECP256K1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    assert ours == ossl, i
    assert coincurve.PublicKey(ossl).format(False) == ec.derive_private_key(k, ec.SECP256K1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
# combine: (a+b)G == aG + bG
a, b = 12345678901234567890, 98765432109876543210
A = coincurve.PublicKey.from_secret(a.to_bytes(32, "big"))
B = coincurve.PublicKey.from_secret(b.to_bytes(32, "big"))
assert coincurve.PublicKey.combine_keys([A, B]).format() == coincurve.PublicKey.from_secret((a + b).to_bytes(32, "big")).format()
assert coincurve.PrivateKey(a.to_bytes(32, "big")).add(b.to_bytes(32, "big")).secret == (a + b).to_bytes(32, "big")
for bad in (0, coincurve.N):
    try:
        coincurve.PrivateKey(bad.to_bytes(32, "big")); raise AssertionError
    except ValueError:
        pass

assert coincurve._mul(coincurve.N, (coincurve.GX, coincurve.GY)) is None  # N is the group order
assert coincurve.P == 2**256 - 2**32 - 977
from bip32 import BIP32
# BIP-32 test vector 1
m = BIP32.from_seed(bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
assert m.get_xpub() == "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8"
assert m.get_xpub_from_path("m/0h/1/2h/2/1000000000") == "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy"
# public derivation from xpub (the path the wallet uses)
x = BIP32.from_xpub(m.get_xpub_from_path("m/0h/1"))
assert x.get_xpub_from_path("m/2") == BIP32.from_xpriv(m.get_xpriv_from_path("m/0h/1")).get_xpub_from_path("m/2")
print("shim OK: 20 OpenSSL pubkey checks, combine/add checks, BIP-32 TV1 passed")
