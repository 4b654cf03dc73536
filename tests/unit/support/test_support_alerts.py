"""Health alerts and interventions: raised and cleared from the live view, opening hours in
Paris time, automatic interventions, the phone-ready summary, the fleet list's filters."""

from datetime import UTC, datetime

import pytest
from support_fakes import DEVICE, OTHER, make_desk
from test_support_status import heartbeat, status

from fleet_server.domain.support import SupportError
from fleet_server.domain.support_alerts import AlertRules, version_key
from fleet_server.entrypoints.support_texts import alert_words, phone_summary


def kinds(desk, device=DEVICE):
    return sorted(a.kind for a in desk.store.alerts(active=True, device_id=device))


def worded(desk, kind):
    """The desk's alerts of a kind as the console, the CLI and the API word them."""
    return [alert_words(a) for a in desk.alert_list(kind=kind)]


def test_each_condition_raises_its_alert_and_clears_when_it_ends():
    desk, store, clock, _, _ = make_desk()
    desk.status.handle(*heartbeat(clock, OTHER, fw="0.2.0"))  # the newest firmware seen
    desk.status.handle(*heartbeat(clock, scn="fault", rssi=-91,
                                  ts=int(clock.now.timestamp()) + 600))
    desk.check_alerts()
    assert kinds(desk) == ["clock_drift", "outdated_firmware", "scanner_fault", "weak_signal"]
    clock.advance(60)
    desk.status.handle(*heartbeat(clock, fw="0.2.0", boots=5, up=3))
    desk.check_alerts()
    assert kinds(desk) == []
    assert len(store.alerts(active=False, device_id=DEVICE)) == 4


def test_offline_during_opening_hours_only():
    desk, _, clock, _, _ = make_desk()
    desk.status.handle(*status(clock, "offline"))
    clock.advance(14 * 60)
    desk.check_alerts()
    assert "offline" not in kinds(desk)
    clock.advance(2 * 60)
    desk.check_alerts()
    [alert] = worded(desk, "offline")
    assert alert["detail"] == "hors ligne depuis 16 min"
    assert alert["phone_summary"].startswith(
        f"Terminal {DEVICE}, Librairie des Lilas (01 23 45 67 89) : hors ligne")
    assert len(alert["phone_summary"]) <= 160


def test_no_offline_alert_at_night_or_on_sunday():
    rules = AlertRules()
    assert rules.is_open(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))  # Tue 10:00 Paris
    assert not rules.is_open(datetime(2026, 11, 24, 19, 30, tzinfo=UTC))  # Tue 20:30 Paris
    assert not rules.is_open(datetime(2026, 11, 29, 10, 0, tzinfo=UTC))  # Sunday
    # Summer time: 07:30 UTC is 09:30 in Paris in July.
    assert rules.is_open(datetime(2026, 7, 7, 7, 30, tzinfo=UTC))


def test_repeated_reboots():
    desk, _, clock, _, _ = make_desk()
    desk.status.handle(*heartbeat(clock, boots=1, up=500))
    for boots in (2, 3, 4):
        clock.advance(300)
        desk.status.handle(*heartbeat(clock, boots=boots, up=10))
    desk.check_alerts()
    assert "repeated_reboots" in kinds(desk)


def test_serious_alerts_open_one_intervention_per_terminal():
    desk, store, clock, _, _ = make_desk()
    desk.status.handle(*heartbeat(clock, scn="fault"))
    desk.status.handle(*heartbeat(clock, boots=9, up=1))
    desk.status.handle(*heartbeat(clock, boots=10, up=1))
    desk.status.handle(*heartbeat(clock, boots=11, up=1))
    desk.check_alerts()
    [item] = store.interventions(device_id=DEVICE)
    assert item.category == "hardware_fault" and item.opened_by == "surveillance"
    assert item.alert_id is not None
    desk.check_alerts()  # still faulty: no second ticket
    assert len(store.interventions(device_id=DEVICE)) == 1


def test_interventions_follow_their_statuses_with_notes_and_audit():
    desk, store, clock, _, _ = make_desk()
    item = desk.interventions.open("alice", "support", DEVICE, "assistance",
                                   "Le partenaire ne sait plus annuler", note="appel de 10 h")
    assert item.status == "open" and item.notes[0].text == "appel de 10 h"
    desk.interventions.move("alice", "support", item.intervention_id, status="in_progress")
    with pytest.raises(SupportError):
        desk.interventions.move("alice", "support", item.intervention_id, status="closed")
    desk.interventions.add_note("bob", "support", item.intervention_id, "rappelé, réglé")
    done = desk.interventions.move("bob", "support", item.intervention_id, status="resolved")
    assert done.resolved_at == clock.now
    actions = [e.action for e in reversed(store.audit_log(DEVICE))]
    assert actions == ["intervention:open", "intervention:update", "intervention:note",
                       "intervention:update"]
    with pytest.raises(SupportError):
        desk.interventions.open("alice", "support", DEVICE, "other", "titre")


def test_fleet_list_search_and_filters():
    desk, _, clock, _, _ = make_desk()
    desk.status.handle(*status(clock, "online"))
    desk.status.handle(*heartbeat(clock, scn="fault"))
    desk.check_alerts()
    assert [r["device_id"] for r in desk.fleet(q="lilas")] == [DEVICE, OTHER]
    assert [r["device_id"] for r in desk.fleet(connection="online")] == [DEVICE]
    assert [r["device_id"] for r in desk.fleet(connection="unknown")] == [OTHER]
    assert [r["device_id"] for r in desk.fleet(partner_id="P2")] == [OTHER]
    assert [r["device_id"] for r in desk.fleet(alert="scanner_fault")] == [DEVICE]
    assert [r["device_id"] for r in desk.fleet(alert="any")] == [DEVICE]
    row = desk.fleet(q=DEVICE)[0]
    assert row["partner"]["phone"] == "01 23 45 67 89"
    assert not any("cents" in key or "balance" in key for key in row)



@pytest.mark.parametrize("typed", ["LILAS", "Librairie des lilas", "libráirie  des LÎLAS",
                                   "0123456789", "01.23.45.67.89", "01 23 45-67 89",
                                   "lilas@EXAMPLE.org"])
def test_the_search_ignores_accents_case_spaces_and_punctuation(typed):
    desk, *_ = make_desk()
    assert [r["device_id"] for r in desk.fleet(q=typed)] == [DEVICE, OTHER]


def test_accents_typed_or_stored_match_both_ways():
    from fleet_server.domain.support import search_key
    assert search_key("Librairie des Écoles") == search_key("librairie des ecoles")
    assert search_key("ecoles") in search_key("Librairie des Écoles")
    assert search_key("Auto-école") == "autoecole" and search_key(None) == ""


def test_version_order_and_summary_length():
    assert version_key("0.10.0") > version_key("0.9.9") > version_key("0.9")
    long = phone_summary(DEVICE, "x" * 100, "01", ["y" * 100])
    assert len(long) == 160


def test_offline_since_survives_a_server_restart():
    from dataclasses import replace

    from support_fakes import terminal

    desk, store, clock, _, _ = make_desk()
    store._terminals[DEVICE] = replace(terminal(), last_seen_at=clock.now)
    clock.advance(3600)  # the server restarts; the retained last will arrives again
    desk.status.handle(*status(clock, "offline"))
    desk.check_alerts()
    [alert] = worded(desk, "offline")
    assert alert["detail"] == "hors ligne depuis 1 h 00"


def test_a_fleet_with_more_active_alerts_than_one_page_raises_each_alert_once():
    # Past the store's default page of active alerts (500), the alerts already raised must
    # still be seen as raised: otherwise every tick raises them again.
    from support_fakes import terminal

    from protocol import tokens

    ids = [tokens.make_device_id(f"{i:08d}".replace("0", "A").replace("1", "B")
                                 .replace("8", "J").replace("9", "K")) for i in range(520)]
    desk, store, clock, _, _ = make_desk([terminal(d) for d in ids])
    for device_id in ids:
        desk.status.handle(*heartbeat(clock, device_id, scn="fault"))
    assert desk.check_alerts() == (520, 0)
    assert desk.check_alerts() == (0, 0)
    assert len(store.alerts(active=None, limit=10_000)) == 520


def test_a_claimed_terminal_that_never_connected_raises_an_alert():
    from dataclasses import replace

    from support_fakes import terminal

    desk, store, clock, _, _ = make_desk()
    store._terminals[DEVICE] = replace(terminal(), claimed_at=clock.now)
    clock.advance(14 * 60)
    desk.check_alerts()
    assert kinds(desk) == []  # time to unpack it and plug it in
    clock.advance(2 * 60)
    desk.check_alerts()
    [alert] = worded(desk, "never_connected")
    assert alert["detail"] == "jamais connecté, réclamé il y a 16 min"
    assert alert["severity"] == "high"
    desk.status.handle(*heartbeat(clock))  # it finally connects: the alert ends
    desk.check_alerts()
    assert kinds(desk) == []


def test_a_terminal_never_claimed_or_already_seen_gets_no_never_connected_alert():
    from dataclasses import replace

    from support_fakes import terminal

    desk, store, clock, _, _ = make_desk()
    store._terminals[DEVICE] = terminal()  # activated by the operator, not claimed
    store._terminals[OTHER] = replace(terminal(OTHER), claimed_at=clock.now,
                                      last_seen_at=clock.now)
    clock.advance(3600)
    desk.check_alerts()
    assert "never_connected" not in kinds(desk) + kinds(desk, OTHER)
