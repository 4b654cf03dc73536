"""A terminal reduced to its wire behaviour: DUKPT state, signed requests, verified results.

It has no screen, keypad or journal; server tests and benchmarks use it to speak the protocol
exactly as a terminal does. (The simulator proper runs the real firmware.)
"""

import time
from dataclasses import dataclass, field

from protocol import dukpt, exchange, messages, topics


@dataclass
class PendingRequest:
    seq: int
    topic: str
    payload: bytes  # kept as sent: a retransmission sends these very bytes
    result_key: bytes
    result_topic: str


@dataclass
class WireTerminal:
    device_id: str
    initial_key_id: str  # 16 hex digits
    initial_key: bytes
    clock: object = time.time
    _dukpt: dukpt.DeviceDukpt = field(init=False, repr=False)

    def __post_init__(self):
        self._dukpt = dukpt.DeviceDukpt.load_initial_key(
            self.initial_key, bytes.fromhex(self.initial_key_id))

    def _request(self, mtype: str, fields: dict) -> PendingRequest:
        counter, request_key, result_key = exchange.transaction_keys(self._dukpt)
        payload, _mac = exchange.seal_request(mtype, dict(
            fields, dev=self.device_id, seq=counter, kid=self.initial_key_id.lower(),
            ts=int(self.clock())), request_key)
        return PendingRequest(counter, topics.topic(self.device_id, mtype), payload, result_key,
                              topics.topic(self.device_id, exchange.ANSWERS[mtype]))

    def debit(self, token: str, amount_cents: int, category: str | None = None):
        fields = {"tok": token, "amt": amount_cents}
        if category:
            fields["cat"] = category
        return self._request("debit_req", fields)

    def void(self, original_seq: int):
        return self._request("void_req", {"oseq": original_seq})

    @staticmethod
    def read_result(pending: PendingRequest, payload: bytes) -> dict:
        """Parse and verify a result for `pending`; raises ProtocolError when it is not."""
        res_type = "debit_res" if pending.topic.endswith("debit/req") else "void_res"
        message = messages.parse(payload, res_type)
        if message["seq"] != pending.seq:
            raise ValueError("result for another request")
        exchange.check_result(message, pending.result_key, pending.payload)
        return message

    def dukpt_state(self) -> dict:
        """The DUKPT registers and next counter, to persist like a board does on flash."""
        return self._dukpt.to_state()

    def restore(self, state: dict) -> None:
        self._dukpt = dukpt.DeviceDukpt.from_state(state)

