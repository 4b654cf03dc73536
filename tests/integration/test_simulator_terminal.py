"""One simulated terminal (the firmware's own modules in this process) on the project's
Mosquitto and a fleet server: sales, a power cut between request and answer, QR images, the
interactive session and its web page, and the demo's terminals."""

import json
import time
import urllib.request
from pathlib import Path

import pytest
import qrcode

from fleet_server.demo import seed_demo
from simulator.demo import INTERACTIVE, DemoTerminals, provision_demo_flash
from simulator.fleet import run_fleet
from simulator.identities import make_identity
from simulator.interactive import Session
from simulator.scenario import from_dict
from simulator.stack import LocalFleet
from simulator.terminal import SimTerminal
from simulator.web import serve
from simulator.world import World

pytestmark = pytest.mark.broker


@pytest.fixture
def stack(mosquitto, tmp_path):
    stack = LocalFleet(broker_url=mosquitto.url, workdir=tmp_path).start()
    yield stack
    stack.stop()


def step_until(terminal, title: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        terminal.step()
        if terminal.screen and terminal.screen[0] == title:
            return terminal.screen
        if terminal.screen and (not seen or seen[-1] != terminal.screen):
            seen.append(terminal.screen)
        time.sleep(0.005)
    raise AssertionError(f"no {title!r} screen; seen: {seen[-6:]}")


def one_terminal(stack, tmp_path, kinds=("valid",)):
    scenario = from_dict({"fleet": {"terminals": 1, "sales": len(kinds)},
                          "mix": {k: 1 for k in kinds}})
    world = World(stack, scenario, 2026).create(1)
    host, port = stack.broker_address
    make_identity(stack, world.terminals[0].partner_id, tmp_path / "flash", host, port)
    return SimTerminal(tmp_path / "flash"), world


def test_a_fleet_of_one_sells_and_reconciles(stack, tmp_path):
    scenario = from_dict({"fleet": {"terminals": 2, "sales": 4, "think_s": [0, 0.1]},
                          "mix": {"valid": 3, "unknown_code": 1, "void_after": 0.5}})
    report = run_fleet(scenario, stack, tmp_path)
    assert report["attempted"] == 8 and report["ok"], report["problems"]
    assert report["approved"] + sum(report["declined"].values()) == 8
    assert report["lost"] == report["duplicated"] == report["wallet_mismatches"] == 0


def test_a_power_cut_after_sending_is_resolved_by_the_journal(stack, tmp_path):
    terminal, world = one_terminal(stack, tmp_path)
    card = world.terminals[0].plan[0].token
    bus = stack.fleet.bus.client
    bus.unsubscribe("t/+/debit/req")  # the server stops hearing sales for a while
    terminal.boot()
    step_until(terminal, "PRET")
    terminal.scan(card)
    step_until(terminal, "CATEGORIE ?")
    terminal.press("1500AA")  # books, 5,00 EUR, validate, confirm
    step_until(terminal, "ENVOI")
    assert json.loads((tmp_path / "flash" / "journal.json").read_text())["seq"] >= 1
    terminal.power_cut()  # between the request and its answer
    bus.subscribe("t/+/debit/req", qos=1)
    terminal.boot()
    screen = step_until(terminal, "VENTE ACCEPTEE", timeout=30)
    assert "5,00 EUR" in " ".join(screen)
    books = world.terminals[0].cards[card]["books"]
    assert stack.wallet(card)["books"] == books - 500  # debited exactly once
    assert json.loads((tmp_path / "flash" / "journal.json").read_text()) == {}
    terminal.shutdown()


def test_the_interactive_session_scans_a_qr_image_and_takes_keys(stack, tmp_path):
    terminal, world = one_terminal(stack, tmp_path)
    card = world.terminals[0].plan[0].token
    qrcode.make(card).save(tmp_path / "card.png")
    session = Session(terminal, [{"code": card, "kind": "card", "description": "test"}])
    url = serve(session, 0)
    terminal.boot()
    step_until(terminal, "PRET")
    session.handle(f"qr {tmp_path / 'card.png'}")
    step_until(terminal, "CATEGORIE ?")
    session.handle("b")  # keys are case-insensitive
    step_until(terminal, "PRET")
    session.handle("pick 1")
    step_until(terminal, "CATEGORIE ?")
    session.handle("not a command")
    assert "scan CODE" in session.messages[-1]
    session.handle(f"qr {tmp_path / 'nowhere.png'}")
    assert "not a readable image" in session.messages[-1]
    with urllib.request.urlopen(url + "screen", timeout=5) as reply:
        assert json.loads(reply.read())["lines"][0] == "CATEGORIE ?"
    request = urllib.request.Request(url + "cmd", data=b"1", method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    session.handle(session.commands.get(timeout=5))
    step_until(terminal, "MONTANT")
    terminal.shutdown()


def test_the_demo_terminals_sell_their_own_codes_and_leave_the_listed_ones_unused(stack,
                                                                                 tmp_path):
    demo_dir = tmp_path / "demo-codes"
    seed_demo(stack.fleet, demo_dir)
    host, port = stack.broker_address
    flash = provision_demo_flash(stack.fleet, demo_dir, host, port)
    assert (Path(flash[INTERACTIVE]) / "device.json").exists()
    terminals = json.loads((demo_dir / "terminals.json").read_text())
    codes = json.loads((demo_dir / "terminal-codes.json").read_text())
    listed = json.loads((demo_dir / "codes.json").read_text())
    assert not {c["code"] for c in codes} & {c["code"] for c in listed}
    done = []
    demo = DemoTerminals([flash[t["device_id"]] for t in terminals], codes,
                         {t["device_id"]: ("books", "culture", "driving") for t in terminals},
                         on_sale=done.append, think_s=(0.05, 0.2)).start()
    try:
        deadline = time.monotonic() + 60
        while sum(s.outcome == "approved" for s in done) < 6:
            assert time.monotonic() < deadline, [(s.outcome, s.code) for s in done]
            time.sleep(0.1)
    finally:
        demo.stop()
    # The listed codes are still as seeded: cards untouched, vouchers and coupons unused.
    ledger = stack.fleet.ledger
    for code in listed:
        if code["kind"] == "card":
            assert [p.balance_cents for p in ledger.balances(code["code"])] == [
                6000, 10000, 5000]
        else:
            assert not ledger.voucher_used(code["code"])
    # A second start keeps each terminal's flash (its DUKPT counter moves on).
    again = provision_demo_flash(stack.fleet, demo_dir, host, port)
    assert again == flash


def test_a_fleet_against_a_server_reached_through_its_rest_api(stack, tmp_path):
    """--server: identities, seeding and the ledger read back all go through the REST API."""
    from fastapi.testclient import TestClient

    from fleet_server.adapters.api_tokens import issue_token
    from fleet_server.entrypoints.app import create_app
    from simulator.remote import RemoteFleet

    token = issue_token(stack.fleet.session_factory, "operator", None, "sim-test")
    with TestClient(create_app(stack.fleet)) as client:
        remote = RemoteFleet("http://testserver", stack.broker_url, token, http=client).start()
        scenario = from_dict({
            "fleet": {"terminals": 2, "sales": 4, "think_s": [0, 0.1]},
            "mix": {"valid": 3, "voucher_reuse": 1, "coupon_out_of_order": 1},
            "faults": [{"kind": "server_restart", "at": 0.5}]})
        report = run_fleet(scenario, remote, tmp_path)
        remote.stop()
    assert report["attempted"] == 8 and report["ok"], report["problems"]
    assert report["ledger_operations"] == report["approved"] > 0
    assert report["faults"][0]["detail"].startswith("skipped")


def test_the_desk_sees_a_plausible_heap_and_a_clean_stop_at_once(stack, tmp_path):
    terminal, _world = one_terminal(stack, tmp_path)
    status = stack.fleet.dispatcher.status
    terminal.boot()
    step_until(terminal, "PRET")
    dev = terminal.device_id
    deadline = time.monotonic() + 10
    while status.view(dev).get("heap") is None and time.monotonic() < deadline:
        terminal.step()  # the first heartbeat goes out once online
        time.sleep(0.01)
    # Not 0 ("not measured"): what a board has left at idle, about 50 KB.
    assert 40 * 1024 < status.view(dev)["heap"] < 60 * 1024
    assert status.connection(dev) == "online"
    terminal.shutdown()  # a clean DISCONNECT: the broker drops the will
    deadline = time.monotonic() + 3
    while status.connection(dev) != "offline":  # at once, not after silent heartbeats
        assert time.monotonic() < deadline, status.view(dev)
        time.sleep(0.02)
