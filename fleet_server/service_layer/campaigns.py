"""Releases and campaigns: publish a signed release, roll it out in stages, serve its files in
chunks, follow every device's reports, abort past a failure threshold.

No MQTT or SQL here: ports (campaigns_ports.py) for the stores and the device directory, and
messages out as (topic, payload, qos, retain) for the bus to publish. `tick(now)` drives the
pacing, the timeouts and the retries; the server calls it every second or so.
"""

import base64
import hashlib
import logging
import math
from collections import OrderedDict
from dataclasses import fields
from datetime import datetime, timedelta

from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import (
    ABORTED,
    BAD,
    CANCELLED,
    COMPLETED,
    FINAL,
    GOOD,
    IN_FLIGHT,
    OFFERED,
    PAUSED,
    PENDING,
    RUNNING,
    SKIPPED,
    TIMED_OUT,
    CampaignError,
    CampaignStore,
    DeviceDirectory,
    ReleaseStore,
    Rules,
    Target,
    check_campaign_id,
)
from fleet_server.service_layer.messaging import Outgoing
from protocol import auth, messages, topics
from protocol.errors import ProtocolError

log = logging.getLogger("fleet.updates")
CHUNK_MAX = 4096


def normal_model(name: str) -> str:
    return (name or "").replace("-", "_").lower()


def in_sample(campaign_id: str, device_id: str, percent: int) -> bool:
    """A stable percentage: the same devices for the same campaign, whatever the order."""
    digest = hashlib.sha256(f"{campaign_id}/{device_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _plain(kind, values: dict, what: str) -> dict:
    """values checked against the dataclass `kind`'s fields, typed like their defaults."""
    defaults = {f.name: f.default for f in fields(kind)}
    for name, value in values.items():
        if name not in defaults:
            raise CampaignError(f"unknown {what} {str(name)[:40]}")
        default = defaults[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = type(value) is int
        elif isinstance(default, float):
            ok = type(value) in (int, float) and math.isfinite(value)
        elif default is None:
            ok = value is None or isinstance(value, str)
        else:  # a list (the explicit devices)
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok:
            raise CampaignError(f"{what} {name}: wrong type")
    return values


class UpdateService:
    def __init__(self, releases: ReleaseStore, campaigns: CampaignStore,
                 directory: DeviceDirectory, keys, clock, trusted_keys, new_id):
        self.releases, self.campaigns, self.directory = releases, campaigns, directory
        self.keys, self.clock, self.trusted_keys, self.new_id = keys, clock, trusted_keys, new_id
        self._release_cache: dict[str, tuple[dict, set]] = {}
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._blob_bytes = 0

    # ---- releases ----------------------------------------------------------------------------
    def publish(self, candidate: rel.ReleaseCandidate, allow_downgrade: bool = False) -> dict:
        doc = rel.check_release(candidate, self.trusted_keys(), self.releases.has_blob,
                                self.releases.latest_version(), allow_downgrade)
        if self.releases.get_release(doc["version"]) is not None:
            raise rel.ReleaseError("exists", f"release {doc['version']} is already published")
        self.releases.add_release(doc, candidate.manifest, candidate.signature,
                                  candidate.files, self.clock())
        return doc

    def allow_rollback(self, version: str, signature: str) -> dict:
        """Keep the rollback statement for a published release, signed off the server with the
        release key: campaigns may then install it over newer releases (allow_downgrade)."""
        row = self.releases.get_release(version)
        if row is None:
            raise CampaignError(f"no release {version}")
        rel.check_rollback(version, row["manifest_sha"], signature, self.trusted_keys())
        self.releases.set_rollback(version, signature.lower())
        return self.releases.get_release(version)

    def _release(self, version: str) -> tuple[dict, dict, set]:
        row = self.releases.get_release(version)
        if row is None:
            raise CampaignError(f"no release {version}")
        if version not in self._release_cache:
            try:
                doc = rel.parse_manifest(row["manifest"])
            except rel.ReleaseError as err:
                # Checked at publication, so the row was changed since (a restore gone wrong,
                # someone in the database): a refusal the operator can read, not a crash.
                raise CampaignError(f"damaged release {version} in the store ({err}): "
                                    "publish it again") from err
            self._release_cache[version] = (doc, {f["sha256"] for f in doc["files"]})
        doc, shas = self._release_cache[version]
        return row, doc, shas

    # ---- campaigns ---------------------------------------------------------------------------
    def create(self, release_version: str, target: Target, rules: Rules,
               campaign_id: str | None = None) -> dict:
        target.check()
        rules.check()
        row, doc, _ = self._release(release_version)
        if rules.allow_downgrade and not row.get("rollback_sig"):
            # The terminals would refuse it anyway: "dg" in the offer is that signature.
            raise CampaignError(f"downgrade needs a rollback statement for release "
                                f"{release_version} signed with the release key (fleet "
                                "release rollback-sign, then rollback-publish)")
        campaign_id = check_campaign_id(campaign_id or self.new_id())
        if self.campaigns.get_campaign(campaign_id) is not None:
            raise CampaignError(f"campaign {campaign_id} exists")
        models = {normal_model(m) for m in doc["models"]}
        chosen = []
        for device in self.directory.select(target):
            if not target.devices and normal_model(device.model) not in models:
                continue  # an explicit list is the operator's choice; the device checks too
            if target.percent < 100 and not in_sample(campaign_id, device.device_id,
                                                      target.percent):
                continue
            chosen.append(device.device_id)
        now = self.clock()
        campaign = {"campaign_id": campaign_id, "release_version": release_version,
                    "state": RUNNING, "target": target.to_dict(), "rules": rules.to_dict(),
                    "reason": None, "created_at": now, "started_at": now}
        self.campaigns.add_campaign(campaign, chosen)
        return self.show(campaign_id)

    def start(self, release_version: str, target: dict, rules: dict,
              campaign_id: str | None = None) -> dict:
        """`create` from plain fields, as the REST API's body and the console's form give them:
        an unknown rule name or a value of the wrong type is refused, not ignored."""
        return self.create(release_version, Target(**_plain(Target, target, "target")),
                           Rules(**_plain(Rules, rules, "rule")), campaign_id)

    def show(self, campaign_id: str) -> dict:
        campaign = self.campaigns.get_campaign(campaign_id)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        counts = self.campaigns.counts(campaign_id)
        total = sum(counts.values())
        done = sum(counts.get(s, 0) for s in FINAL)
        good = sum(counts.get(s, 0) for s in GOOD)
        bad = sum(counts.get(s, 0) for s in BAD)
        return dict(campaign, counts=counts, total=total, finished=done, succeeded=good,
                    failures=bad, progress_pct=(100 * done // total) if total else 100)

    def _set_state(self, campaign_id: str, allowed: tuple, state: str, reason=None) -> dict:
        campaign = self.campaigns.get_campaign(campaign_id)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        if campaign["state"] not in allowed:
            raise CampaignError(f"campaign {campaign_id} is {campaign['state']}")
        final = state in (CANCELLED, ABORTED, COMPLETED)
        if final:  # before the campaign's state: whoever sees it ended sees every skip too
            for device in self.campaigns.devices(campaign_id, (PENDING,)):
                self.campaigns.set_device(campaign_id, device["device_id"], state=SKIPPED,
                                          reason=state, finished_at=self.clock())
        self.campaigns.set_campaign(campaign_id, state=state, reason=reason,
                                    finished_at=self.clock() if final else None)
        return self.show(campaign_id)

    def pause(self, campaign_id: str) -> dict:
        return self._set_state(campaign_id, (RUNNING,), PAUSED)

    def resume(self, campaign_id: str) -> dict:
        return self._set_state(campaign_id, (PAUSED,), RUNNING)

    def cancel(self, campaign_id: str) -> dict:
        return self._set_state(campaign_id, (RUNNING, PAUSED), CANCELLED, "cancelled")

    # ---- the clock: timeouts, abort, pacing, completion -------------------------------------
    def tick(self, now: datetime | None = None) -> list[Outgoing]:
        now = now or self.clock()
        out: list[Outgoing] = []
        for campaign in self.campaigns.list_campaigns((RUNNING, PAUSED)):
            try:
                out += self._tick_campaign(campaign, now)
            except Exception:  # one broken campaign must not stop the others
                log.exception("campaign %s tick failed", campaign["campaign_id"])
        return out

    def _tick_campaign(self, campaign: dict, now: datetime) -> list[Outgoing]:
        cid = campaign["campaign_id"]
        rules = Rules(**campaign["rules"])
        stuck_before = now - timedelta(seconds=rules.device_timeout_s)
        for device in self.campaigns.devices(cid, IN_FLIGHT):
            if device["state_at"] is not None and device["state_at"] < stuck_before:
                self._retry_or_fail(cid, device, rules, TIMED_OUT, f"stuck in {device['state']}",
                                    now)
        view = self.show(cid)
        if view["finished"] >= rules.min_devices and view["finished"] and \
                view["failures"] / view["finished"] > rules.failure_threshold:
            self._set_state(cid, (RUNNING, PAUSED), ABORTED,
                            f"failure rate {view['failures']}/{view['finished']} over "
                            f"{rules.failure_threshold:.0%}")
            log.warning("campaign %s aborted", cid)
            return []
        if view["finished"] == view["total"]:
            self._set_state(cid, (RUNNING, PAUSED), COMPLETED)
            return []
        if campaign["state"] != RUNNING:
            return []
        minute = int((now - campaign["started_at"]).total_seconds() // 60)
        window_start = campaign["started_at"] + timedelta(minutes=max(minute, 0))
        rate = min(rules.max_per_minute,
                   math.ceil(rules.base_per_minute * rules.ramp ** min(max(minute, 0), 60)))
        budget = rate - self.campaigns.offered_since(cid, window_start)
        out: list[Outgoing] = []
        if budget <= 0:
            return out
        row, _doc, _ = self._release(campaign["release_version"])
        for device in self.campaigns.devices(cid, (PENDING,)):
            if budget <= 0:
                break
            if not self.directory.online(device["device_id"]):
                continue  # offered when it comes back
            offer = self._offer(cid, device["device_id"], row, rules, now)
            if offer is None:
                continue
            out.append(offer)
            self.campaigns.set_device(cid, device["device_id"], state=OFFERED,
                                      attempts=device["attempts"] + 1, offered_at=now,
                                      state_at=now, reason=None)
            budget -= 1
        return out

    def _retry_or_fail(self, cid, device, rules, state, reason, now):
        if device["attempts"] <= rules.max_retries:
            self.campaigns.set_device(cid, device["device_id"], state=PENDING, reason=reason,
                                      state_at=now)
        else:
            self.campaigns.set_device(cid, device["device_id"], state=state, reason=reason,
                                      state_at=now, finished_at=now)

    def _offer(self, cid: str, device_id: str, row: dict, rules: Rules, now: datetime):
        device = self.directory.get(device_id)
        if device is None:
            return None
        ts = int(now.timestamp())
        fields = {"dev": device_id, "ts": ts, "id": cid, "rel": row["version"],
                  "man": row["manifest_sha"], "size": len(row["manifest"]),
                  "delay": rules.start_delay_s, "exp": ts + rules.offer_ttl_s,
                  "sig": row["signature"]}
        if rules.allow_downgrade and row.get("rollback_sig"):
            fields["dg"] = row["rollback_sig"]  # the release key's rollback statement
        message = messages.build("update_offer", fields)
        payload = auth.seal(message, self.keys.command_key(device_id, device.key_version))
        return (topics.topic(device_id, "update_offer"), payload, 1, False)

    # ---- messages from devices ---------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> list[Outgoing]:
        try:
            device_id, mtype = topics.parse(topic)
            if mtype == "update_req":
                message = messages.parse(payload, "update_req")
                topics.check_sender(topic, message)
                return self._chunk(device_id, message)
            if mtype == "update_report":
                message = messages.parse(payload, "update_report")
                topics.check_sender(topic, message)
                self._report(device_id, message)
        except (ProtocolError, CampaignError) as err:
            log.info("update message on %s refused: %s", topic[:80], err)
        return []

    def _report(self, device_id: str, message: dict) -> None:
        device = self.directory.get(device_id)
        if device is None:
            raise CampaignError("unknown device")
        auth.verify(message, self.keys.command_key(device_id, device.key_version))
        cid = message["id"]
        row = self.campaigns.device(cid, device_id) if len(cid) <= 32 else None
        if row is None:
            log.info("report from %s for unknown campaign %s: %s", device_id, cid,
                     message["st"])
            return
        now = self.clock()
        state = message["st"]
        campaign = self.campaigns.get_campaign(cid)
        rules = Rules(**campaign["rules"])
        if state == "failed" and campaign["state"] in (RUNNING, PAUSED):
            # A failed download or install is retried (a device rolled back or refusing the
            # release is not: the same release would fail the same way).
            if row["attempts"] <= rules.max_retries:
                self.campaigns.set_device(cid, device_id, state=PENDING,
                                          reason=message.get("reason"), state_at=now)
                return
        fields = {"state": state, "state_at": now, "reason": message.get("reason")}
        if "pct" in message:
            fields["pct"] = message["pct"]
        if state in FINAL:
            fields["finished_at"] = now
        self.campaigns.set_device(cid, device_id, **fields)

    def _chunk(self, device_id: str, message: dict) -> list[Outgoing]:
        cid = message["id"]
        row = self.campaigns.device(cid, device_id)
        campaign = self.campaigns.get_campaign(cid) if row else None
        if row is None or campaign is None or campaign["state"] in (CANCELLED, COMPLETED):
            return []
        release, _doc, shas = self._release(campaign["release_version"])
        sha = message["f"]
        if sha == release["manifest_sha"]:
            data = release["manifest"]
        elif sha in shas:
            data = self._blob(sha)
        else:
            return []
        offset = message["off"]
        if data is None or offset > len(data):
            return []
        piece = data[offset:offset + min(message["n"], CHUNK_MAX)]
        chunk = messages.build("update_chunk", {
            "dev": device_id, "id": cid, "f": sha, "off": offset,
            "data": base64.b64encode(piece).decode(), "eof": offset + len(piece) >= len(data)})
        return [(topics.topic(device_id, "update_chunk"), messages.encode(chunk), 1, False)]

    def _blob(self, sha: str) -> bytes | None:
        data = self._blobs.get(sha)
        if data is not None:
            self._blobs.move_to_end(sha)
            return data
        data = self.releases.get_blob(sha)
        if data is not None:
            self._blobs[sha] = data
            self._blob_bytes += len(data)
            while self._blob_bytes > 64 * 1024 * 1024 and self._blobs:
                _old, dropped = self._blobs.popitem(last=False)
                self._blob_bytes -= len(dropped)
        return data
