"""The retained configuration a terminal receives when it connects: its partner's name, the
categories it may sell (from the partner's signed agreements), the program maximum and the
heartbeat interval. MACed with the device's command key."""

import logging
from collections.abc import Callable
from datetime import datetime

from fleet_server.service_layer.keys import KeyStore
from protocol import auth, messages, topics

log = logging.getLogger("fleet.config")

LABELS = {"books": "Livres", "culture": "Culture", "sport": "Sport", "driving": "Permis",
          "music": "Musique", "cinema": "Cinema"}
DEFAULT_AMAX = 30000
DEFAULT_HB_S = 60


def build_config(keys: KeyStore, device, partner, categories: list[dict], amax: int,
                 version: int, now: datetime, hb_s: int = DEFAULT_HB_S) -> tuple[str, bytes]:
    cats = []
    for cat in categories[:8]:
        entry = {"c": cat["c"], "l": cat.get("l") or LABELS.get(cat["c"], cat["c"])[:24]}
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
    """Categories of the partner's signed agreements and the smallest program maximum, when the
    ledger can tell (the reference ledger can; an external one may not)."""
    agreements = getattr(ledger, "agreements", None)
    if agreements is None or partner_id is None:
        return [], DEFAULT_AMAX
    try:
        rows = agreements(partner_id)
    except Exception as err:  # the config is best effort; the ledger still decides each sale
        log.warning("agreements of %s unavailable: %s", partner_id, err)
        return [], DEFAULT_AMAX
    seen, out = set(), []
    for row in rows:
        if row.get("status") == "signed" and row["category"] not in seen:
            seen.add(row["category"])
            out.append({"c": row["category"]})
    return out, DEFAULT_AMAX


class ConfigPublisher:
    """On a terminal's "online" status, publish its configuration (retained)."""

    def __init__(self, store_load: Callable, ledger, keys: KeyStore, clock: Callable):
        self.load, self.ledger, self.keys, self.clock = store_load, ledger, keys, clock

    def on_status(self, device_id: str, status: dict) -> list[tuple[str, bytes, int, bool]]:
        if status.get("st") != "online":
            return []
        device, partner, _stored, _sale = self.load(device_id, 0)
        if device is None or device.state in ("retired",):
            return []
        categories, amax = partner_categories(self.ledger, device.partner_id)
        version = int(self.clock().timestamp())
        topic, payload = build_config(self.keys, device, partner, categories, amax, version,
                                      self.clock())
        return [(topic, payload, 1, True)]
