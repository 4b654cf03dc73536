"""`fleet user`: web console accounts from a shell, starting with the first operator.

    fleet user add EMAIL --role operator                 # e-mails the activation link
    fleet user add EMAIL --role partner_admin --partner P
    fleet user list [--partner P]
    fleet user link EMAIL                                # a new one-time link, printed
    fleet user disable EMAIL / fleet user enable EMAIL

Without FLEET_SMTP_HOST no e-mail can go out: `add` then prints the activation link on stdout
(valid 24 hours, once), so whoever runs the server can hand it over. `--print-link` prints it
in any case.
"""

import sys

from fleet_server.domain.roles import ROLES
from fleet_server.entrypoints.web.labels import ROLES as ROLE_LABELS
from fleet_server.service_layer.accounts_policy import normalise_email


def add_user_parser(sub, common) -> None:
    p = sub.add_parser("user", help="web console accounts (the first operator, partners...)")
    actions = p.add_subparsers(dest="action", required=True)
    add_p = common(actions.add_parser("add", help="create an account, send its activation link"))
    add_p.add_argument("email")
    add_p.add_argument("--role", required=True, choices=ROLES)
    add_p.add_argument("--partner", help="the partner id (partner_admin, partner_user)")
    add_p.add_argument("--name", help="the person's name, as the console shows it")
    add_p.add_argument("--print-link", action="store_true",
                       help="print the activation link even when it is e-mailed")
    list_p = common(actions.add_parser("list", help="accounts and their state"))
    list_p.add_argument("--partner")
    common(actions.add_parser("link", help="print a new activation or reset link (24 h, once)")
           ).add_argument("email")
    for action in ("disable", "enable"):
        common(actions.add_parser(action, help=f"{action} an account")).add_argument("email")
    p.set_defaults(func=cmd_user)


def cmd_user(args) -> int:
    from fleet_server.adapters.smtp_mailer import MailFailed
    from fleet_server.entrypoints.cli import _fleet
    from fleet_server.entrypoints.web import refusals
    from fleet_server.service_layer.accounts import AccountError

    fleet = _fleet(args)
    try:
        accounts = fleet.accounts
        if args.action == "add":
            mail_ready = bool(fleet.settings.smtp_host)
            user, link = accounts.invite(args.email, args.role, args.partner, args.name,
                                         send=False)
            if mail_ready:
                try:
                    accounts.send_activation(user.email, link)
                    print(f"activation link e-mailed to {user.email}", file=sys.stderr)
                except MailFailed as err:
                    print(f"fleet: the e-mail could not be sent ({err})", file=sys.stderr)
                    mail_ready = False
            if not mail_ready:
                print("no e-mail sent (FLEET_SMTP_HOST unset or failing): hand over this "
                      "activation link, valid 24 hours, once:", file=sys.stderr)
            if args.print_link or not mail_ready:
                print(link)
            print(f"account {user.email} ({ROLE_LABELS[user.role]}) created", file=sys.stderr)
        elif args.action == "list":
            for u in accounts.users(args.partner):
                state = "active" if u.active else ("disabled" if u.disabled else "invited")
                print(f"{u.email:<40} {u.role:<14} {u.partner_id or '-':<12} {state}")
        elif args.action == "link":
            try:
                print(accounts.new_link(args.email))
            except AccountError as err:  # no such account, or switched off
                print(f"fleet: {refusals.text(err)}", file=sys.stderr)
                return 1
        else:
            email = normalise_email(args.email)
            user = next((u for u in accounts.users() if u.email == email), None)
            if user is None:
                print(f"fleet: no account {args.email!r}", file=sys.stderr)
                return 1
            accounts.set_active(user.id, args.action == "enable")
            print(f"account {user.email} {args.action}d")
        return 0
    finally:
        fleet.close()
