# Delivery of a new Initial Key to a terminal inside a "rekey" command (docs/device-lifecycle.md).
#
# Construction: encrypt-then-MAC with two keys derived from the device's 32-byte command key,
#   enc_key = HMAC-SHA256(command_key, "ct-rekey/enc")[:16]
#   mac_key = HMAC-SHA256(command_key, "ct-rekey/mac")[:16]
#   secret = IK || the terminal's next command key (32 bytes): a re-key rotates both
#   ciphertext = secret XOR AES-128-CTR keystream: block i = AES(enc_key, nonce[:12] || i (4 B BE))
#   tag = AES-CMAC(mac_key, "ct-rekey-v1" || device id || IK ID (8 bytes) || nonce || ciphertext)
# with a fresh random 16-byte nonce per wrap. CTR needs only AES encryption, which is all the
# terminal's cryptolib shim (protocol.aes) offers; the tag binds the key to its device and its
# Initial Key ID, so a wrapped key cannot be replayed for another terminal or another IK ID.
# The command carrying it is itself HMACed with the command key, with an id and an expiry.
#
# args of the command: {"kid": 16 hex, "n": 32 hex, "ik": 96 or 128 hex, "tag": 32 hex}.

import binascii

from protocol import aes
from protocol.cmac import aes_cmac
from protocol.errors import ProtocolError
from protocol.hmac256 import constant_time_equal, hmac_sha256

LABEL = b"ct-rekey-v1"
NONCE_LEN = 16
KEY_LENS = (16, 32)  # AES-128 or AES-256 Initial Keys; then the 32-byte command key
ARG_NAMES = ("kid", "n", "ik", "tag")


def _keys(command_key):
    if len(command_key) != 32:
        raise ProtocolError("malformed", "command key is 32 bytes")
    return (hmac_sha256(command_key, b"ct-rekey/enc")[:16],
            hmac_sha256(command_key, b"ct-rekey/mac")[:16])


def _ctr(enc_key, nonce, data):
    enc = aes.ecb_encryptor(enc_key)
    out = b""
    for i in range(len(data) // 16):
        block = enc(nonce[:12] + i.to_bytes(4, "big"))
        out += aes.xor_bytes(data[i * 16:i * 16 + 16], block)
    return out


def _tag(mac_key, device_id, kid, nonce, ciphertext):
    return aes_cmac(mac_key, LABEL + device_id.encode() + kid + nonce + ciphertext)


def _hex(data):
    return binascii.hexlify(data).decode()


def _unhex(value, lengths, name):
    if type(value) is not str or len(value) // 2 not in lengths or len(value) % 2:
        raise ProtocolError("malformed", "rekey " + name + " has a bad length")
    try:
        return binascii.unhexlify(value)
    except Exception:
        raise ProtocolError("malformed", "rekey " + name + " is not hex") from None


def wrap(command_key, device_id, kid_hex, initial_key, nonce, next_command_key):
    """The rekey command's args carrying `initial_key` for IK ID `kid_hex` and the command key
    the terminal uses from then on."""
    if (len(initial_key) not in KEY_LENS or len(nonce) != NONCE_LEN
            or len(next_command_key) != 32):
        raise ProtocolError("malformed", "initial key, command key or nonce of a bad length")
    kid = _unhex(kid_hex, (8,), "kid")
    enc_key, mac_key = _keys(command_key)
    ciphertext = _ctr(enc_key, nonce, initial_key + next_command_key)
    tag = _tag(mac_key, device_id, kid, nonce, ciphertext)
    return {"kid": _hex(kid), "n": _hex(nonce), "ik": _hex(ciphertext), "tag": _hex(tag)}


def unwrap(command_key, device_id, args):
    """args of a rekey command -> (IK ID hex, lowercase; Initial Key; next command key).
    ProtocolError("malformed") for a bad shape, ("bad_mac") when the tag does not verify."""
    if type(args) is not dict:
        raise ProtocolError("malformed", "rekey args must be an object")
    for name in args:
        if name not in ARG_NAMES:
            raise ProtocolError("unknown_field", "rekey args: " + str(name)[:16])
    kid = _unhex(args.get("kid"), (8,), "kid")
    nonce = _unhex(args.get("n"), (NONCE_LEN,), "n")
    ciphertext = _unhex(args.get("ik"), (48, 64), "ik")
    tag = _unhex(args.get("tag"), (16,), "tag")
    enc_key, mac_key = _keys(command_key)
    if not constant_time_equal(_tag(mac_key, device_id, kid, nonce, ciphertext), tag):
        raise ProtocolError("bad_mac", "rekey tag does not match")
    secret = _ctr(enc_key, nonce, ciphertext)
    return _hex(kid), secret[:-32], secret[-32:]
