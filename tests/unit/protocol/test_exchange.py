"""The request/result exchange (protocol/exchange.py): both ends reproduce the shared vectors
byte for byte, a sealed request passes the server's check, and a result is accepted only as
the answer to its own pending request."""

import json
from pathlib import Path

import pytest

from protocol import auth, dukpt, exchange, messages
from protocol.errors import ProtocolError

VECTORS = {v["type"]: v for v in json.loads(
    (Path(messages.__file__).parent / "vectors" / "messages.json").read_text(encoding="utf-8")
)["messages"]}
PAIRS = [("debit_req", "debit_res"), ("void_req", "void_res"), ("code_req", "code_res")]
BDK, KID = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1"), bytes.fromhex("1234567890123456")
DEV, TS = "CT4F7KQ2MZ1", 1790000000


def _fields(message, drop):
    return {k: v for k, v in message.items() if k not in drop}


@pytest.mark.parametrize("req_type,res_type", PAIRS)
def test_both_ends_reproduce_the_vectors(req_type, res_type):
    request_vector, result_vector = VECTORS[req_type], VECTORS[res_type]
    request = messages.parse(request_vector["payload"].encode())
    payload, mac = exchange.seal_request(req_type, _fields(request, ("t", "v", "mac")),
                                         bytes.fromhex(request_vector["key"]))
    assert payload == request_vector["payload"].encode() and mac == request_vector["mac"]
    exchange.check_request(request, bytes.fromhex(request_vector["key"]))
    result = messages.parse(result_vector["payload"].encode())
    own = _fields(result, ("t", "v", "mac", "rq", "dev", "seq", "oseq", "id"))
    sealed = exchange.seal_result(request, own, bytes.fromhex(result_vector["key"]))
    assert sealed == result_vector["payload"].encode()
    kept = payload if req_type != "code_req" else mac  # a terminal keeps one or the other
    exchange.check_result(result, bytes.fromhex(result_vector["key"]), kept)


def _terminal():
    return dukpt.DeviceDukpt.load_initial_key(dukpt.derive_initial_key(BDK, KID), KID)


def _debit(device, amount=1500):
    seq, request_key, result_key = exchange.transaction_keys(device)
    payload, _mac = exchange.seal_request("debit_req", {
        "dev": DEV, "kid": KID.hex(), "seq": seq, "ts": TS, "tok": "2DZHB6PQ6", "amt": amount},
        request_key)
    return seq, payload, result_key


def _server_answer(payload, st="approved"):
    request = messages.parse(payload, "debit_req")
    request_key = auth.dukpt_mac_key(BDK, KID, request["seq"], messages.DUKPT_REQUEST)
    exchange.check_request(request, request_key)
    result_key = auth.dukpt_mac_key(BDK, KID, request["seq"], messages.DUKPT_RESULT)
    fields = {"ts": TS + 1, "st": st, "amt": request["amt"]}
    if st != "approved":
        fields["code"] = "internal_error"
    return messages.parse(exchange.seal_result(request, fields, result_key), "debit_res")


def test_a_sealed_request_verifies_on_the_server_and_its_result_on_the_terminal():
    device = _terminal()
    for _ in range(3):
        seq, payload, result_key = _debit(device)
        result = _server_answer(payload)
        assert result["seq"] == seq and result["dev"] == DEV
        exchange.check_result(result, result_key, payload)


def test_a_result_verifies_only_against_its_own_pending_request():
    device = _terminal()
    first, second = _debit(device), _debit(device)
    answer = _server_answer(first[1])
    with pytest.raises(ProtocolError) as err:  # another request's key and MAC
        exchange.check_result(answer, second[2], second[1])
    assert err.value.code == "bad_mac"
    with pytest.raises(ProtocolError):  # right key, but the answer names another request
        exchange.check_result(answer, first[2], second[1])


def test_a_tampered_request_or_result_is_refused():
    device = _terminal()
    seq, payload, result_key = _debit(device)
    forged = messages.parse(payload.replace(b'"amt":1500', b'"amt":1'), "debit_req")
    with pytest.raises(ProtocolError):
        exchange.check_request(forged, auth.dukpt_mac_key(BDK, KID, seq,
                                                          messages.DUKPT_REQUEST))
    answer = _server_answer(payload, st="declined")
    answer["st"] = "approved"
    del answer["code"]
    with pytest.raises(ProtocolError) as err:
        exchange.check_result(answer, result_key, payload)
    assert err.value.code == "bad_mac"
