"""Competing consumers on a NATS cluster: what terminals publish over MQTT, shared by several
fleet server processes, at least once, acknowledged after handling.

NATS has no `$share` for MQTT 3.1.1 clients (a shared SUBSCRIBE is accepted and delivers
nothing). Instead, a JetStream stream with work-queue retention captures every upward leaf
that `$share` would share (`t.*.debit.req`, ...: NATS's subject for the MQTT topic
`t/<dev>/debit/req`), replicated on
3 nodes, and every server process pulls from one durable consumer of it: each message goes
to one process, and is removed once that process acknowledges it, after handling. A process
that dies with messages unacknowledged gets them redelivered to another after `ack_wait`;
meanwhile the terminal's own retransmission reaches a live process at once. Either way the
request store answers a second delivery with the stored result, and the ledger's idempotency
key keeps money from moving twice.

Replies still go out over MQTT QoS 1 (MqttBus.publish): a core NATS publish reaches an MQTT
subscriber as QoS 0, not queued while the terminal is offline.
"""

import asyncio
import logging
import threading
from collections.abc import Callable

from protocol import topics

log = logging.getLogger("fleet.nats")

STREAM = "FLEET_UP"
DURABLE = "fleet"

# (topic, payload, ack) -> None: the bus queues it for the device's worker, which calls ack()
# once the message is handled.
Submit = Callable[[str, bytes, Callable[[], None]], None]


def upward_subjects() -> list[str]:
    """NATS subjects of what server processes share (`$share/fleet/t/+/debit/req` ->
    `t.*.debit.req`); the rest every process subscribes to over MQTT."""
    prefix = "$share/" + topics.SHARE_GROUP + "/"
    return [f[len(prefix):].replace("/", ".").replace("+", "*")
            for f in topics.server_filters(shared=True) if f.startswith(prefix)]


def subject_to_topic(subject: str) -> str:
    return subject.replace(".", "/")


class JetStreamInbox:
    """Pulls from the shared durable consumer in a thread of its own (nats-py is asyncio)."""

    def __init__(self, urls: list[str], submit: Submit, replicas: int = 3,
                 ack_wait_s: float = 30.0, pullers: int = 4, max_ack_pending: int = 20_000):
        self.urls, self.submit = urls, submit
        self.replicas, self.ack_wait_s = replicas, ack_wait_s
        self.pullers, self.max_ack_pending = pullers, max_ack_pending
        self.ready = threading.Event()
        self.received = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="nats-inbox", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        if not self.ready.wait(timeout):
            log.warning("JetStream consumer not ready after %.0fs; still trying", timeout)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js import api

        self._stop = asyncio.Event()
        # max_reconnect_attempts=-1: the cluster's other nodes are tried for ever, a node
        # that dies only moves this connection.
        nc = await nats.connect(servers=self.urls, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.5, connect_timeout=2,
                                name="fleet-server", error_cb=_quiet, disconnected_cb=_moved)
        js = nc.jetstream(timeout=5)
        while not self._stop.is_set():
            try:
                await self._ensure(js, api)
                # Several pullers, each its own subscription (a fetch waits on its inbox):
                # one message per fetch comes back as soon as it is there, where a batch
                # fetch would wait for a full batch or its timeout.
                subs = [await js.pull_subscribe_bind(DURABLE, STREAM)
                        for _ in range(self.pullers)]
                break
            except Exception as err:  # the cluster may still be electing its leaders
                log.warning("JetStream stream not ready: %s", err)
                await asyncio.sleep(1)
        self.ready.set()
        log.info("pulling from JetStream %s/%s on %s", STREAM, DURABLE, ",".join(self.urls))
        await asyncio.gather(*(self._pull(sub, NatsTimeout) for sub in subs))
        await nc.close()

    async def _pull(self, sub, timeout_error) -> None:
        while not self._stop.is_set():
            try:
                msgs = await sub.fetch(1, timeout=1)
            except timeout_error:
                continue
            except Exception as err:  # a node died under the fetch: try again
                log.warning("JetStream fetch failed: %s", err)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                self.received += 1
                self.submit(subject_to_topic(msg.subject), msg.data, self._acker(msg))

    def _acker(self, msg) -> Callable[[], None]:
        def ack() -> None:  # from a worker thread: the ack is sent by the loop's thread
            self._loop.call_soon_threadsafe(lambda: self._loop.create_task(_ack(msg)))
        return ack

    async def _ensure(self, js, api) -> None:
        config = api.StreamConfig(
            name=STREAM, subjects=upward_subjects(), retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE, num_replicas=self.replicas, max_age=24 * 3600)
        try:
            await js.stream_info(STREAM)
        except Exception:
            await js.add_stream(config)
        consumer = api.ConsumerConfig(
            durable_name=DURABLE, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.ack_wait_s,
            max_ack_pending=self.max_ack_pending, max_waiting=512)
        try:
            await js.consumer_info(STREAM, DURABLE)
        except Exception:
            await js.add_consumer(STREAM, consumer)


async def _quiet(err) -> None:  # a node that died: reconnection to another one follows
    log.info("NATS connection: %s", err)


async def _moved() -> None:
    log.warning("NATS node gone; moving to another node of the cluster")


async def _ack(msg) -> None:
    try:
        await msg.ack()
    except Exception as err:  # not acknowledged: redelivered after ack_wait, deduplicated
        log.warning("ack of %s failed: %s", msg.subject, err)
