"""Write protocol/vectors/messages.json and tokens.json from the CPython implementation.

These files are the contract: the CPython tests and the MicroPython checks both load them and
must reproduce them byte for byte. Rerun only when the contract changes on purpose, and say so
in the commit:  .venv/bin/python scripts/make_protocol_vectors.py
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from protocol import auth, canonical, messages, tokens  # noqa: E402
from protocol.errors import ProtocolError  # noqa: E402

# Fixed keys, for vectors only. The DUKPT ones follow the X9.24-3 supplement's test BDK.
BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
KID = bytes.fromhex("1234567890123456")
COMMAND_KEY = bytes(range(32))
DEV = tokens.make_device_id("4F7KQ2MZ")
TS = 1790000000

SAMPLES = {
    "debit_req": {"dev": DEV, "kid": KID.hex(), "seq": 7, "ts": TS,
                  "tok": tokens.make_voucher("2DZHB6PQ"), "amt": 1500, "cat": "books"},
    "debit_res": {"dev": DEV, "seq": 7, "ts": TS + 1, "st": "approved", "amt": 1500,
                  "bal": 2350, "auth": "A7K2Q9", "op": "OP7Q2K9M3X"},
    "void_req": {"dev": DEV, "kid": KID.hex(), "seq": 8, "ts": TS + 60, "oseq": 7},
    "void_res": {"dev": DEV, "seq": 8, "oseq": 7, "ts": TS + 61, "st": "declined",
                 "code": "void_not_allowed", "amt": 0},
    "code_req": {"dev": DEV, "ts": TS, "id": "9f3a61c0e2b74d58",
                 "tok": tokens.make_voucher("2DZHB6PQ")},
    "code_res": {"dev": DEV, "ts": TS + 1, "id": "9f3a61c0e2b74d58",
                 "tok": tokens.make_voucher("2DZHB6PQ"), "code": "voucher_used", "amt": 30000,
                 "cat": "driving"},
    "heartbeat": {"dev": DEV, "ts": TS, "up": 86400, "rssi": -67, "heap": 81234,
                  "fw": "1.4.0", "boots": 12, "rst": "power_on", "jn": 0, "scn": "ok",
                  "err": "Librairie des Écoles: «réseau» lent", "drift": -2, "sales": 31},
    "status": {"dev": DEV, "ts": TS, "st": "offline", "fw": "1.4.0"},
    "command": {"dev": DEV, "ts": TS, "id": "c-0001", "name": "get_logs",
                "args": {"lines": 50, "why": "ticket 42"}, "exp": TS + 300},
    "command_res": {"dev": DEV, "ts": TS + 2, "id": "c-0001", "ok": True,
                    "res": {"lines": ["boot 1.4.0", "wifi up -67 dBm"], "truncated": False}},
    "config": {"dev": DEV, "ts": TS, "cv": 3, "partner": "Librairie des Écoles",
               "cats": [{"c": "books", "l": "Livres", "cap": 600},
                        {"c": "culture", "l": "Spectacles"}],
               "amax": 30000, "hb": 60, "opts": {"beep": 2, "screen_s": 30}},
    "update_offer": {"dev": DEV, "ts": TS, "id": "rollout-9", "rel": "1.5.0",
                     "man": "ab" * 32, "size": 18231, "delay": 120, "exp": TS + 86400},
    "update_req": {"dev": DEV, "ts": TS, "id": "rollout-9", "f": "cd" * 32, "off": 4096,
                   "n": 4096},
    "update_chunk": {"dev": DEV, "id": "rollout-9", "f": "cd" * 32, "off": 4096,
                     "data": "aGVsbG8gd29ybGQ=", "eof": True},
    "update_report": {"dev": DEV, "ts": TS, "id": "rollout-9", "st": "rolled_back",
                      "rel": "1.5.0", "reason": "self-test failed: scanner", "pct": 100},
}


def message_vector(mtype, fields):
    message = messages.build(mtype, fields)
    scheme = messages.auth_scheme(mtype)
    vector = {"type": mtype, "scheme": scheme}
    if scheme in (messages.DUKPT_REQUEST, messages.DUKPT_RESULT):
        counter = fields["seq"]
        key = auth.dukpt_mac_key(BDK, KID, counter, scheme)
        vector.update(bdk=BDK.hex(), kid=KID.hex(), counter=counter, key=key.hex())
    elif scheme == messages.COMMAND_KEY:
        key = COMMAND_KEY
        vector.update(key=key.hex())
    else:
        key = None
    vector["mac_input"] = canonical.encode_without(message, "mac").decode("utf-8")
    payload = auth.seal(message, key) if key is not None else messages.encode(message)
    if key is not None:
        vector["mac"] = message["mac"]
    vector["payload"] = payload.decode("utf-8")
    return vector


def token_vectors():
    cards = [tokens.make_card(d) for d in ("97310000042", "00000000000", "12345678901")]
    vouchers = [tokens.make_voucher(p) for p in ("2DZHB6PQ", "00000000", "ZZZZZZZZ")]
    good = [{"raw": c, "kind": "card", "code": c} for c in cards]
    good += [{"raw": tokens.format_card(cards[0]), "kind": "card", "code": cards[0]}]
    good += [{"raw": v, "kind": "voucher", "code": v} for v in vouchers]
    good += [{"raw": "  " + vouchers[0].lower()[:4] + "-" + vouchers[0][4:] + "\r\n",
              "kind": "voucher", "code": vouchers[0]},
             {"raw": "https://pass.example/v/" + vouchers[0] + "?q=1", "kind": "voucher",
              "code": vouchers[0]}]
    bad = []
    for raw in (cards[0][:-1] + str((int(cards[0][-1]) + 1) % 10),
                vouchers[0][:3] + ("0" if vouchers[0][3] != "0" else "1") + vouchers[0][4:],
                "", "ABC", "1234567890", "U" * 9, "A" * 200):
        try:
            tokens.parse_token(raw)
            raise SystemExit("bad token vector parsed: " + raw)
        except ProtocolError as err:
            bad.append({"raw": raw, "error": err.code})
    devices = [{"payload": p, "id": tokens.make_device_id(p)} for p in ("4F7KQ2MZ", "00000000")]
    return {"tokens": good, "rejected": bad, "devices": devices,
            "claims": [{"payload": "K7M2Q9XA", "code": tokens.make_claim_code("K7M2Q9XA")}]}


# A result carries the MAC of the request it answers (rq): debit_res answers debit_req,
# void_res answers void_req, code_res answers code_req.
ANSWERS = {"debit_res": "debit_req", "void_res": "void_req", "code_res": "code_req"}


def main():
    out = REPO / "protocol" / "vectors"
    vectors = {}
    for mtype in sorted(SAMPLES, key=lambda t: t in ANSWERS):  # requests before results
        fields = SAMPLES[mtype]
        if mtype in ANSWERS:
            fields = dict(fields, rq=vectors[ANSWERS[mtype]]["mac"])
        vectors[mtype] = message_vector(mtype, fields)
    vectors = [vectors[t] for t in sorted(vectors)]
    missing = set(messages.MESSAGES) - set(SAMPLES)
    if missing:
        raise SystemExit("no sample for " + ", ".join(sorted(missing)))
    doc = {"about": "Canonical bytes and MACs of every message type; see docs/protocol.md.",
           "messages": vectors}
    (out / "messages.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    (out / "tokens.json").write_text(json.dumps(token_vectors(), indent=1) + "\n")
    print("wrote", out / "messages.json", "and", out / "tokens.json")


if __name__ == "__main__":
    main()
