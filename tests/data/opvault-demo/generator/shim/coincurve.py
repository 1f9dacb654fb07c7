"""Pure-Python stand-in for the few `coincurve` calls made by python-bip32 4.0
(bip32/utils.py and bip32/bip32.py):

    coincurve.PrivateKey(secret32)            -> ValueError if secret not in [1, n-1]
    coincurve.PrivateKey(...).add(tweak32)    -> PrivateKey((k + t) mod n), ValueError
                                                 if t >= n or the sum is 0
    coincurve.PrivateKey(...).secret          -> 32-byte big-endian secret
    coincurve.PublicKey(ser)                  -> ValueError if not a valid 33/65-byte point
    coincurve.PublicKey.from_secret(secret32) -> k*G (ValueError if k invalid)
    coincurve.PublicKey.combine_keys([P, Q])  -> P + Q (ValueError if infinity)
    coincurve.PublicKey(...).format(compressed=True)

Plain Python integers, affine/Jacobian secp256k1 arithmetic. NOT constant time;
test-vector generation only. Independent of verystable's secp256k1 code on purpose
(so vectors exercise two implementations: this one for BIP-32, verystable's for the
taproot tweak).
"""

P = 2**256 - 2**32 - 977  # 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8

__version__ = "0-shim"


# --- Jacobian point arithmetic (None = infinity) -------------------------------

def _jdouble(p):
    if p is None:
        return None
    x, y, z = p
    if y == 0:
        return None
    s = (4 * x * y * y) % P
    m = (3 * x * x) % P  # a = 0
    nx = (m * m - 2 * s) % P
    ny = (m * (s - nx) - 8 * pow(y, 4, P)) % P
    nz = (2 * y * z) % P
    return (nx, ny, nz)


def _jadd(p, q):
    if p is None:
        return q
    if q is None:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    if u1 == u2:
        if s1 != s2:
            return None
        return _jdouble(p)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    u1h2 = u1 * h2 % P
    nx = (r * r - h3 - 2 * u1h2) % P
    ny = (r * (u1h2 - nx) - s1 * h3) % P
    nz = (h * z1 * z2) % P
    return (nx, ny, nz)


def _to_affine(p):
    if p is None:
        return None
    x, y, z = p
    zi = pow(z, -1, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def _mul(k, point):
    """k * point, point affine (x, y); returns affine or None."""
    r = None
    q = (point[0], point[1], 1)
    while k:
        if k & 1:
            r = _jadd(r, q)
        q = _jdouble(q)
        k >>= 1
    return _to_affine(r)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return _to_affine(_jadd((a[0], a[1], 1), (b[0], b[1], 1)))


def _on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - 7) % P == 0


def _decode_point(data):
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("public key must be bytes")
    data = bytes(data)
    if len(data) == 33 and data[0] in (2, 3):
        x = int.from_bytes(data[1:], "big")
        if x >= P:
            raise ValueError("invalid public key")
        y2 = (pow(x, 3, P) + 7) % P
        y = pow(y2, (P + 1) // 4, P)
        if y * y % P != y2:
            raise ValueError("invalid public key")
        if (y & 1) != (data[0] & 1):
            y = P - y
        return (x, y)
    if len(data) == 65 and data[0] == 4:
        x = int.from_bytes(data[1:33], "big")
        y = int.from_bytes(data[33:], "big")
        if not _on_curve(x, y):
            raise ValueError("invalid public key")
        return (x, y)
    raise ValueError("invalid public key")


def _scalar(secret, what="secret"):
    if isinstance(secret, int):
        k = secret
    else:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
            raise ValueError(f"{what} must be 32 bytes")
        k = int.from_bytes(secret, "big")
    return k


# --- coincurve-compatible classes ---------------------------------------------

class PublicKey:
    def __init__(self, data, context=None):
        self._point = _decode_point(data)

    @classmethod
    def _from_point(cls, pt):
        obj = cls.__new__(cls)
        obj._point = pt
        return obj

    @classmethod
    def from_secret(cls, secret, context=None):
        k = _scalar(secret)
        if not 0 < k < N:
            raise ValueError("secret must be in [1, n-1]")
        return cls._from_point(_mul(k, (GX, GY)))

    @classmethod
    def from_point(cls, x, y, context=None):
        if not _on_curve(x, y):
            raise ValueError("point not on curve")
        return cls._from_point((x, y))

    @classmethod
    def combine_keys(cls, public_keys, context=None):
        acc = None
        for pk in public_keys:
            acc = _add(acc, pk._point)
        if acc is None:
            raise ValueError("sum of public keys is the point at infinity")
        return cls._from_point(acc)

    def format(self, compressed=True):
        x, y = self._point
        if compressed:
            return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
        return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    def point(self):
        return self._point

    def __eq__(self, other):
        return isinstance(other, PublicKey) and self._point == other._point


class PrivateKey:
    def __init__(self, secret=None, context=None):
        if secret is None:
            raise NotImplementedError("shim: random key generation not supported")
        k = _scalar(secret)
        if not 0 < k < N:
            raise ValueError("secret must be in [1, n-1]")
        self._k = k
        self.secret = k.to_bytes(32, "big")

    @property
    def public_key(self):
        return PublicKey.from_secret(self.secret)

    def add(self, scalar, update=False):
        t = _scalar(scalar, "tweak")
        if t >= N:
            raise ValueError("tweak out of range")
        k = (self._k + t) % N
        if k == 0:
            raise ValueError("resulting key is zero")
        if update:
            self._k, self.secret = k, k.to_bytes(32, "big")
            return self
        return PrivateKey(k.to_bytes(32, "big"))

    def to_int(self):
        return self._k
