"""Settings from the environment (prefix FLEET_) or a .env-style file named by FLEET_ENV_FILE.

The master secret derives every server-side key (Base Derivation Keys, device command keys).
Outside dev mode a placeholder or short secret is refused at start-up.
"""

import os
from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-master-secret-change-me"
PLACEHOLDERS = {DEV_SECRET, "changeme", "change-me", "secret", "please-change", ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEET_", env_file=os.environ.get(
        "FLEET_ENV_FILE"), extra="ignore")

    mode: str = Field("dev", description="dev or prod")
    db_url: str = "sqlite:///fleet.sqlite3"
    # None: start the embedded broker. A cluster's nodes: "mqtt://a:1883,mqtt://b:1883" (the
    # next is tried when the one in use goes away).
    broker_url: str | None = None
    embedded_mqtt_port: int = 1884
    # The embedded broker listens on loopback and only registered terminals log in, each under
    # its own id (fleet_server/bootstrap_broker.py); open=True lets anyone in (warned about).
    embedded_mqtt_host: str = "127.0.0.1"
    embedded_mqtt_open: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    master_secret: str = DEV_SECRET
    bdk_id: str = "0000A001"  # the BDK new devices get their Initial Key from (8 hex digits)
    ledger_url: str | None = None  # None: the built-in reference ledger on db_url
    ledger_token: str | None = None
    ledger_timeout_s: float = 2.0
    ts_past_window_s: int = 300
    ts_future_window_s: int = 120
    # Threads handling the device requests. None: 2 with the built-in ledger, whose workers
    # handle what queued up for them as one group (fewer, larger groups: less work per debit,
    # docs/benchmarks.md), 8 with a remote ledger (each request waits on its HTTP call).
    request_workers: int | None = Field(None, ge=1, le=64)
    settlement_enabled: bool = True
    mqtt_client_id: str = "fleet-server"
    mqtt_shared: bool = False  # $share/fleet/... subscriptions for several instances
    # More connections that carry the server's replies, each to the least busy one (a cluster
    # node catching up after a peer died holds one connection's publishes for seconds).
    # None: one per node when the broker URL lists a cluster's nodes, none for one broker.
    mqtt_publishers: int | None = Field(None, ge=0, le=16)
    # A NATS cluster's client URLs ("nats://a:4222,nats://b:4222"), the cluster whose MQTT the
    # broker URL names: what terminals send then comes through a JetStream work queue that
    # every server process pulls from (NATS has no $share for MQTT 3.1.1; docs/deployment.md).
    nats_url: str | None = None
    nats_replicas: int = Field(3, ge=1, le=5)
    # The lease of the once-only jobs (settlement, campaigns, alerts, status writes): the
    # holder renews it every third of this; another process takes over this long after the
    # holder died.
    lease_ttl_s: float = 15.0
    # The server's broker account (`fleet broker-config` writes it) and, for mqtts:// URLs, the
    # CA that signed the broker's certificate and an optional client certificate.
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_tls_ca: str | None = None
    mqtt_tls_cert: str | None = None
    mqtt_tls_key: str | None = None
    # Outside dev mode the broker is reached over TLS (mqtts://): debit requests carry full
    # card numbers. True accepts plain MQTT anyway (a private network you answer for).
    allow_plain_mqtt: bool = False
    # Device life cycle (docs/device-lifecycle.md): how long the key before a re-key stays
    # accepted, and where the broker's access rules live (written by `fleet broker-config`;
    # None: no broker-side revocation) with the fleet PKI (its CRL).
    rekey_grace_s: int = Field(72 * 3600, ge=0, le=90 * 86400)
    broker_security_dir: str | None = None
    pki_dir: str | None = None
    # Web console: e-mail for activation and reset links, and the address the links point to.
    smtp_host: str | None = None  # None: no e-mail can be sent (the console says so)
    smtp_port: int = 25
    smtp_from: str = "no-reply@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    public_url: str = "http://127.0.0.1:8000"
    web_cookie_secure: bool | None = None  # None: Secure cookies in prod mode only
    # The programme's support line, shown to partners (their assistance page, their
    # terminals): phone, e-mail and opening hours as the partners should read them.
    support_phone: str | None = None
    support_email: str | None = None
    support_hours: str | None = None
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or
    # networks). None: no proxy header is believed, not even from loopback, so the login
    # throttle counts the address that really connected.
    trusted_proxies: str | None = None

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value not in ("dev", "prod"):
            raise ValueError("mode must be dev or prod")
        return value

    @field_validator("bdk_id")
    @classmethod
    def _bdk_id(cls, value: str) -> str:
        if len(value) != 8 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise ValueError("bdk_id is 8 hex digits (the BDK ID half of an Initial Key ID)")
        return value.upper()

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self):
        if self.mode != "dev" and (self.master_secret.strip().lower() in PLACEHOLDERS
                                   or len(self.master_secret) < 32):
            raise ValueError("FLEET_MASTER_SECRET is a placeholder or shorter than 32 "
                             "characters; set a real secret outside dev mode")
        return self

    def plain_broker_refusal(self) -> str | None:
        """Why the server must not start on this broker URL, or None (docs/security.md)."""
        if self.mode == "dev" or self.allow_plain_mqtt:
            return None
        if not self.broker_url:
            return ("outside dev mode the embedded broker (plain MQTT, no TLS) is not "
                    "started: give --broker mqtts://host:port (FLEET_BROKER_URL), or set "
                    "FLEET_ALLOW_PLAIN_MQTT=true to accept plain MQTT on a network you trust")
        plain = [u for u in self.broker_url.split(",") if not u.strip().startswith("mqtts://")]
        if plain:
            return (f"outside dev mode the broker must be reached over TLS (mqtts://), not "
                    f"{plain[0].strip().split('://')[0]}://: card numbers travel inside debit "
                    "requests. Set FLEET_ALLOW_PLAIN_MQTT=true to accept plain MQTT on a "
                    "network you trust")
        return None

    def request_worker_count(self) -> int:
        if self.request_workers is not None:
            return self.request_workers
        return 8 if self.ledger_url else 2

    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in (self.trusted_proxies or "").split(",") if p.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
