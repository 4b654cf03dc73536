"""Statuses retained on the test Mosquitto by earlier tests, emptied before each test that uses
it (imported as a plain module: tests/ is on sys.path).

A fleet server reads every retained status when it subscribes. On the session's broker those
are the statuses of every terminal of the tests before, hundreds of ids the new server's
registry does not hold: its live view gate reads the registry at the first and looks up a
bounded number of the others each second, so a terminal of the test coming online in that
second could be refused and wait for its next heartbeat (10 s). A real broker holds the
statuses of the programme's own terminals, which the first read lets in."""

import threading
import uuid

import paho.mqtt.client as mqtt

from protocol import topics


def clear_retained_statuses(host: str, port: int, timeout: float = 5.0) -> int:
    """Empties every retained t/<id>/status; returns how many there were."""
    sentinel = f"ct-test/sentinel/{uuid.uuid4().hex}"
    found: list[str] = []
    subscribed, done = threading.Event(), threading.Event()

    def on_message(_c, _u, msg):
        if msg.topic == sentinel:
            done.set()  # the broker sends what it retains before a later message to us
        elif msg.retain and msg.payload:
            found.append(msg.topic)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                         client_id="ct-test-cleaner-" + uuid.uuid4().hex[:8])
    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        client.subscribe([(f"{topics.ROOT}/+/status", 1), (sentinel, 1)])
        if not subscribed.wait(timeout):
            raise TimeoutError("the test broker did not answer a subscription")
        client.publish(sentinel, b"x", qos=1)
        if not done.wait(timeout):
            raise TimeoutError("the test broker did not echo a message")
        for topic in found:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return len(found)
