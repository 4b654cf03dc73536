# A request and its result, both ends, written once (docs/protocol.md, sections 5 and 7).
#
# Terminal: transaction_keys() advances the DUKPT state (persist it before sending anything
# made with the keys); seal_request() makes the bytes to publish and to keep as they are (a
# retransmission sends them again); check_result() accepts only the answer to those bytes.
# Server: check_request() authenticates a request; seal_result() answers it, bound to it by its
# MAC ("rq"), its device and its counter, voided counter or nonce.
# Money requests (debit_req, void_req: DUKPT keys) and code lookups (code_req: the command key)
# alike. Pure: no I/O, no clock (the caller puts "ts" in the fields).

from protocol import auth, messages

ANSWERS = {"debit_req": "debit_res", "void_req": "void_res", "code_req": "code_res"}
_ECHOED = ("dev", "seq", "oseq", "id")  # what an answer repeats of its request, when present


def transaction_keys(device_dukpt):
    """Terminal: the next DUKPT transaction -> (counter, request key, result key). Its
    transaction key is forgotten at once: only these two working keys leave."""
    seq = device_dukpt.next_transaction()[0]
    request_key, result_key = auth.device_mac_keys(device_dukpt)
    device_dukpt.clear_transaction()
    return seq, request_key, result_key


def seal_request(mtype, fields, key):
    """Terminal: (payload, its MAC) of a request. build() checks every field; the MAC is our
    own hex, so the sealed message is not checked a second time (RAM on a board)."""
    message = messages.build(mtype, fields)
    mac = message["mac"] = auth.compute_mac(message, key)
    return messages.encode(message), mac


def check_result(message, key, request):
    """Terminal: raise ProtocolError("bad_mac") unless `message` answers `request` (its sealed
    payload as kept, or its MAC) and is sealed with `key` (a result key, the command key)."""
    if not isinstance(request, str):
        request = auth.request_mac(request)
    auth.verify_result(message, key, request)


check_request = auth.verify  # server: (request, key); raises ProtocolError("bad_mac")


def seal_result(request, fields, key):
    """Server: the payload answering an authentic `request`; `fields` holds the answer's own
    values (ts, st, amt, code...)."""
    for name in _ECHOED:
        if name in request:
            fields[name] = request[name]
    fields["rq"] = request["mac"]
    # build() checked every field and the MAC is our own hex: not checked a second time.
    message = messages.build(ANSWERS[request["t"]], fields)
    message["mac"] = auth.compute_mac(message, key)
    return messages.encode(message)
