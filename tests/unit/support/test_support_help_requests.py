"""Partners' help requests: a second request for a terminal joins its open intervention, the
partner follows the requests its people made, and is told by e-mail of the desk's answers and
status changes (not of its own)."""

from support_fakes import DEVICE, make_desk

from fleet_server.adapters.mail_texts import NoticeMailer, render
from fleet_server.entrypoints.support_texts import INTERVENTION_CATEGORIES, INTERVENTION_STATUSES
from fleet_server.service_layer.partner_help import partner_requests
from fleet_server.service_layer.support_notices import PartnerNotices, followers, notice

ADMIN, CLERK, AGENT = "admin@lilas.example", "caisse@lilas.example", "agent@desk.example"
STAFF = {ADMIN, CLERK}


def test_a_second_request_for_the_same_terminal_joins_the_open_one():
    desk, store, *_ = make_desk()
    first, joined = desk.interventions.request_help(ADMIN, DEVICE, "hardware_fault",
                                                    "Le scanner ne lit plus")
    assert not joined and first.opened_by == ADMIN
    again, joined = desk.interventions.request_help(CLERK, DEVICE, "assistance",
                                                    "Toujours en panne")
    assert joined and again.intervention_id == first.intervention_id
    assert [n.text for n in again.notes] == [
        "Nouvelle demande du partenaire (Assistance) : Toujours en panne"]
    assert len(store.interventions(device_id=DEVICE)) == 1
    desk.interventions.move(AGENT, "support", first.intervention_id, status="resolved")
    later, joined = desk.interventions.request_help(ADMIN, DEVICE, "assistance", "Encore")
    assert not joined and later.intervention_id != first.intervention_id


def test_the_partner_follows_its_own_requests_with_the_desks_answers():
    desk, store, *_ = make_desk()
    mine, _ = desk.interventions.request_help(ADMIN, DEVICE, "hardware_fault", "Écran noir")
    desk.interventions.open("surveillance", "system", DEVICE, "assistance", "Alerte")  # not theirs
    desk.interventions.add_note(AGENT, "support", mine.intervention_id, "Diagnostic lancé")
    desk.interventions.move(AGENT, "support", mine.intervention_id, status="in_progress")
    [seen] = partner_requests(store, "P1", STAFF)
    assert (seen.number, INTERVENTION_STATUSES[seen.status],
            INTERVENTION_CATEGORIES[seen.category]) == (
        mine.intervention_id, "En cours", "Panne matérielle")
    assert [(m.author, m.from_desk, m.text) for m in seen.messages] == [
        (None, True, "Diagnostic lancé")]
    assert partner_requests(store, "P2", STAFF) == []


def test_the_followers_are_told_of_notes_and_status_changes_by_others():
    desk, store, *_ = make_desk()
    sent = []
    desk.interventions.notify = PartnerNotices(lambda pid: STAFF if pid == "P1" else set(),
                                               NoticeMailer(lambda *mail: sent.append(mail)),
                                               "https://console.example/")
    item, _ = desk.interventions.request_help(ADMIN, DEVICE, "hardware_fault", "Écran noir")
    assert sent == []  # opening it tells no one
    desk.interventions.add_note(AGENT, "support", item.intervention_id, "Pièce commandée")
    desk.interventions.move(AGENT, "support", item.intervention_id, status="resolved")
    assert [(to, subject) for to, subject, _ in sent] == [
        (ADMIN, f"Demande d'assistance n° {item.intervention_id} : nouvelle réponse"),
        (ADMIN, f"Demande d'assistance n° {item.intervention_id} : résolue")]
    assert "Pièce commandée" in sent[0][2]
    assert "https://console.example/partner/assistance" in sent[1][2]
    sent.clear()
    desk.interventions.add_note(ADMIN, "partner_admin", item.intervention_id, "Merci")
    assert sent == []  # the author is not told of their own note


def test_a_failing_mail_server_does_not_undo_the_change():
    desk, store, *_ = make_desk()

    def down(*_args):
        raise OSError("SMTP down")

    item, _ = desk.interventions.request_help(ADMIN, DEVICE, "assistance", "Aide")
    desk.interventions.notify = PartnerNotices(lambda pid: STAFF, NoticeMailer(down), "http://x")
    desk.interventions.move(AGENT, "support", item.intervention_id, status="resolved")
    assert store.intervention(item.intervention_id).status == "resolved"


def test_followers_and_notice_text():
    from fleet_server.domain.support import Intervention, Note
    item = Intervention(7, DEVICE, "P1", "assistance", "in_progress", "Bip continu", ADMIN,
                        None, None, notes=[Note(None, CLERK, "x"), Note(None, AGENT, "y")])
    assert followers(item, STAFF, AGENT) == [ADMIN, CLERK]
    assert followers(item, STAFF, CLERK) == [ADMIN]
    subject, text = render(notice(item, "status", None, "http://c/partner/assistance"))
    assert subject == "Demande d'assistance n° 7 : en cours"
    assert f"n° 7 (terminal {DEVICE}, « Bip continu ») est maintenant : en cours." in text
