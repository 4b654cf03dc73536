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
    broker_url: str | None = None  # None: start the embedded broker
    embedded_mqtt_port: int = 1884
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    master_secret: str = DEV_SECRET
    bdk_id: str = "0000A001"  # the BDK new devices get their Initial Key from (8 hex digits)
    ledger_url: str | None = None  # None: the built-in reference ledger on db_url
    ledger_token: str | None = None
    ledger_timeout_s: float = 2.0
    ts_past_window_s: int = 300
    ts_future_window_s: int = 120
    request_workers: int = 8
    settlement_enabled: bool = True
    mqtt_client_id: str = "fleet-server"
    mqtt_shared: bool = False  # $share/fleet/... subscriptions for several instances

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
