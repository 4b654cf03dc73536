"""/metrics in Prometheus' format and the split health checks, on a server selling through the
project's Mosquitto."""

import pytest
from fastapi.testclient import TestClient
from fleet_stack import Stack

from fleet_server.entrypoints.app import create_app

pytestmark = [pytest.mark.broker]


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition")


def test_metrics_count_requests_by_result_and_time_the_ledger(mosquitto, tmp_path):
    stack = Stack(mosquitto.url, f"sqlite:///{tmp_path}/fleet.sqlite3").start()
    try:
        stack.setup_program()
        shop = stack.partner("Librairie")
        card = stack.beneficiary({"books": (1000, None)})
        terminal = stack.terminal(shop)
        assert terminal.sale(card, 700, "books")[1]["st"] == "approved"
        assert terminal.sale(card, 700, "books")[1]["st"] == "declined"  # 3,00 left
        http = TestClient(create_app(stack.fleet))
        reply = http.get("/metrics")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
        text = reply.text
        assert sample(text, 'fleet_requests_total{result="approved",type="debit"}') == 1
        assert sample(text, 'fleet_requests_total{result="declined",type="debit"}') == 1
        assert sample(text, 'fleet_ledger_seconds_count{operation="debit"}') == 2
        assert sample(text, 'fleet_request_seconds_count{type="debit"}') == 2
        assert sample(text, "fleet_runs_jobs") == 1
        assert sample(text, "fleet_request_queue_depth") >= 0
        assert "fleet_terminals_connected" in text
        main = f'{{connection="{stack.fleet.bus.link.client_id}"}}'
        assert sample(text, "fleet_mqtt_connected" + main) == 1
        assert sample(text, "fleet_mqtt_unacked" + main) >= 0
        assert 0 <= sample(text, "fleet_mqtt_oldest_unacked_seconds" + main) < 5
        terminal.close()

        assert http.get("/health/live").json() == {"status": "alive"}
        assert http.get("/health/ready").status_code == 200
        stack.fleet.bus.stop()  # the broker connection is gone: not ready, still alive
        ready = http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["broker"] is False
        assert http.get("/health/live").status_code == 200
    finally:
        stack.stop()


def test_json_logs_carry_the_device_and_the_request_key():
    import json
    import logging

    from fleet_server.entrypoints.logs import JsonFormatter

    record = logging.LogRecord("fleet.requests", logging.INFO, __file__, 1,
                               "%s %s:%d %s", ("debit", "CT0001", 7, "approved"), None)
    record.device_id, record.request_key = "CT0001", "CT0001:ABCD:7"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "debit CT0001:7 approved" and entry["level"] == "info"
    assert entry["device_id"] == "CT0001" and entry["request_key"] == "CT0001:ABCD:7"
    assert entry["ts"].endswith("Z")
