"""The counter application while the link and the answers misbehave, the way the runtime drives
it: no sale offline, a lost answer retransmitted with the same seq, no answer at all, a service
unavailable, a result for another seq, an operation left in the journal, a request never sent,
and an update in progress. Portable: pytest runs it on CPython, runner.py on the MicroPython
binary (MicroPython-safe code only)."""

from counter_driver import CARD, VOUCHER, Counter, approved, refused


def test_no_sale_starts_while_offline():
    c = Counter(online=False)
    for start in (("scan", CARD), ("key", "4")):
        out = c.send(*start)
        assert "Hors ligne -" in c.app.screen and "vente impossible" in c.app.screen
        assert c.beeps(out) == ["sad"]
        c.keys("B")
    c.keys("D1")
    assert c.app.state == "notice" and not c.money()


def test_a_sale_validated_after_the_link_dropped_is_refused_not_queued():
    c = Counter()
    c.send("scan", CARD)
    c.keys("1500A")
    c.send("net", False)
    assert "Hors ligne!" in c.app.screen
    out = c.keys("A")
    assert c.beeps(out) == ["sad"] and c.app.state == "confirm" and not c.money()
    c.send("net", True)
    assert ("debit", CARD, 500, "books") in c.keys("A")


def test_a_lost_answer_is_retransmitted_with_the_same_seq():
    c = Counter()
    c.sell(seq=42)
    assert c.wait(4000) == []
    assert ("retransmit", 42) in c.wait(1000)
    assert ("retransmit", 42) in c.wait(5000)
    assert "Essai 3" in c.app.screen
    c.send("result", approved(42))
    assert c.app.screen[0] == "VENTE ACCEPTEE"
    assert [a for a in c.actions if a[0] == "retransmit"] == [("retransmit", 42)] * 2
    assert len(c.money()) == 1


def test_without_answer_the_staff_is_told_but_the_operation_is_kept_and_its_late_result_shown():
    c = Counter()
    c.sell(seq=42)
    for _ in range(6):
        c.wait(5000)
    assert c.app.state == "no_answer" and "Reessayez plus" in c.app.screen
    assert c.app.pending_seq == 42 and not c.app.busy
    c.keys("B")
    assert "Op. en attente" in c.app.screen
    c.send("scan", CARD)  # one money movement at a time: no new sale meanwhile
    assert c.app.state == "notice" and len(c.money()) == 1
    c.send("net", False)
    assert not [a for a in c.wait(60000) if a[0] == "retransmit"]  # pointless while offline
    assert ("retransmit", 42) in c.send("net", True)
    c.send("result", approved(42))
    assert c.app.screen[0] == "VENTE ACCEPTEE" and c.app.pending_seq is None


def test_service_unavailable_is_not_final_and_the_request_is_asked_again():
    c = Counter()
    c.sell(seq=9)
    out = c.send("result", refused(9, "service_unavailable", st="error", amt=0))
    assert c.app.state == "waiting" and "Service indispo." in c.app.screen
    assert c.beeps(out) == []
    assert ("retransmit", 9) in c.wait(5000)
    c.send("result", approved(9))
    assert c.app.screen[0] == "VENTE ACCEPTEE"


def test_a_result_for_another_seq_is_ignored():
    c = Counter()
    c.sell(seq=9)
    c.send("result", approved(8))
    assert c.app.state == "waiting" and c.app.pending_seq == 9


def test_an_operation_found_in_the_journal_at_boot_is_awaited_and_its_result_shown():
    c = Counter()
    c.send("sent", 55)
    assert c.app.state == "waiting" and c.app.pending_seq == 55
    c.send("result", approved(55, amt=800))
    assert c.app.screen[0] == "VENTE ACCEPTEE" and "8,00 EUR" in c.text()
    assert c.app.last_sale_seq == 55


def test_an_operation_reported_from_the_journal_during_a_sale_blocks_its_validation():
    c = Counter()
    c.send("scan", VOUCHER)
    c.keys("100A")
    c.send("sent", 55)
    out = c.keys("A")
    assert c.beeps(out) == ["sad"] and "Op. en attente" in c.app.screen and not c.money()
    c.send("result", approved(55))
    assert c.app.screen[0] == "VENTE ACCEPTEE"


def test_a_request_the_runtime_never_sent_is_dropped_with_an_error_screen():
    c = Counter()
    c.send("scan", VOUCHER)
    c.keys("100AA")
    c.wait(15000)
    assert c.app.screen[0] == "ERREUR" and c.app.pending_seq is None
    c.keys("B")
    assert c.app.state == "idle"


def test_an_update_in_progress_shows_its_screen_and_blocks_sales():
    c = Counter()
    c.send("update", "queued")
    assert "MAJ programmee" in c.app.screen
    c.send("update", "installing")
    assert c.app.screen[0] == "MISE A JOUR" and "installing" in c.app.screen
    c.send("scan", CARD)
    c.keys("D1")
    assert c.app.state == "update" and not c.money()
    c.send("update", None)
    assert c.app.state == "idle"
