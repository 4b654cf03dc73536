"""The desk's French at the edge: events, alerts and audit results recorded as codes read as
the sentences stored before, and rows stored as sentences still read as stored."""

from datetime import UTC, datetime

from fleet_server.adapters.mail_texts import HELP_STATUSES as MAIL_STATUSES
from fleet_server.domain.support import CATEGORIES, STATUSES, TimelineEvent
from fleet_server.domain.support_alerts import KINDS
from fleet_server.entrypoints.support_texts import (
    ALERT_KINDS,
    INTERVENTION_CATEGORIES,
    INTERVENTION_STATUSES,
    alert_detail,
    audit_result,
    timeline_text,
)

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def event(code, **details):
    return TimelineEvent("CTDEVICE", AT, "command", code, details)


def test_every_code_of_the_domain_has_its_words():
    assert set(INTERVENTION_CATEGORIES) == set(CATEGORIES)
    assert set(INTERVENTION_STATUSES) == set(STATUSES) and MAIL_STATUSES == INTERVENTION_STATUSES
    assert set(ALERT_KINDS) == set(KINDS)


def test_events_read_as_they_were_stored():
    assert timeline_text(event("command_queued", command="restart", connection="offline",
                               actor="bob")) == "redémarrage en attente (terminal offline) par bob"
    finished = event("command_finished", command="ping", state="failed", refusal="bad_mac",
                     late=False)
    assert timeline_text(finished) == "test de présence : refusé (bad_mac)"
    assert timeline_text(event("intervention_changed", number=4, category="assistance",
                               status="resolved")) == (
        "intervention n° 4 : catégorie : Assistance, statut : resolved")
    assert timeline_text(event("alert_raised", alert="offline",
                               facts={"connection": "unresponsive", "minutes": 65})) == (
        "alerte : Hors ligne pendant les heures d'ouverture (muet depuis 1 h 05)")
    long = timeline_text(event("command_sent", command="ping", actor="a", reason="r" * 500))
    assert len(long) == 300


def test_rows_stored_as_sentences_are_shown_as_stored():
    old = TimelineEvent("CTDEVICE", AT, "reboot", None, {}, 7, text="redémarrage (soft)")
    assert timeline_text(old) == "redémarrage (soft)"
    assert alert_detail("offline", None, "hors ligne depuis 16 min") == "hors ligne depuis 16 min"
    assert audit_result("command:ping", "succeeded: réussi") == "succeeded: réussi"
    assert audit_result("intervention:open", "Panne matérielle") == "Panne matérielle"
    assert audit_result("intervention:update", "statut : resolved") == "statut : resolved"


def test_audit_results_recorded_as_codes():
    assert audit_result("command:ping", "failed:bad_mac") == "failed: refusé (bad_mac)"
    assert audit_result("command:ping", "timed_out") == "timed_out: pas de réponse dans le délai"
    assert audit_result("command:ping", "sent") == "sent"
    assert audit_result("intervention:open", "hardware_fault") == "Panne matérielle"
    assert audit_result("intervention:update", "category=assistance,status=in_progress") == (
        "catégorie : Assistance, statut : in_progress")
