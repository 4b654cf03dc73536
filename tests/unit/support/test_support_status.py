"""Fleet status from heartbeats and status messages: the in-memory view, batched writes, the
connection state (online, unresponsive, offline) and the timeline."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from support_fakes import DEVICE, make_desk

from fleet_server.entrypoints.support_texts import timeline_text
from protocol import messages, topics


def heartbeat(clock, device=DEVICE, **fields) -> tuple[str, bytes]:
    body = {"dev": device, "ts": int(clock.now.timestamp()), "up": 100, "heap": 90000,
            "fw": "0.1.0", "boots": 4, "rst": "power_on", "jn": 0, "scn": "ok", "rssi": -60,
            "sales": 0}
    body.update(fields)
    return (topics.topic(device, "heartbeat"),
            messages.encode(messages.build("heartbeat", body)))


def status(clock, st_: str, device=DEVICE) -> tuple[str, bytes]:
    body = {"dev": device, "ts": int(clock.now.timestamp()), "st": st_, "fw": "0.1.0"}
    return topics.topic(device, "status"), messages.encode(messages.build("status", body))


def test_heartbeats_update_memory_always_and_the_database_every_30_s():
    desk, store, clock, _, _ = make_desk()
    tracker = desk.status
    tracker.handle(*status(clock, "online"))
    for i in range(10):
        tracker.handle(*heartbeat(clock, heap=90000 - i))
        clock.advance(5)
    assert tracker.view(DEVICE)["heap"] == 90000 - 9  # memory is current
    tracker.flush()
    samples = [s for s in store.seen if s.sample]
    assert len(samples) == 2  # t=0 and t=30 s: at most one row per 30 s
    assert store.batches == 1  # one transaction for everything queued


def test_connection_states_online_unresponsive_offline():
    desk, _, clock, _, _ = make_desk()
    tracker = desk.status
    assert tracker.connection(DEVICE) == "unknown"
    tracker.handle(*status(clock, "online"))
    tracker.handle(*heartbeat(clock))
    assert tracker.connection(DEVICE) == "online"
    clock.advance(60 * 2.5 - 1)
    assert tracker.connection(DEVICE) == "online"
    clock.advance(2)  # silent for more than 2.5 heartbeat intervals, no last will
    assert tracker.connection(DEVICE) == "unresponsive"
    tracker.check_silence()
    tracker.handle(*status(clock, "offline"))  # the last will
    assert tracker.connection(DEVICE) == "offline"
    tracker.handle(*status(clock, "online"))
    assert tracker.connection(DEVICE) == "online"
    tracker.flush()
    texts = [timeline_text(e) for e in reversed(desk.store.timeline(DEVICE))]
    assert texts == ["en ligne", "connecté mais muet (pas de signe de vie)", "hors ligne",
                     "en ligne"]


def test_a_heartbeat_after_the_last_will_means_connected_again():
    desk, _, clock, _, _ = make_desk()
    desk.status.handle(*status(clock, "offline"))
    clock.advance(5)
    desk.status.handle(*heartbeat(clock))
    assert desk.status.connection(DEVICE) == "online"


def test_a_shorter_heartbeat_interval_shortens_the_silence_allowed():
    desk, _, clock, _, _ = make_desk()
    desk.status.handle(*heartbeat(clock))
    desk.status.set_interval(DEVICE, 10)
    clock.advance(26)
    assert desk.status.connection(DEVICE) == "unresponsive"


def test_timeline_records_reboots_errors_firmware_changes_and_sales():
    desk, store, clock, _, _ = make_desk()
    tracker = desk.status
    tracker.handle(*heartbeat(clock, sales=0))
    clock.advance(60)
    tracker.handle(*heartbeat(clock, up=5, boots=5, rst="watchdog", fw="0.2.0",
                              err="wifi_lost", scn="fault", sales=3))
    tracker.flush()
    kinds = {e.kind: timeline_text(e) for e in store.timeline(DEVICE)}
    assert "watchdog" in kinds["reboot"]
    assert kinds["update"] == "logiciel 0.1.0 -> 0.2.0"
    assert "sales" in kinds and "3 vente" in kinds["sales"]
    assert any("wifi_lost" in timeline_text(e) for e in store.timeline(DEVICE))
    assert len(tracker.view(DEVICE)["reboots"]) == 1


def test_clock_drift_is_measured_on_receipt_when_the_terminal_does_not_say():
    desk, _, clock, _, _ = make_desk()
    topic, payload = heartbeat(clock, ts=int(clock.now.timestamp()) - 300)
    desk.status.handle(topic, payload)
    assert desk.status.view(DEVICE)["drift_s"] == -300


def test_refused_messages_change_nothing():
    desk, store, clock, _, _ = make_desk()
    topic, payload = heartbeat(clock)
    assert desk.status.handle(topic.replace(DEVICE, "CTABCDEFGH2"), payload) is None
    assert desk.status.handle(topic, b"{not json") is None
    assert desk.status.handle(topic, payload.replace(b'"heap":90000', b'"heap":-1')) is None
    assert desk.status.live == {}
    desk.status.flush()
    assert store.seen == [] and store.events == []


def test_a_failed_batch_is_kept_and_written_next_time():
    desk, store, clock, _, _ = make_desk()
    desk.status.handle(*status(clock, "online"))
    store.fail_writes = True
    assert desk.status.flush() == 0
    store.fail_writes = False
    assert desk.status.flush() >= 2  # the seen row and the "en ligne" event
    assert timeline_text(store.events[0]) == "en ligne"


def test_prune_keeps_the_newest_events_per_terminal():
    desk, store, clock, _, _ = make_desk()
    for i in range(30):
        desk.status.record(DEVICE, "command", f"event {i}")
    desk.status.flush()
    store.prune(10, clock.now - timedelta(days=1))
    kept = store.timeline(DEVICE, limit=100)
    assert [timeline_text(e) for e in kept][0] == "event 29" and len(kept) == 10


@settings(max_examples=200, deadline=None)
@given(topic=st.text(max_size=70), payload=st.binary(max_size=900))
def test_hostile_heartbeats_never_raise(topic, payload):
    desk, _, _, _, _ = make_desk()
    desk.status.handle(topic, payload)
    desk.status.handle(topics.topic(DEVICE, "heartbeat"), payload)
