"""`fleet support`: the support desk from a shell, through the running server's REST API.

    fleet support find [TEXT] [--partner P] [--status online|offline|unresponsive|unknown]
                       [--firmware V] [--alert KIND|any]
    fleet support status DEVICE
    fleet support diag DEVICE --reason "..."         (waits for the answer, prints each check)
    fleet support restart DEVICE --reason "..."
    fleet support logs DEVICE --reason "..." [--lines 50]
    fleet support interventions [DEVICE] [--status open|in_progress|resolved]
    fleet support alerts [--kind KIND]

Why the API and not the database: commands must leave through the server that holds the MQTT
connection, the live status and the command queue, and every action is audited under the
token's name. Set FLEET_API_URL (default http://127.0.0.1:8000) and FLEET_API_TOKEN (a
support or operator token: `fleet token issue --role support NAME`), or pass --url/--token.
"""

import os
import sys
import time

STATE_TEXT = {"queued": "en attente du terminal (hors ligne)", "sent": "envoyée",
              "succeeded": "réussie", "failed": "refusée", "timed_out": "sans réponse",
              "expired": "expirée"}


class ApiError(RuntimeError):
    pass


class DeskClient:
    def __init__(self, url: str, token: str, timeout_s: float = 10.0):
        import httpx

        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1/support",
                                 headers={"Authorization": f"Bearer {token}"},
                                 timeout=timeout_s)

    def call(self, method: str, path: str, **kwargs) -> dict:
        import httpx

        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ApiError(f"server unreachable: {err}") from err
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail")
            except ValueError:
                detail = r.text[:200]
            raise ApiError(f"{r.status_code}: {detail}")
        return r.json()


def add_support_parser(sub) -> None:
    p = sub.add_parser("support", help="support desk: find, status, diag, restart, logs...")
    p.add_argument("--url", default=os.environ.get("FLEET_API_URL", "http://127.0.0.1:8000"))
    p.add_argument("--token", default=os.environ.get("FLEET_API_TOKEN"),
                   help="support or operator API token (default: $FLEET_API_TOKEN)")
    actions = p.add_subparsers(dest="action", required=True)
    find = actions.add_parser("find", help="search terminals")
    find.add_argument("text", nargs="?")
    find.add_argument("--partner")
    find.add_argument("--status", choices=["online", "offline", "unresponsive", "unknown"])
    find.add_argument("--firmware")
    find.add_argument("--alert")
    actions.add_parser("status", help="one terminal's status").add_argument("device")
    for name, helptext in (("diag", "run a remote diagnostic"), ("restart", "restart"),
                           ("logs", "read the terminal's log")):
        q = actions.add_parser(name, help=helptext)
        q.add_argument("device")
        q.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        q.add_argument("--wait", type=float, default=40.0,
                       help="seconds to wait for the answer (0: do not wait)")
        if name == "logs":
            q.add_argument("--lines", type=int, default=50)
    inter = actions.add_parser("interventions", help="interventions (of one terminal)")
    inter.add_argument("device", nargs="?")
    inter.add_argument("--status", choices=["open", "in_progress", "resolved"])
    actions.add_parser("alerts", help="active health alerts").add_argument("--kind")
    p.set_defaults(func=cmd_support)


def cmd_support(args) -> int:
    if not args.token:
        print("fleet support: set FLEET_API_TOKEN or pass --token (a support token)",
              file=sys.stderr)
        return 2
    client = DeskClient(args.url, args.token)
    try:
        return ACTIONS[args.action](client, args)
    except ApiError as err:
        print(f"fleet support: {err}", file=sys.stderr)
        return 1


def _find(client: DeskClient, args) -> int:
    params = {k: v for k, v in (("q", args.text), ("partner_id", args.partner),
                                ("connection", args.status), ("firmware", args.firmware),
                                ("alert", args.alert)) if v}
    rows = client.call("GET", "/terminals", params=params | {"limit": 500})["items"]
    for r in rows:
        p = r["partner"]
        print(f"{r['device_id']}  {r['connection']:<12} fw={r['firmware'] or '-':<8} "
              f"seen={(r['last_seen_at'] or '-')[:19]}  {p['name'] or '-'}  {p['phone'] or ''}"
              f"{'  alerts=' + ','.join(r['alerts']) if r['alerts'] else ''}")
    print(f"{len(rows)} terminal(s)", file=sys.stderr)
    return 0


def _status(client: DeskClient, args) -> int:
    t = client.call("GET", f"/terminals/{args.device}")
    p = t["partner"]
    for label, value in (
            ("terminal", t["device_id"]), ("state", t["state"]),
            ("connection", t["connection"]), ("last seen", t["last_seen_at"]),
            ("firmware", t["firmware"]), ("signal", f"{t['rssi']} dBm" if t["rssi"] else None),
            ("free memory", t["heap"]), ("scanner", t["scanner"]), ("boots", t["boots"]),
            ("last error", t["last_error"]), ("clock drift s", t["drift_s"]),
            ("partner", p["name"]), ("phone", p["phone"]), ("e-mail", p["email"]),
            ("address", p["address"])):
        print(f"{label:>14}: {value if value is not None else '-'}")
    for alert in t["active_alerts"]:
        print(f"{'alert':>14}: {alert['label']} ({alert['detail']})")
    return 0


def _run(client: DeskClient, args, name: str, extra: dict | None = None) -> int:
    body = {"name": name, "reason": args.reason}
    if extra:
        body["args"] = extra
    command = client.call("POST", f"/terminals/{args.device}/commands", json=body)
    print(f"command {command['command_id']}: {STATE_TEXT[command['state']]}")
    deadline = time.monotonic() + max(0.0, args.wait)
    while command["state"] in ("sent", "queued") and time.monotonic() < deadline:
        if command["state"] == "queued":
            print("the terminal is offline: it gets the command when it returns")
            return 0
        time.sleep(0.5)
        command = client.call("GET", f"/commands/{command['command_id']}")
    print(f"result: {STATE_TEXT[command['state']]}"
          + (f" ({command['code']})" if command.get("code") else ""))
    result = command.get("result") or {}
    if name == "diagnostics":
        for check, detail in result.items():
            ok = isinstance(detail, dict) and detail.get("ok")
            rest = ", ".join(f"{k}={v}" for k, v in detail.items() if k != "ok") \
                if isinstance(detail, dict) else detail
            print(f"  {'PASS' if ok else 'FAIL'}  {check:<10} {rest}")
    elif name == "get_logs":
        for line in result.get("lines", []):
            print("  " + line)
    return 0 if command["state"] in ("succeeded", "queued", "sent") else 1


def _interventions(client: DeskClient, args) -> int:
    params = {k: v for k, v in (("device_id", args.device), ("status", args.status)) if v}
    for i in client.call("GET", "/interventions", params=params)["items"]:
        print(f"#{i['intervention_id']:<5} {i['device_id']}  {i['status_label']:<10} "
              f"{i['category_label']:<24} {i['opened_at'][:16]}  {i['title']}")
    return 0


def _alerts(client: DeskClient, args) -> int:
    params = {"kind": args.kind} if args.kind else {}
    for a in client.call("GET", "/alerts", params=params)["items"]:
        print(f"{a['raised_at'][:16]}  {a['severity']:<6} {a['phone_summary']}")
    return 0


ACTIONS = {
    "find": _find, "status": _status, "interventions": _interventions, "alerts": _alerts,
    "diag": lambda c, a: _run(c, a, "diagnostics"),
    "restart": lambda c, a: _run(c, a, "restart"),
    "logs": lambda c, a: _run(c, a, "get_logs", {"lines": a.lines}),
}
