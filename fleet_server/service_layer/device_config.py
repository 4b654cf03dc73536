"""The retained configuration a terminal receives when it connects: its partner's name, the
categories it may sell (from the partner's signed agreements) with their per-purchase caps,
the program maximum and the heartbeat interval. MACed with the device's command key."""

import logging
from collections.abc import Callable
from datetime import datetime

from fleet_server.service_layer import rekey
from fleet_server.service_layer.keys import KeyStore
from protocol import auth, messages, topics

log = logging.getLogger("fleet.config")

# Short labels for the 128x64 screen when the ledger cannot tell its category list (an
# external ledger); the reference ledger's list is used otherwise.
LABELS = {"books": "Livres", "culture": "Culture", "sport": "Sport", "driving": "Permis",
          "music": "Musique", "cinema": "Cinema"}
DEFAULT_AMAX = 30000  # when the ledger cannot tell the partner's programs
PROTOCOL_AMAX = 99999999  # the config message's bound on amax
DEFAULT_HB_S = 60


def build_config(keys: KeyStore, device, partner, categories: list[dict], amax: int,
                 version: int, now: datetime, hb_s: int = DEFAULT_HB_S) -> tuple[str, bytes]:
    cats = []
    for cat in categories[:8]:
        entry = {"c": cat["c"], "l": (cat.get("l") or LABELS.get(cat["c"], cat["c"]))[:24]}
        if cat.get("cap"):
            entry["cap"] = cat["cap"]
        cats.append(entry)
    message = messages.build("config", {
        "dev": device.device_id, "ts": int(now.timestamp()), "cv": max(1, version),
        "partner": (partner.name if partner else "")[:40], "cats": cats,
        "amax": amax, "hb": hb_s})
    payload = auth.seal(message, keys.command_key(device.device_id, device.key_version))
    return topics.topic(device.device_id, "config"), payload


def partner_categories(ledger, partner_id: str) -> tuple[list[dict], int]:
    """Categories of the partner's signed agreements and the amount bound for its terminals,
    when the ledger can tell (the reference ledger can; an external one may not)."""
    agreements = getattr(ledger, "agreements", None)
    if agreements is None or partner_id is None:
        return [], DEFAULT_AMAX
    try:
        rows = agreements(partner_id)
    except Exception as err:  # the config is best effort; the ledger still decides each sale
        log.warning("agreements of %s unavailable: %s", partner_id, err)
        return [], DEFAULT_AMAX
    seen, out, maxima, programs = set(), [], [], set()
    for row in rows:
        if row.get("status") != "signed":
            continue
        maxima.append(row.get("program_max_cents", DEFAULT_AMAX))
        programs.add(row.get("program_id"))
        if row["category"] not in seen:
            seen.add(row["category"])
            out.append({"c": row["category"]})
    caps = _category_caps(ledger, programs)
    labels = _category_labels(ledger)
    for entry in out:
        if labels.get(entry["c"]):
            entry["l"] = labels[entry["c"]]
        if caps.get(entry["c"]):  # shown on the amount screen ("Max 6,00 EUR") and enforced
            entry["cap"] = caps[entry["c"]]
    return out, program_amount_max(maxima)


def _category_labels(ledger) -> dict:
    read = getattr(ledger, "category_labels", None)
    if read is None:
        return {}
    try:
        return read()
    except Exception as err:  # best effort: the terminal falls back to its short labels
        log.warning("category labels unavailable: %s", err)
        return {}


def _category_caps(ledger, program_ids) -> dict:
    caps = getattr(ledger, "category_caps", None)
    if caps is None or not program_ids:
        return {}
    try:
        return caps(program_ids)
    except Exception as err:  # best effort, like the categories: the ledger decides each sale
        log.warning("per-purchase caps unavailable: %s", err)
        return {}


def program_amount_max(maxima: list[int | None]) -> int:
    """The terminal's bound on a typed amount: the largest maximum of the programs the partner
    sells for (the terminal cannot tell the program before the ledger answers, and must never
    refuse a sale the ledger would take); no limit in a program means the protocol's bound."""
    if not maxima:
        return DEFAULT_AMAX
    if any(m is None for m in maxima):
        return PROTOCOL_AMAX
    return max(maxima)


class ConfigPublisher:
    """On a terminal's "online" status, publish its configuration (retained), and the re-key
    command again while a re-key waits for the terminal (docs/device-lifecycle.md)."""

    def __init__(self, store_load: Callable, ledger, keys: KeyStore, clock: Callable):
        self.load, self.ledger, self.keys, self.clock = store_load, ledger, keys, clock

    def on_status(self, device_id: str, status: dict) -> list[tuple[str, bytes, int, bool]]:
        if status.get("st") != "online":
            return []
        return self.messages_for(device_id)

    def messages_for(self, device_id: str) -> list[tuple[str, bytes, int, bool]]:
        """What the terminal should hold now: its retained configuration (or, retired, an
        empty retained payload that clears it) and a pending re-key command."""
        device, partner, _stored, _sale = self.load(device_id, 0)
        if device is None:
            return []
        if device.state == "retired":
            return [(topics.topic(device_id, "config"), b"", 1, True)]
        now = self.clock()
        categories, amax = partner_categories(self.ledger, device.partner_id)
        topic, payload = build_config(self.keys, device, partner, categories, amax,
                                      int(now.timestamp()), now)
        out = [(topic, payload, 1, True)]
        if device.pending_key_id is not None:
            out.append(rekey.rekey_command(self.keys, device, now))
        return out
