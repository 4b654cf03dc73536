"""The protocol package reproduces the shared vectors byte for byte, and every parser fed random,
mutated or truncated bytes raises only ProtocolError. Portable: pytest runs it on CPython,
runner.py on the MicroPython binary (MicroPython-safe code only)."""

import random

from portable import load_vectors, unhex

from protocol import auth, canonical, messages, tokens, topics
from protocol.errors import CODES, ProtocolError

FUZZ_ROUNDS = 3000


def test_messages_parse_encode_and_mac_as_the_vectors_say():
    for vector in load_vectors("messages.json")["messages"]:
        name = vector["type"]
        payload = vector["payload"].encode()
        message = messages.parse(payload, vector["type"])
        assert messages.encode(message) == payload, name
        assert canonical.encode_without(message, "mac") == vector["mac_input"].encode(), name
        if "mac" in vector:
            key = unhex(vector["key"])
            assert auth.compute_mac(message, key) == vector["mac"], name
            auth.verify(message, key)
            if "bdk" in vector:
                derived = auth.dukpt_mac_key(unhex(vector["bdk"]), unhex(vector["kid"]),
                                             vector["counter"], vector["scheme"])
                assert derived == key, name


def test_a_result_is_bound_to_the_request_it_answers():
    # Its rq is that request's MAC: verify_result refuses a result MACed with the right key for
    # another request with the same counter.
    by_type = {}
    for vector in load_vectors("messages.json")["messages"]:
        by_type[vector["type"]] = vector
    for res_type, req_type in (("debit_res", "debit_req"), ("void_res", "void_req"),
                               ("code_res", "code_req")):
        request, result = by_type[req_type], by_type[res_type]
        # A code lookup's answer carries the request's whole HMAC (the terminal keeps it).
        req_mac = (request["mac"] if req_type == "code_req"
                   else auth.request_mac(request["payload"].encode()))
        key = unhex(result["key"])
        message = messages.parse(result["payload"].encode(), res_type)
        auth.verify_result(message, key, req_mac)
        assert req_mac == request["mac"] == message["rq"], res_type
        message["rq"] = req_mac[:-1] + ("0" if req_mac[-1] != "0" else "1")
        message["mac"] = auth.compute_mac(message, key)  # the server's answer to a forgery
        try:
            auth.verify_result(message, key, req_mac)
            raise AssertionError(res_type + ": binding not enforced")
        except ProtocolError as err:
            assert err.code == "bad_mac", res_type + " " + err.code


def test_tokens_device_ids_and_claim_codes_match_the_vectors():
    doc = load_vectors("tokens.json")
    for case in doc["tokens"]:
        assert tokens.parse_token(case["raw"]) == (case["kind"], case["code"]), case["raw"]
    for case in doc["rejected"]:
        try:
            tokens.parse_token(case["raw"])
            raise AssertionError("accepted " + case["raw"])
        except ProtocolError as err:
            assert err.code == case["error"], case["raw"] + " " + err.code
    for case in doc["devices"]:
        made = tokens.make_device_id(case["payload"])
        assert made == case["id"] and tokens.is_device_id(made), made
    for case in doc["claims"]:
        assert tokens.make_claim_code(case["payload"]) == case["code"], case["code"]


def only_protocol_errors(parse, inputs):
    for data in inputs:
        try:
            parse(data)
        except ProtocolError as err:
            assert err.code in CODES, "unknown code " + err.code
        except Exception as err:
            raise AssertionError(repr(err) + " on " + repr(data[:80])) from err


def random_bytes(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def fuzz_inputs():
    random.seed(20261125)
    samples = [v["payload"].encode() for v in load_vectors("messages.json")["messages"]]
    noise = [random_bytes(random.getrandbits(9)) for _ in range(FUZZ_ROUNDS // 4)]
    mutated = []
    for i in range(FUZZ_ROUNDS):
        data = bytearray(samples[i % len(samples)])
        for _ in range(1 + random.getrandbits(2)):
            data[random.getrandbits(16) % len(data)] = random.getrandbits(8)
        mutated.append(bytes(data))
    truncated = [s[:random.getrandbits(16) % len(s)] for s in samples for _ in range(20)]
    return noise, mutated, truncated


def test_message_parser_raises_only_protocol_errors_on_random_and_damaged_bytes():
    noise, mutated, truncated = fuzz_inputs()
    only_protocol_errors(messages.parse, noise)
    only_protocol_errors(messages.parse, mutated)
    only_protocol_errors(messages.parse, truncated)
    only_protocol_errors(messages.parse, [b"[" * 3000, b'{"a":' * 2000])


def test_token_and_topic_parsers_raise_only_protocol_errors_on_random_text():
    noise = fuzz_inputs()[0]
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz/+#-. \r\n\u00e9\u20ac"
    texts = ["".join(alphabet[b % len(alphabet)] for b in d[:random.getrandbits(8)])
             for d in noise]
    only_protocol_errors(tokens.parse_token, texts)
    only_protocol_errors(topics.parse, ["t/" + t for t in texts] + texts)
