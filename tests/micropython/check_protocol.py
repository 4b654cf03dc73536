# Runs on the MicroPython binary (and on CPython): micropython check_protocol.py <repo> [rounds]
# Loads the shared vectors and checks that this runtime reproduces them byte for byte, then
# feeds random and mutated bytes to every parser: only ProtocolError may come out.
# Prints "PASS name" / "FAIL name detail" lines and "SUMMARY <passed> <failed>".

import sys

sys.path.insert(0, sys.argv[1])

import json  # noqa: E402
import random  # noqa: E402

from protocol import auth, canonical, messages, tokens, topics  # noqa: E402
from protocol.errors import CODES, ProtocolError  # noqa: E402

ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
VECTORS = sys.argv[1] + "/protocol/vectors/"
passed = [0]
failed = [0]


def report(name, ok, detail=""):
    if ok:
        passed[0] += 1
        print("PASS " + name)
    else:
        failed[0] += 1
        print("FAIL " + name + " " + str(detail))


def load(name):
    with open(VECTORS + name) as f:
        return json.loads(f.read())


def unhex(text):
    return bytes(int(text[i:i + 2], 16) for i in range(0, len(text), 2))


def check_messages():
    for vector in load("messages.json")["messages"]:
        name = "message." + vector["type"]
        try:
            payload = vector["payload"].encode()
            message = messages.parse(payload, vector["type"])
            ok = messages.encode(message) == payload
            ok = ok and canonical.encode_without(message, "mac") == vector["mac_input"].encode()
            if "mac" in vector:
                key = unhex(vector["key"])
                ok = ok and auth.compute_mac(message, key) == vector["mac"]
                auth.verify(message, key)
                if "bdk" in vector:
                    derived = auth.dukpt_mac_key(unhex(vector["bdk"]), unhex(vector["kid"]),
                                                 vector["counter"], vector["scheme"])
                    ok = ok and derived == key
            report(name, ok, "bytes differ")
        except Exception as err:  # report, do not stop: every vector gets its line
            report(name, False, repr(err))


def check_result_binding():
    # A result answers one request: its rq is that request's MAC, and verify_result refuses
    # a result MACed with the right key for another request with the same counter.
    by_type = {}
    for vector in load("messages.json")["messages"]:
        by_type[vector["type"]] = vector
    for res_type, req_type in (("debit_res", "debit_req"), ("void_res", "void_req"),
                               ("code_res", "code_req")):
        name = "binding." + res_type
        try:
            request, result = by_type[req_type], by_type[res_type]
            # A code lookup's answer carries the request's whole HMAC (the terminal keeps it).
            req_mac = (request["mac"] if req_type == "code_req"
                       else auth.request_mac(request["payload"].encode()))
            key = unhex(result["key"])
            message = messages.parse(result["payload"].encode(), res_type)
            auth.verify_result(message, key, req_mac)
            ok = req_mac == request["mac"] == message["rq"]
            other = req_mac[:-1] + ("0" if req_mac[-1] != "0" else "1")
            message["rq"] = other
            message["mac"] = auth.compute_mac(message, key)  # the server's answer to a forgery
            try:
                auth.verify_result(message, key, req_mac)
                ok = False
            except ProtocolError as err:
                ok = ok and err.code == "bad_mac"
            report(name, ok, "binding not enforced")
        except Exception as err:
            report(name, False, repr(err))


def check_tokens():
    doc = load("tokens.json")
    for case in doc["tokens"]:
        try:
            got = tokens.parse_token(case["raw"])
            report("token." + case["code"], got == (case["kind"], case["code"]), got)
        except Exception as err:
            report("token." + case["code"], False, repr(err))
    for case in doc["rejected"]:
        try:
            tokens.parse_token(case["raw"])
            report("token.rejected." + case["error"], False, "accepted " + case["raw"])
        except ProtocolError as err:
            report("token.rejected." + case["error"], err.code == case["error"], err.code)
    for case in doc["devices"]:
        made = tokens.make_device_id(case["payload"])
        report("device." + case["id"], made == case["id"] and tokens.is_device_id(made), made)
    for case in doc["claims"]:
        report("claim." + case["code"], tokens.make_claim_code(case["payload"]) == case["code"])


def only_protocol_errors(name, parse, inputs):
    for data in inputs:
        try:
            parse(data)
        except ProtocolError as err:
            if err.code not in CODES:
                report(name, False, "unknown code " + err.code)
                return
        except Exception as err:
            report(name, False, repr(err) + " on " + repr(data[:80]))
            return
    report(name, True)


def random_bytes(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def fuzz():
    random.seed(20261125)
    samples = [v["payload"].encode() for v in load("messages.json")["messages"]]
    noise = [random_bytes(random.getrandbits(9)) for _ in range(ROUNDS // 4)]
    mutated = []
    for i in range(ROUNDS):
        data = bytearray(samples[i % len(samples)])
        for _ in range(1 + random.getrandbits(2)):
            data[random.getrandbits(16) % len(data)] = random.getrandbits(8)
        mutated.append(bytes(data))
    truncated = [s[:random.getrandbits(16) % len(s)] for s in samples for _ in range(20)]
    only_protocol_errors("fuzz.random_bytes", messages.parse, noise)
    only_protocol_errors("fuzz.mutated_messages", messages.parse, mutated)
    only_protocol_errors("fuzz.truncated_messages", messages.parse, truncated)
    only_protocol_errors("fuzz.nested", messages.parse, [b"[" * 3000, b'{"a":' * 2000])
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz/+#-. \r\n\u00e9\u20ac"
    texts = ["".join(alphabet[b % len(alphabet)] for b in d[:random.getrandbits(8)])
             for d in noise]
    only_protocol_errors("fuzz.tokens", tokens.parse_token, texts)
    only_protocol_errors("fuzz.topics", topics.parse, ["t/" + t for t in texts] + texts)


check_messages()
check_result_binding()
check_tokens()
fuzz()
print("SUMMARY %d %d" % (passed[0], failed[0]))
if failed[0]:
    sys.exit(1)
