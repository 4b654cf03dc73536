"""Prometheus metrics at /metrics: requests by type and result, request and ledger latency,
the request queue, connected terminals, campaign progress, whether this process runs the
once-only jobs, the state of its MQTT connections. One registry per running server (tests run
several in one process).

The service layer knows nothing of this: the dispatcher calls an `observe` hook after each
request, the ledger port is wrapped in a timing adapter, and the gauges read live state when
Prometheus scrapes."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from fleet_server.ledger.port import Ledger, LedgerResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A counter clerk feels 300 ms; a broker round trip is about 0.5 ms here.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class FleetMetrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("fleet_requests", "Debit and void requests handled, by result",
                                ["type", "result"], registry=self.registry)
        self.request_seconds = Histogram(
            "fleet_request_seconds", "Time to handle a terminal's request, reply included",
            ["type"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.ledger_seconds = Histogram(
            "fleet_ledger_seconds", "Time the ledger took to decide", ["operation"],
            buckets=_LATENCY_BUCKETS, registry=self.registry)

    def observe_request(self, mtype: str, result: str, seconds: float) -> None:
        kind = "debit" if mtype == "debit_req" else "void"
        self.requests.labels(kind, result or "unanswered").inc()
        self.request_seconds.labels(kind).observe(seconds)

    def watch(self, fleet) -> None:
        """Gauges read from the running server at scrape time."""
        queue = Gauge("fleet_request_queue_depth", "Messages waiting for a worker",
                      registry=self.registry)
        queue.set_function(lambda: _queue_depth(fleet))
        connected = Gauge("fleet_terminals_connected", "Terminals online in the live view",
                          registry=self.registry)
        connected.set_function(lambda: _connected(fleet))
        jobs = Gauge("fleet_runs_jobs", "1 when this process holds the once-only jobs lease",
                     registry=self.registry)
        jobs.set_function(lambda: 1 if fleet.lease is None or fleet.lease.held() else 0)
        self.registry.register(_CampaignCollector(fleet))
        self.registry.register(_BrokerLinkCollector(fleet))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class TimedLedger(Ledger):
    """The ledger port, timed."""

    def __init__(self, ledger: Ledger, histogram: Histogram):
        self.ledger, self._debit, self._void = ledger, histogram.labels("debit"), \
            histogram.labels("void")

    def debit(self, request) -> LedgerResult:
        started = time.perf_counter()
        try:
            return self.ledger.debit(request)
        finally:
            self._debit.observe(time.perf_counter() - started)

    def void(self, request) -> LedgerResult:
        started = time.perf_counter()
        try:
            return self.ledger.void(request)
        finally:
            self._void.observe(time.perf_counter() - started)

    def lookup(self, partner_id: str, token: str):
        return self.ledger.lookup(partner_id, token)  # read-only, not a money request


class _CampaignCollector:
    """Devices per state of each running or paused campaign, read when scraped."""

    def __init__(self, fleet):
        self.fleet = fleet

    def describe(self):
        return []

    def collect(self):
        family = GaugeMetricFamily("fleet_campaign_devices", "Devices of a running campaign "
                                   "per update state", labels=["campaign", "state"])
        service = self.fleet.updates
        if service is not None:
            try:
                store = service.campaigns
                for campaign in store.list_campaigns(states=("running", "paused")):
                    for state, count in store.counts(campaign["campaign_id"]).items():
                        family.add_metric([campaign["campaign_id"], state], count)
            except Exception:  # a scrape never fails on a database hiccup
                pass
        yield family


class _BrokerLinkCollector:
    """The server's MQTT connections (the main one and those that carry replies): connected,
    publishes awaiting the broker's acknowledgement, how long the oldest has waited. A node
    holding a connection shows as a wait of seconds on that one."""

    def __init__(self, fleet):
        self.fleet = fleet

    def describe(self):
        return []

    def collect(self):
        labels = ["connection"]
        up = GaugeMetricFamily("fleet_mqtt_connected", "1 when the MQTT connection is up",
                               labels=labels)
        unacked = GaugeMetricFamily("fleet_mqtt_unacked", "QoS 1 publishes the broker has not "
                                    "acknowledged yet", labels=labels)
        waiting = GaugeMetricFamily("fleet_mqtt_oldest_unacked_seconds", "How long the oldest "
                                    "unacknowledged publish has waited", labels=labels)
        bus, now = self.fleet.bus, time.monotonic()
        for link in ([bus.link, *bus.publishers] if hasattr(bus, "link") else []):
            name = [link.client_id]
            up.add_metric(name, 1 if link.connected.is_set() else 0)
            unacked.add_metric(name, link.unacked)
            waiting.add_metric(name, round(link.waiting_s(now), 3))
        yield from (up, unacked, waiting)


def _queue_depth(fleet) -> int:
    bus = fleet.bus
    return sum(q.qsize() for q in getattr(bus, "_queues", ())) if bus else 0


def _connected(fleet) -> int:
    status = fleet.dispatcher.status
    return sum(1 for device_id in list(status.live) if status.online(device_id))
