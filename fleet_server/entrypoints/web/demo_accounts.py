"""Console accounts for `fleet demo` (dev mode only): an operator, a support agent, and an
admin and a counter clerk for the demo bookshop, all with one demo password, so the console can
be tried at once. Never in prod mode: real accounts are activated by e-mail."""

from fleet_server.service_layer.accounts import AccountError

DEMO_PASSWORD = "Demo-Console-2026!"
DEMO_ACCOUNTS = [  # e-mail, role, partner
    ("operateur@demo.example", "operator", None),
    ("assistance@demo.example", "support", None),
    ("admin@librairie.demo.example", "partner_admin", "PA-LIBRAIRIE"),
    ("caisse@librairie.demo.example", "partner_user", "PA-LIBRAIRIE"),
]


def seed_demo_accounts(fleet) -> list[str]:
    """Create the demo accounts that do not exist yet; lines to print."""
    if fleet.settings.mode != "dev":
        return ["console: no demo accounts outside dev mode (use `fleet user add`)"]
    accounts = fleet.accounts
    known = {u.email for u in accounts.users()}
    for email, role, partner in DEMO_ACCOUNTS:
        if email in known:
            continue
        try:
            _user, link = accounts.invite(email, role, partner, send=False)
        except AccountError:
            continue  # the demo partner is missing: nothing to log in to
        accounts.complete_link(link.split("token=", 1)[1], "activate", DEMO_PASSWORD,
                               DEMO_PASSWORD)
    return [f"console account {email} ({role}), password {DEMO_PASSWORD}"
            for email, role, _ in DEMO_ACCOUNTS]
