"""On a broker without per-device access control (the project's dev Mosquitto), heartbeats
and statuses under made-up device ids do not grow the server's live view; a registered
terminal's are taken, even when its first status came before its registration."""

import os
import time
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from fleet_stack import Stack

from fleet_server.service_layer import registry
from protocol import messages, tokens, topics

pytestmark = pytest.mark.broker


def _status(device_id: str) -> bytes:
    return messages.encode(messages.build("status", {"dev": device_id, "st": "online",
                                                     "ts": int(time.time())}))


def _server_and_publisher(mosquitto, tmp_path):
    """A server on the test broker, and a plain client that publishes what devices would."""
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    return stack, client


def test_made_up_ids_do_not_grow_the_live_view(mosquitto, tmp_path):
    stack, client = _server_and_publisher(mosquitto, tmp_path)
    try:
        live = stack.fleet.dispatcher.status.live
        late = tokens.make_device_id(tokens.random_payload32(8, os.urandom))
        made_up = [tokens.make_device_id(f"{i:08d}".replace("1", "Z")) for i in range(300)]
        for device_id in [*made_up, late]:
            client.publish(topics.topic(device_id, "status"), _status(device_id), qos=1)
        time.sleep(2)
        assert not set(made_up) & set(live) and late not in live
        registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                 datetime.now(UTC), device_id=late)
        client.publish(topics.topic(late, "status"), _status(late), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while late not in live and time.monotonic() < deadline:
            time.sleep(0.05)
        assert late in live and not set(made_up) & set(live)
    finally:
        client.loop_stop()
        client.disconnect()
        stack.stop()


def test_a_terminal_online_just_after_an_unknown_id_is_let_in_with_its_one_status(mosquitto,
                                                                                  tmp_path):
    # The unknown id (a made-up one, or a retired terminal's last will) makes the gate read
    # the registry; the new terminal's single "online" status follows within the second and
    # must not wait for a heartbeat ten seconds later.
    stack, client = _server_and_publisher(mosquitto, tmp_path)
    try:
        live = stack.fleet.dispatcher.status.live
        stranger = tokens.make_device_id(tokens.random_payload32(8, os.urandom))
        client.publish(topics.topic(stranger, "status"), _status(stranger),
                       qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while stack.fleet.dispatcher.registered.reads == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        newcomer = registry.register_device(stack.fleet.uow(), stack.fleet.keys, "esp32-gm65",
                                            datetime.now(UTC)).device_id
        client.publish(topics.topic(newcomer, "status"), _status(newcomer),
                       qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 3
        while newcomer not in live and time.monotonic() < deadline:
            time.sleep(0.02)
        assert newcomer in live and stranger not in live
    finally:
        client.loop_stop()
        client.disconnect()
        stack.stop()
