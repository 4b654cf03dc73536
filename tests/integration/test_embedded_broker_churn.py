"""The embedded broker delivers every message while other clients subscribe and unsubscribe:
amqtt walks its subscription table with awaits in the loop, and a SUBSCRIBE at that moment
used to kill the walk and lose the message for the remaining subscribers."""

import asyncio
import threading
import time

import paho.mqtt.client as mqtt

from fleet_server.adapters.embedded_broker import EmbeddedBroker
from fleet_server.adapters.mosquitto import free_port


def _client(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client


def test_every_message_arrives_while_other_clients_subscribe(tmp_path):
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    filtering = broker._broker._topic_filtering

    async def slow_filtering(*args, **kwargs):
        # As an access-control plugin that awaits (a CRL or registry lookup): the broadcast
        # loop yields here, and other clients' SUBSCRIBEs run in between.
        await asyncio.sleep(0.002)
        return await filtering(*args, **kwargs)

    broker._broker._topic_filtering = slow_filtering
    got, stop = [], threading.Event()
    try:
        listener = _client(broker.port, "listener")
        ready = threading.Event()
        listener.on_subscribe = lambda *a: ready.set()
        listener.on_message = lambda c, u, m: got.append(m.payload)
        # Several filters that match, so that a broadcast walks a long table.
        listener.subscribe([("t/+/status", 1), ("t/#", 1)])
        assert ready.wait(10)

        def churn(n: int) -> None:
            client = _client(broker.port, f"churn-{n}")
            i = 0
            while not stop.is_set():
                client.subscribe(f"x/{n}/{i}", 1)
                i += 1
                time.sleep(0.001)
            client.loop_stop()
            client.disconnect()

        churners = [threading.Thread(target=churn, args=(n,)) for n in range(6)]
        for thread in churners:
            thread.start()
        sender = _client(broker.port, "sender")
        for i in range(200):
            sender.publish("t/CT1/status", str(i).encode(), qos=1).wait_for_publish(10)
        deadline = time.monotonic() + 10
        while len(got) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in churners:
            thread.join(10)
        # Two matching filters: amqtt sends each message once per filter.
        assert len(got) == 400, f"{400 - len(got)} deliveries lost"
    finally:
        stop.set()
        broker.stop()
