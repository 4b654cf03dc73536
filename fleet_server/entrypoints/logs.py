"""Logging for the fleet commands: readable lines by default; with FLEET_LOG_FORMAT=json one
JSON object per line for a log collector, carrying the device id and the request key where a
log call gives them (`extra={"device_id": ..., "request_key": ...}`), so that one terminal's or
one sale's story can be pulled out of several server processes' logs."""

import json
import logging
import os
from datetime import UTC, datetime

FIELDS = ("device_id", "request_key", "campaign_id", "command_id")
NOISY = ("amqtt", "transitions", "alembic.runtime.plugins")  # their INFO is chatter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds").replace("+00:00", "Z"),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage(), "process": record.process}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(verbose: bool = False, json_format: bool | None = None) -> None:
    if json_format is None:
        json_format = os.environ.get("FLEET_LOG_FORMAT", "").lower() == "json"
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Without force: a host that set logging up already (a test runner) keeps its handlers.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
