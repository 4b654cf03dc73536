# Sealing (computing the MAC) and checking messages, by the scheme their type declares.
#
#   dukpt_request  AES-CMAC, key: the request transaction's MAC-generation working key
#   dukpt_result   AES-CMAC, key: the same transaction's MAC-verification working key, so a
#                  result cannot be reflected as a request; its "rq" field (inside the MAC)
#                  is the MAC of the request it answers, so a result the server made for a
#                  forged request with the same counter cannot pass for the answer to the
#                  real one (verify_result)
#   command_key    HMAC-SHA256 with the device's 32-byte command key
# The MAC covers the canonical bytes of the message without its "mac" field.

import binascii

from protocol import canonical, dukpt, messages
from protocol.cmac import aes_cmac
from protocol.errors import ProtocolError
from protocol.hmac256 import constant_time_equal, hmac_sha256


def _hex(data):
    return binascii.hexlify(data).decode()


def compute_mac(message, key):
    scheme = messages.auth_scheme(message["t"])
    data = canonical.encode_without(message, "mac")
    if scheme == messages.COMMAND_KEY:
        return _hex(hmac_sha256(key, data))
    if scheme == messages.DUKPT_REQUEST or scheme == messages.DUKPT_RESULT:
        return _hex(aes_cmac(key, data))
    raise ProtocolError("malformed", message["t"] + " carries no MAC")


def seal(message, key):
    """Set message["mac"] and return the payload bytes to publish."""
    message["mac"] = compute_mac(message, key)
    messages.check(message)
    return messages.encode(message)


def verify(message, key):
    """Raise ProtocolError("bad_mac") unless the message's MAC is right (constant time)."""
    expected = compute_mac(message, key)
    if not constant_time_equal(expected.encode(), message["mac"].encode()):
        raise ProtocolError("bad_mac", "MAC does not match")


def verify_result(message, key, request_mac):
    """Terminal side: raise ProtocolError("bad_mac") unless `message` answers the request whose
    MAC is `request_mac` (hex) and its own MAC is right."""
    if message["rq"] != request_mac:
        raise ProtocolError("bad_mac", "result for another request")
    verify(message, key)


def request_mac(payload):
    """The MAC (hex) inside a sealed request's canonical bytes, without parsing them again (a
    terminal keeps only the bytes in its journal). In canonical debit and void requests no
    other value can hold the text '"mac":"'."""
    start = bytes(payload).find(b'"mac":"') + 7
    if start < 7:
        raise ProtocolError("malformed", "request without a MAC")
    return bytes(payload[start:start + 32]).decode()


def broker_password(command_key):
    """The device's password on a broker that takes password logins (the embedded demo broker;
    Mosquitto's device listener uses the client certificate instead): derived from the command
    key, so it needs no provisioning of its own and the server can check it."""
    return _hex(hmac_sha256(command_key, b"mqtt-login"))


def dukpt_mac_key(bdk, initial_key_id, counter, scheme):
    """Host side: the working key of a request's transaction, from the Base Derivation Key."""
    usage = _usage(scheme)
    return dukpt.host_working_key(bdk, initial_key_id, counter, usage, dukpt.KEY_TYPE_AES128)


def device_mac_keys(device_dukpt):
    """Terminal side, for its current transaction: (request key, result key)."""
    return (device_dukpt.working_key(dukpt.MAC_GENERATION, dukpt.KEY_TYPE_AES128),
            device_dukpt.working_key(dukpt.MAC_VERIFICATION, dukpt.KEY_TYPE_AES128))


def _usage(scheme):
    if scheme == messages.DUKPT_REQUEST:
        return dukpt.MAC_GENERATION
    if scheme == messages.DUKPT_RESULT:
        return dukpt.MAC_VERIFICATION
    raise ProtocolError("malformed", "not a DUKPT scheme")

