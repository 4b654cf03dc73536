"""The fleet the simulated terminals talk to, and what the simulator needs from it.

LocalFleet runs the fleet server in this process (bootstrap + MQTT bus, the reference ledger on
the given database, SQLite by default) on a broker it starts itself (the embedded amqtt broker,
or the project's Mosquitto) or on a given one. It is the "control": it registers devices, seeds
programs, partners, cards and vouchers, reads the ledger back for reconciliation, and can
restart the server and, when it owns it, the broker (fault injection).
"""

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fleet_server.bootstrap import bootstrap, connect_broker
from fleet_server.domain.partners import Partner
from fleet_server.reference_ledger import rules
from fleet_server.reference_ledger.reference import PotView
from fleet_server.service_layer import registry
from fleet_server.settings import Settings

SIM_SECRET = "simulator-master-secret-0123456789abcdef"


class LocalFleet:
    def __init__(self, db_url: str | None = None, broker_url: str | None = None,
                 broker_kind: str = "embedded", workdir: Path | None = None,
                 master_secret: str = SIM_SECRET, workers: int = 4):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="terminal-sim-"))
        self.db_url = db_url or f"sqlite:///{self.workdir}/fleet.sqlite3"
        self.broker_url, self.broker_kind = broker_url, broker_kind
        self.master_secret, self.workers = master_secret, workers
        self.broker = None  # the broker we started, if any
        self.fleet = None
        self.server_up = threading.Event()

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "LocalFleet":
        if self.broker_url is None:
            self._start_broker()
        self._start_server()
        return self

    def _start_broker(self) -> None:
        from fleet_server.adapters.mosquitto import MosquittoProcess, find_mosquitto, free_port

        if self.broker_kind == "mosquitto":
            binary = find_mosquitto()
            if not binary:
                raise RuntimeError("mosquitto not found (apt-get install mosquitto)")
            self.broker = MosquittoProcess(binary, self.workdir / "mosquitto")
        else:
            from fleet_server.adapters.embedded_broker import EmbeddedBroker

            self.broker = EmbeddedBroker(port=free_port())
        self.broker.start()
        self.broker_url = self.broker.url

    def _settings(self) -> Settings:
        return Settings(db_url=self.db_url, broker_url=self.broker_url,
                        master_secret=self.master_secret, request_workers=self.workers,
                        settlement_enabled=False, mqtt_client_id="fleet-sim-server")

    def open_control(self) -> "LocalFleet":
        """Only the control (database, ledger, registry) for a server that runs in another
        process on the same database and broker (bench/fleet.py): no MQTT here."""
        self.fleet = bootstrap(self._settings())
        return self

    def _start_server(self) -> None:
        self.fleet = bootstrap(self._settings())
        connect_broker(self.fleet)
        if not self.fleet.bus.connected.wait(15):
            raise RuntimeError(f"the fleet server could not reach the broker {self.broker_url}")
        self.server_up.set()

    @property
    def broker_address(self) -> tuple[str, int]:
        from fleet_server.adapters.mqtt_bus import parse_broker_url

        return parse_broker_url(self.broker_url)

    def restart_server(self, down_s: float = 1.0) -> None:
        """Stop the server process's parts, wait, start them again on the same database."""
        self.server_up.clear()
        self.fleet.close()
        time.sleep(down_s)
        self._start_server()

    def restart_broker(self, down_s: float = 1.0) -> None:
        if self.broker is None:
            raise RuntimeError("the broker is not ours to restart (--broker was given)")
        self.broker.stop()
        time.sleep(down_s)
        if self.broker_kind != "mosquitto":  # amqtt's broker object does not start twice
            from fleet_server.adapters.embedded_broker import EmbeddedBroker

            self.broker = EmbeddedBroker(port=self.broker.port)
        self.broker.start()

    @property
    def can_restart_broker(self) -> bool:
        return self.broker is not None

    can_restart_server = True

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.close()
            self.fleet = None
        if self.broker is not None:
            self.broker.stop()

    # ---- control: seeding ---------------------------------------------------------------------
    @property
    def ledger(self):
        return self.fleet.ledger

    def create_program(self, name: str, year: int, max_amount_cents: int) -> str:
        return self.ledger.create_program(name, year, max_amount_cents=max_amount_cents)

    def add_partner(self, name: str, program_id: str, year: int, categories,
                    can_take_payments: bool = True) -> str:
        partner_id = self.ledger.create_partner(name, can_take_payments=can_take_payments)
        registry.add_partner(self.fleet.uow(), Partner(partner_id, name,
                                                       can_take_payments=can_take_payments))
        for category in categories:
            agreement = self.ledger.create_agreement(partner_id, program_id, category, year)
            for status in (rules.ACCEPTED, rules.SIGNED):
                self.ledger.set_agreement_status(agreement, status)
        return partner_id

    def add_card(self, program_id: str, card: str, pots: dict) -> None:
        """pots: {category: (balance_cents, per_purchase_cap_cents or None)}"""
        self.ledger.create_beneficiary(program_id, card, [
            PotView(category, balance, cap) for category, (balance, cap) in pots.items()])

    def add_voucher(self, program_id: str, number: str, category: str, value_cents: int,
                    year: int) -> None:
        self.ledger.create_voucher(program_id, number, category, value_cents, year)

    def add_coupon_series(self, program_id: str, category: str, year: int, coupons,
                          card: str) -> None:
        self.ledger.create_coupon_series(program_id, category, year, coupons, card_code=card)

    def spend_voucher(self, partner_id: str, number: str, value_cents: int, key: str) -> bool:
        """Use a voucher outside any terminal (a "voucher already used" case to scan)."""
        from fleet_server.ledger.port import DebitRequest

        return self.ledger.debit(DebitRequest(key, partner_id, number, value_cents, None,
                                              datetime.now(UTC))).approved

    def register_device(self, partner_id: str, model: str):
        secrets = registry.register_device(self.fleet.uow(), self.fleet.keys, model,
                                           datetime.now(UTC))
        registry.assign_device(self.fleet.uow(), secrets.device_id, partner_id)
        registry.change_state(self.fleet.uow(), secrets.device_id, "activate")
        return secrets

    # ---- control: reading the ledger back ------------------------------------------------------
    def operations(self, partner_ids) -> list[dict]:
        """Every ledger operation of these partners (approved or voided), as plain dicts."""
        out = []
        for partner_id in partner_ids:
            offset = 0
            while True:
                page = self.ledger.list_operations(partner_id=partner_id, limit=500,
                                                   offset=offset)
                out += [{"id": op.id, "device_id": op.device_id, "token": op.token,
                         "amount_cents": op.amount_cents, "category": op.category,
                         "status": op.status, "auth_code": op.auth_code} for op in page]
                if len(page) < 500:
                    break
                offset += 500
        return out

    def wallet(self, card: str) -> dict:
        return {pot.category: pot.balance_cents for pot in self.ledger.balances(card)}

    def devices_online(self, device_ids) -> int:
        """How many of these terminals the server counts as online right now."""
        status = self.fleet.dispatcher.status
        return sum(1 for device_id in device_ids if status.online(device_id))
