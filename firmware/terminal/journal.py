# The pending money request, kept on flash from just before it is published until its final
# result arrives. After a reboot the runtime republishes the stored payload byte for byte and
# checks the late result with the stored result MAC key: the DUKPT state no longer holds that
# transaction's key (docs/protocol.md section 7), so the key must travel with the entry.
# One entry at most: the counter app never has two money movements in flight.

import binascii

from terminal import store

JOURNAL_FILE = "/journal.json"


def _hex(data):
    return binascii.hexlify(bytes(data)).decode()


class Journal:
    def __init__(self, root):
        store.ensure_dir(root)
        self.path = root + JOURNAL_FILE
        self._entry = self._load()

    def _load(self):
        raw = store.load_json(self.path)
        if not isinstance(raw, dict):
            return None
        try:
            seq = raw["seq"]
            if type(seq) is not int or seq < 1:
                return None
            return {"seq": seq, "kind": str(raw["kind"]), "topic": str(raw["topic"]),
                    "payload": binascii.unhexlify(raw["payload"]),
                    "result_key": binascii.unhexlify(raw["result_key"])}
        except Exception:  # a corrupt entry cannot be retransmitted faithfully: treat as none
            return None

    def put(self, seq, kind, topic, payload, result_key):
        if self._entry is not None:
            raise ValueError("journal already holds seq %d" % self._entry["seq"])
        if type(seq) is not int or seq < 1:
            raise ValueError("bad seq")
        if isinstance(payload, str):
            payload = payload.encode()
        entry = {"seq": seq, "kind": kind, "topic": topic, "payload": bytes(payload),
                 "result_key": bytes(result_key)}
        store.save_json(self.path, {"seq": seq, "kind": kind, "topic": topic,
                                    "payload": _hex(payload), "result_key": _hex(result_key)})
        self._entry = entry  # only once it is on flash

    def get(self):
        e = self._entry
        if e is None:
            return None
        return {"seq": e["seq"], "kind": e["kind"], "topic": e["topic"],
                "payload": e["payload"], "result_key": e["result_key"]}

    @property
    def seq(self):
        """Seq of the pending entry, 0 if none (the heartbeat's "jn")."""
        return self._entry["seq"] if self._entry is not None else 0

    def clear(self, seq):
        """Drop the entry if it is `seq`; returns whether it was dropped."""
        if self._entry is None or self._entry["seq"] != seq:
            return False
        # Atomic replace with an empty object rather than a delete: the same write path as put.
        store.save_json(self.path, {})
        self._entry = None
        return True
