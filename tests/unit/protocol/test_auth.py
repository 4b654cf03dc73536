import json
from pathlib import Path

import pytest

from protocol import auth, dukpt, messages
from protocol.errors import ProtocolError

VECTORS = json.loads((Path(messages.__file__).parent / "vectors" / "messages.json")
                     .read_text(encoding="utf-8"))["messages"]
SEALED = [v for v in VECTORS if v["scheme"] != messages.NONE]


@pytest.mark.parametrize("vector", SEALED, ids=[v["type"] for v in SEALED])
def test_macs_of_the_vectors_are_reproduced_and_verify(vector):
    message = messages.parse(vector["payload"].encode())
    key = bytes.fromhex(vector["key"])
    assert auth.compute_mac(message, key) == vector["mac"]
    auth.verify(message, key)
    if "bdk" in vector:
        assert auth.dukpt_mac_key(bytes.fromhex(vector["bdk"]), bytes.fromhex(vector["kid"]),
                                  vector["counter"], vector["scheme"]).hex() == vector["key"]


@pytest.mark.parametrize("vector", SEALED, ids=[v["type"] for v in SEALED])
def test_any_changed_field_breaks_the_mac(vector):
    message = messages.parse(vector["payload"].encode())
    message["ts"] = message.get("ts", 1790000000) + 1
    with pytest.raises(ProtocolError) as err:
        auth.verify(message, bytes.fromhex(vector["key"]))
    assert err.value.code == "bad_mac"


def _debit_vector():
    return next(v for v in VECTORS if v["type"] == "debit_req")


def test_terminal_and_server_derive_the_same_keys_for_each_transaction():
    bdk, kid = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1"), bytes.fromhex("1234567890123456")
    device = dukpt.DeviceDukpt.load_initial_key(dukpt.derive_initial_key(bdk, kid), kid)
    for _ in range(40):
        counter, _key = device.next_transaction()
        request_key, result_key = auth.device_mac_keys(device)
        assert request_key == auth.dukpt_mac_key(bdk, kid, counter, messages.DUKPT_REQUEST)
        assert result_key == auth.dukpt_mac_key(bdk, kid, counter, messages.DUKPT_RESULT)
        assert request_key != result_key


def test_a_request_mac_cannot_be_passed_off_as_a_result_mac():
    vector = _debit_vector()
    bdk, kid = bytes.fromhex(vector["bdk"]), bytes.fromhex(vector["kid"])
    request_key = auth.dukpt_mac_key(bdk, kid, vector["counter"], messages.DUKPT_REQUEST)
    result_key = auth.dukpt_mac_key(bdk, kid, vector["counter"], messages.DUKPT_RESULT)
    result = next(v for v in VECTORS if v["type"] == "debit_res")
    forged = messages.parse(result["payload"].encode())
    forged["mac"] = auth.compute_mac(forged, request_key)
    with pytest.raises(ProtocolError):
        auth.verify(forged, result_key)


def test_messages_without_a_scheme_cannot_be_sealed():
    heartbeat = messages.parse(next(v for v in VECTORS if v["type"] == "heartbeat")["payload"]
                               .encode())
    with pytest.raises(ProtocolError):
        auth.seal(heartbeat, b"k" * 16)


@pytest.mark.parametrize("res_type,req_type", [("debit_res", "debit_req"),
                                               ("void_res", "void_req")])
def test_a_result_is_bound_to_the_request_it_answers(res_type, req_type):
    request = next(v for v in VECTORS if v["type"] == req_type)
    result = next(v for v in VECTORS if v["type"] == res_type)
    req_mac = auth.request_mac(request["payload"].encode())
    message = messages.parse(result["payload"].encode())
    assert req_mac == request["mac"] == message["rq"]
    key = bytes.fromhex(result["key"])
    auth.verify_result(message, key, req_mac)
    # The server's own MACed answer to a forged request with the same counter: right key,
    # wrong request. The terminal refuses it.
    message["rq"] = "0" * 32
    message["mac"] = auth.compute_mac(message, key)
    with pytest.raises(ProtocolError) as err:
        auth.verify_result(message, key, req_mac)
    assert err.value.code == "bad_mac"


def test_a_code_lookup_answer_is_bound_to_its_request_and_its_nonce():
    request = messages.parse(next(v for v in VECTORS if v["type"] == "code_req")["payload"]
                             .encode())
    vector = next(v for v in VECTORS if v["type"] == "code_res")
    answer = messages.parse(vector["payload"].encode(), "code_res")
    key = bytes.fromhex(vector["key"])
    assert answer["id"] == request["id"] and answer["tok"] == request["tok"]
    auth.verify_result(answer, key, request["mac"])  # the whole HMAC of the request
    # An answer the server gave an earlier scan of the same coupon: right key, other request.
    answer["rq"] = "0" * 64
    answer["mac"] = auth.compute_mac(answer, key)
    with pytest.raises(ProtocolError) as err:
        auth.verify_result(answer, key, request["mac"])
    assert err.value.code == "bad_mac"
