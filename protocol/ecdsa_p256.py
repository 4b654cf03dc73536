# ECDSA P-256 / SHA-256 signature verification (FIPS 186-4/186-5, SEC 1), pure Python on big
# integers, for MicroPython 1.29 and CPython alike. It only verifies: release manifests are
# signed offline with a real library; the device checks them with this code against the
# release public key it carries. MicroPython has hashlib.sha256 but no SHA-512, hence P-256
# rather than Ed25519.
#
# Speed: u1*G + u2*Q in one pass (Shamir's trick) over 2-bit windows of both scalars, with a
# table of the 15 combinations i*G + j*Q (i, j in 0..3) made affine by one shared inversion, so
# the loop does 256 doublings and at most 128 mixed additions in Jacobian coordinates (no
# inversion inside the loop, and none at the end: the x-coordinate is compared projectively).
# Nothing here is secret, so there is no need for constant time.

import hashlib

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
# a = -3 on P-256, which the doubling formula below relies on.

SIGNATURE_SIZE = 64  # r || s, 32 bytes each, big-endian
PUBLIC_KEY_SIZE = 65  # 0x04 || x || y (SEC 1 uncompressed point)


def on_curve(x, y):
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x - 3 * x + B)) % P == 0


def public_key_point(key):
    """65-byte SEC 1 uncompressed key (or an (x, y) pair) -> (x, y), checked on the curve.
    Raises ValueError for anything else, the point at infinity included (it has no affine
    encoding, and its single-byte encoding 0x00 is refused)."""
    if isinstance(key, tuple):
        if len(key) != 2 or type(key[0]) is not int or type(key[1]) is not int:
            raise ValueError("a public key point is a pair of integers")
        x, y = key
    else:
        if not isinstance(key, (bytes, bytearray)) or len(key) != PUBLIC_KEY_SIZE:
            raise ValueError("a public key is 65 bytes: 04 || x || y")
        if key[0] != 4:
            raise ValueError("only uncompressed public keys (04 || x || y)")
        x = int.from_bytes(bytes(key[1:33]), "big")
        y = int.from_bytes(bytes(key[33:65]), "big")
    if not on_curve(x, y):
        raise ValueError("public key is not a point of P-256")
    return x, y


# ---- Jacobian arithmetic: (X, Y, Z) stands for (X/Z^2, Y/Z^3); Z == 0 is infinity ----------

def _double(X1, Y1, Z1):
    if Z1 == 0 or Y1 == 0:
        return 0, 1, 0
    p = P
    delta = Z1 * Z1 % p
    gamma = Y1 * Y1 % p
    beta = X1 * gamma % p
    alpha = 3 * (X1 - delta) * (X1 + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = ((Y1 + Z1) * (Y1 + Z1) - gamma - delta) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return X3, Y3, Z3


def _add_affine(X1, Y1, Z1, x2, y2):
    """Jacobian + affine (x2, y2) -> Jacobian."""
    if Z1 == 0:
        return x2, y2, 1
    p = P
    z1z1 = Z1 * Z1 % p
    u2 = x2 * z1z1 % p
    s2 = y2 * Z1 * z1z1 % p
    h = (u2 - X1) % p
    r = (s2 - Y1) % p
    if h == 0:
        if r == 0:
            return _double(X1, Y1, Z1)
        return 0, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = X1 * hh % p
    X3 = (r * r - hhh - 2 * v) % p
    Y3 = (r * (v - X3) - Y1 * hhh) % p
    Z3 = Z1 * h % p
    return X3, Y3, Z3


def _to_affine_all(points):
    """Jacobian points -> affine (x, y) or None for infinity, with one inversion for all
    (Montgomery's trick)."""
    p = P
    prefix = []
    acc = 1
    for pt in points:
        if pt[2] != 0:
            acc = acc * pt[2] % p
        prefix.append(acc)
    inv = pow(acc, p - 2, p)
    out = [None] * len(points)
    for i in range(len(points) - 1, -1, -1):
        Z = points[i][2]
        if Z == 0:
            continue
        zinv = inv * (prefix[i - 1] if i > 0 else 1) % p
        inv = inv * Z % p
        zinv2 = zinv * zinv % p
        out[i] = (points[i][0] * zinv2 % p, points[i][1] * zinv2 * zinv % p)
    return out


def _table(qx, qy):
    """Affine i*G + j*Q at index 4*i + j, for i, j in 0..3 (index 0, infinity, is None)."""
    jac = [(0, 1, 0)] * 16
    jac[4] = (GX, GY, 1)
    jac[8] = _double(GX, GY, 1)
    jac[12] = _add_affine(jac[8][0], jac[8][1], jac[8][2], GX, GY)
    jac[1] = (qx, qy, 1)
    jac[2] = _double(qx, qy, 1)
    jac[3] = _add_affine(jac[2][0], jac[2][1], jac[2][2], qx, qy)
    multiples_of_q = _to_affine_all([jac[1], jac[2], jac[3]])
    for i in (4, 8, 12):
        for j in (1, 2, 3):
            q = multiples_of_q[j - 1]
            g = jac[i]
            jac[i + j] = g if q is None else _add_affine(g[0], g[1], g[2], q[0], q[1])
    return _to_affine_all(jac)


def _shamir(u1, u2, table):
    X, Y, Z = 0, 1, 0
    for shift in range(254, -1, -2):
        X, Y, Z = _double(X, Y, Z)
        X, Y, Z = _double(X, Y, Z)
        pt = table[(((u1 >> shift) & 3) << 2) | ((u2 >> shift) & 3)]
        if pt is not None:
            X, Y, Z = _add_affine(X, Y, Z, pt[0], pt[1])
    return X, Y, Z


def split_signature(signature):
    """64 bytes r || s -> (r, s); ValueError otherwise (range is checked by verify)."""
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_SIZE:
        raise ValueError("a signature is 64 bytes: r || s")
    return (int.from_bytes(bytes(signature[:32]), "big"),
            int.from_bytes(bytes(signature[32:]), "big"))


def verify_digest(public_key, digest, signature):
    """True when `signature` (64 bytes r || s, or an (r, s) pair) signs the 32-byte SHA-256
    `digest` under `public_key` (see public_key_point). False for every invalid input: bad
    sizes, r or s outside 1..n-1, a key off the curve, a result at infinity."""
    try:
        qx, qy = public_key_point(public_key)
        r, s = signature if isinstance(signature, tuple) else split_signature(signature)
    except (ValueError, TypeError):
        return False
    if type(r) is not int or type(s) is not int or not (0 < r < N and 0 < s < N):
        return False
    if not isinstance(digest, (bytes, bytearray)) or len(digest) != 32:
        return False
    e = int.from_bytes(bytes(digest), "big")  # 256-bit hash, 256-bit order: no truncation
    w = pow(s, N - 2, N)
    u1 = e * w % N
    u2 = r * w % N
    X, _Y, Z = _shamir(u1, u2, _table(qx, qy))
    if Z == 0:
        return False
    # x(R) mod n == r, without inverting Z: x = X/Z^2 and x < p < 2n, so x is r or r + n.
    zz = Z * Z % P
    if X == r * zz % P:
        return True
    return r + N < P and X == (r + N) * zz % P


def verify(public_key, message, signature):
    """ECDSA P-256 over SHA-256 of `message` (bytes)."""
    return verify_digest(public_key, hashlib.sha256(bytes(message)).digest(), signature)
