"""Login throttling and lockout, activation and reset links, sessions: the account service
on an in-memory store and a fake clock."""

from datetime import timedelta

import pytest
from web_fakes import make_service, token_of

from fleet_server.service_layer.accounts import AccountError, LoginRefused
from fleet_server.service_layer.accounts_policy import Throttle

PASSWORD = "Bonjour!2026x"


@pytest.fixture
def accounts():
    service, store, outbox, clock = make_service()
    _, link = service.invite("Admin@Example.org", "partner_admin", "PA1", "Anne")
    assert outbox.sent[-1][0] == "admin@example.org"
    service.complete_link(token_of(outbox.last_link()), "activate", PASSWORD, PASSWORD)
    return service, store, outbox, clock


def refusal(service, email, password, client="10.0.0.1"):
    with pytest.raises(LoginRefused) as caught:
        service.login(email, password, client)
    return caught.value


def test_five_failures_lock_the_address_for_fifteen_minutes(accounts):
    service, _, _, clock = accounts
    reasons = [refusal(service, "admin@example.org", "Wrong!2026xx").reason for _ in range(5)]
    assert reasons == ["invalid"] * 4 + ["locked"]
    # Even the right password is refused while locked, and the page can say until when.
    locked = refusal(service, "admin@example.org", PASSWORD)
    assert locked.reason == "locked" and locked.until == clock.now + timedelta(minutes=15)
    clock.advance(minutes=15, seconds=1)
    token, user = service.login("admin@example.org", PASSWORD, "10.0.0.1")
    assert token and user.role == "partner_admin"


def test_a_success_clears_the_failures(accounts):
    service, _, _, _ = accounts
    for _ in range(4):
        refusal(service, "admin@example.org", "nope")
    service.login("admin@example.org", PASSWORD, "10.0.0.1")
    for _ in range(4):
        assert refusal(service, "admin@example.org", "nope").reason == "invalid"


def test_unknown_addresses_are_refused_the_same_way_and_counted(accounts):
    service, store, _, _ = accounts
    assert refusal(service, "nobody@example.org", PASSWORD).reason == "invalid"
    assert len(store.failures("nobody@example.org", store.failure_log[0][2])) == 1


def test_one_client_trying_many_addresses_is_paused():
    service, store, outbox, clock = make_service()
    service.throttle = Throttle(per_client=6)
    for i in range(6):
        refusal(service, f"user{i}@example.org", "x", client="192.0.2.7")
    assert refusal(service, "user9@example.org", "x", client="192.0.2.7").reason == "throttled"
    assert refusal(service, "user9@example.org", "x", client="192.0.2.8").reason == "invalid"


def test_throttle_window_forgets_old_failures():
    throttle = Throttle()
    from web_fakes import Clock

    now = Clock().now
    old = [now - timedelta(minutes=20 + i) for i in range(10)]
    assert throttle.locked_until(old, now) is None
    recent = [now - timedelta(minutes=i) for i in range(5)]
    assert throttle.locked_until(recent, now) == now + timedelta(minutes=15)


def test_links_are_single_use_and_expire_after_24_hours(accounts):
    service, _, outbox, clock = accounts
    with pytest.raises(AccountError, match="link_spent"):
        service.complete_link(token_of(outbox.last_link()), "activate", PASSWORD, PASSWORD)
    service.request_reset("admin@example.org")
    link = outbox.last_link()
    assert "/password/reset?token=" in link
    clock.advance(hours=24, seconds=1)
    with pytest.raises(AccountError, match="link_spent"):
        service.complete_link(token_of(link), "reset", "Nouveau!2026x", "Nouveau!2026x")


def test_reset_changes_the_password_and_ends_sessions(accounts):
    service, _, outbox, _ = accounts
    token, _ = service.login("admin@example.org", PASSWORD, "10.0.0.1")
    assert service.session(token) is not None
    service.request_reset("admin@example.org")
    service.complete_link(token_of(outbox.last_link()), "reset", "Nouveau!2026x",
                          "Nouveau!2026x")
    assert service.session(token) is None
    assert refusal(service, "admin@example.org", PASSWORD).reason == "invalid"
    assert service.login("admin@example.org", "Nouveau!2026x", "10.0.0.1")


def test_weak_or_mismatched_passwords_do_not_spend_the_link():
    service, _, outbox, _ = make_service()
    service.invite("new@example.org", "operator")
    token = token_of(outbox.last_link())
    with pytest.raises(AccountError, match="password_weak"):
        service.complete_link(token, "activate", "short1!A", "short1!A")
    with pytest.raises(AccountError, match="passwords_differ"):
        service.complete_link(token, "activate", PASSWORD, PASSWORD + "x")
    assert service.complete_link(token, "activate", PASSWORD, PASSWORD).active


def test_reset_requests_are_silent_for_unknown_addresses_and_bounded(accounts):
    service, _, outbox, _ = accounts
    before = len(outbox.sent)
    service.request_reset("nobody@example.org")
    assert len(outbox.sent) == before
    for _ in range(5):
        service.request_reset("admin@example.org")
    # At most 3 links an hour for one account, the activation link of the fixture included.
    assert len(outbox.sent) == before + 2


def test_sessions_end_when_idle_or_disabled(accounts):
    service, store, _, clock = accounts
    token, user = service.login("admin@example.org", PASSWORD, "10.0.0.1")
    clock.advance(hours=1, minutes=59)
    assert service.session(token) is not None
    clock.advance(hours=2, minutes=1)
    assert service.session(token) is None
    token, user = service.login("admin@example.org", PASSWORD, "10.0.0.1")
    service.set_active(user.id, False)
    assert service.session(token) is None
    assert refusal(service, "admin@example.org", PASSWORD).reason == "disabled"


def test_partner_roles_need_a_partner_and_staff_roles_none():
    service, _, _, _ = make_service()
    with pytest.raises(AccountError):
        service.invite("a@example.org", "partner_user")
    with pytest.raises(AccountError):
        service.invite("b@example.org", "support", "PA1")
    with pytest.raises(AccountError):
        service.invite("not-an-address", "operator")
