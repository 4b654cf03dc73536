"""A fleet server that runs elsewhere (`terminal-sim fleet --server URL --broker URL`): the same
control as LocalFleet, through the server's REST API with an operator token. It cannot be
restarted from here, nor its broker: those faults are skipped and the report says so."""

import os
import secrets

import httpx

from fleet_server.adapters.mqtt_bus import parse_broker_url

PREFIX = "/api/v1"


class RemoteError(RuntimeError):
    pass


class SecretsView:
    def __init__(self, body: dict):
        self.device_id = body["device_id"]
        self.initial_key_id = body["initial_key_id"]
        self.initial_key_hex = body["initial_key_hex"]
        self.command_key_hex = body["command_key_hex"]


class RemoteFleet:
    can_restart_broker = can_restart_server = False

    def __init__(self, server_url: str, broker_url: str, token: str | None = None,
                 timeout_s: float = 30.0, http: httpx.Client | None = None):
        token = token or os.environ.get("FLEET_API_TOKEN")
        if not token:
            raise RemoteError("--server needs an operator API token: --token or "
                              "FLEET_API_TOKEN (fleet token issue --role operator --name sim)")
        self.broker_url = broker_url
        self.http = http or httpx.Client(timeout=timeout_s)  # tests pass an ASGI test client
        self.http.base_url = server_url.rstrip("/") + PREFIX
        self.http.headers["Authorization"] = f"Bearer {token}"
        self._partner_tokens: dict[str, tuple[str, str]] = {}  # partner -> (name, token)

    def start(self) -> "RemoteFleet":
        self._call("GET", "/devices", params={"limit": 1})  # the token works
        return self

    def stop(self) -> None:
        for name, _ in self._partner_tokens.values():
            self._call("DELETE", f"/tokens/{name}", ok=(204, 404))
        self.http.close()

    @property
    def broker_address(self) -> tuple[str, int]:
        return parse_broker_url(self.broker_url)

    def _call(self, method: str, path: str, ok=(200, 201), headers=None, **kw):
        response = self.http.request(method, path, headers=headers, **kw)
        if response.status_code not in ok:
            raise RemoteError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    # ---- control: seeding ---------------------------------------------------------------------
    def create_program(self, name: str, year: int, max_amount_cents: int) -> str:
        return self._call("POST", "/programs", json={
            "name": name, "market_year": year, "max_amount_cents": max_amount_cents,
        })["program_id"]

    def add_partner(self, name: str, program_id: str, year: int, categories,
                    can_take_payments: bool = True) -> str:
        partner_id = self._call("POST", "/partners", json={
            "name": name, "can_take_payments": can_take_payments})["partner_id"]
        for category in categories:
            agreement = self._call("POST", f"/partners/{partner_id}/agreements", json={
                "program_id": program_id, "category": category, "market_year": year})
            for status in ("accepted", "signed"):
                self._call("POST", f"/agreements/{agreement['id']}/status",
                           json={"status": status})
        return partner_id

    def add_card(self, program_id: str, card: str, pots: dict) -> None:
        self._call("POST", "/beneficiaries", json={
            "program_id": program_id, "card_code": card,
            "pots": [{"category": c, "balance_cents": b, "per_purchase_cap_cents": cap}
                     for c, (b, cap) in pots.items()]})

    def add_voucher(self, program_id: str, number: str, category: str, value_cents: int,
                    year: int) -> None:
        self._call("POST", "/vouchers", json={
            "program_id": program_id, "number": number, "category": category,
            "value_cents": value_cents, "market_year": year})

    def add_coupon_series(self, program_id: str, category: str, year: int, coupons,
                          card: str) -> None:
        self._call("POST", "/coupon-series", json={
            "program_id": program_id, "category": category, "market_year": year,
            "card_code": card,
            "coupons": [{"number": n, "value_cents": v} for n, v in coupons]})

    def spend_voucher(self, partner_id: str, number: str, value_cents: int, key: str) -> bool:
        """Use a voucher at the partner's till (a partner token, made for the run)."""
        if partner_id not in self._partner_tokens:
            name = f"sim-{partner_id}-{secrets.token_hex(3)}"[:40]
            issued = self._call("POST", "/tokens", json={
                "name": name, "role": "partner_admin", "partner_id": partner_id})
            self._partner_tokens[partner_id] = (name, issued["token"])
        token = self._partner_tokens[partner_id][1]
        body = self._call("POST", "/transactions", json={
            "code": number, "amount_cents": value_cents},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key[:64]})
        return body["status"] == "approved"

    def register_device(self, partner_id: str, model: str):
        body = self._call("POST", "/devices", json={"model": model})
        device_id = body["device_id"]
        self._call("POST", f"/devices/{device_id}/assign", json={"partner_id": partner_id})
        self._call("POST", f"/devices/{device_id}/activate")
        return SecretsView(body)

    # ---- control: reading the ledger back ------------------------------------------------------
    def operations(self, partner_ids) -> list[dict]:
        out = []
        for partner_id in partner_ids:
            offset = 0
            while offset is not None:
                page = self._call("GET", "/transactions", params={
                    "partner_id": partner_id, "limit": 500, "offset": offset})
                out += page["items"]
                offset = page["next_offset"]
        return out

    def wallet(self, card: str) -> dict:
        body = self._call("GET", f"/beneficiaries/{card}/wallet")
        return {pot["category"]: pot["balance_cents"] for pot in body["pots"]}

    def restart_server(self, down_s: float = 1.0) -> None:
        raise RemoteError("the server runs elsewhere: not ours to restart")

    restart_broker = restart_server
