"""The harness itself: the project's Mosquitto and PostgreSQL answer as the other tests expect."""

import queue

import paho.mqtt.client as mqtt
import sqlalchemy as sa


def test_project_mosquitto_carries_a_qos1_message_round_trip(mosquitto):
    received: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="harness",
                         protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, msg: received.put((msg.topic, msg.payload, msg.qos))
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("t/+/hb", qos=1)[1]
        client.publish("t/CT0000000000/hb", b"ping", qos=1).wait_for_publish(5)
        assert received.get(timeout=5) == ("t/CT0000000000/hb", b"ping", 1)
    finally:
        client.loop_stop()
        client.disconnect()


def test_project_mosquitto_runs_with_tcp_nodelay(mosquitto):
    conf = (mosquitto.workdir / "mosquitto.conf").read_text()
    assert "set_tcp_nodelay true" in conf


def test_postgres_session_database_is_fresh(postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
        tables = conn.execute(sa.text(
            "select count(*) from information_schema.tables where table_schema='public'")).scalar()
        assert tables == 0
    engine.dispose()
