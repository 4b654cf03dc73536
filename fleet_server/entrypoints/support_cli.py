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

import logging
import os
import sys
import time
from datetime import datetime

STATE_TEXT = {"queued": "en attente du terminal (hors ligne)", "sent": "envoyée",
              "succeeded": "réussie", "failed": "refusée", "timed_out": "sans réponse",
              "expired": "expirée"}
SEVERITY_TEXT = {"high": "grave", "medium": "moyen", "low": "faible"}
REASON_MIN, REASON_MAX = 3, 500  # the desk's rule (domain/support.py), checked before a call


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
            # The library's text is English ("Connection refused"): say what to check.
            kind = "délai dépassé" if isinstance(err, httpx.TimeoutException) else "injoignable"
            raise ApiError(f"serveur {kind} ({self.http.base_url.host}:"
                           f"{self.http.base_url.port}) : vérifiez FLEET_API_URL ou --url, "
                           "et que le serveur tourne") from err
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail")
            except ValueError:
                detail = r.text[:200]
            raise ApiError(refusal_text(r.status_code, detail))
        return r.json()


def refusal_text(status: int, detail) -> str:
    """One French line for a refusal of the API (its detail is English or a pydantic list)."""
    from fleet_server.entrypoints.web.labels import support_error

    if status == 401:
        return "jeton refusé (FLEET_API_TOKEN ou --token : un jeton de rôle support)"
    if status == 403:
        return "ce jeton n'a pas le droit de faire cela"
    if status == 404:
        return "introuvable (vérifiez l'identifiant du terminal ou de l'intervention)"
    if isinstance(detail, list):  # pydantic: which field, why
        fields = {str(d.get("loc", ["", ""])[-1]) for d in detail if isinstance(d, dict)}
        if "reason" in fields:
            return support_error("reason")
        return "requête refusée, champ(s) invalide(s) : " + ", ".join(sorted(fields))
    return support_error(str(detail))


def paris(stamp: str | None) -> str:
    """An API time (ISO 8601, UTC) as the desk reads it: Paris time, dd/mm/yyyy HH:MM:SS."""
    if not stamp:
        return "-"
    from fleet_server.entrypoints.web.layout import format_paris

    return format_paris(datetime.fromisoformat(stamp), "%d/%m/%Y %H:%M:%S")


def add_support_parser(sub) -> None:
    p = sub.add_parser("support", help="assistance : chercher, état, diagnostic, redémarrage, "
                                       "journal...")
    p.add_argument("--url", default=os.environ.get("FLEET_API_URL", "http://127.0.0.1:8000"))
    p.add_argument("--token", default=os.environ.get("FLEET_API_TOKEN"),
                   help="jeton d'API de rôle support ou operator (défaut : $FLEET_API_TOKEN)")
    actions = p.add_subparsers(dest="action", required=True)
    find = actions.add_parser("find", help="chercher des terminaux (sans accents ni casse)")
    find.add_argument("text", nargs="?", help="n° de terminal, partenaire, téléphone, e-mail")
    find.add_argument("--partner", help="identifiant du partenaire")
    find.add_argument("--status", choices=["online", "offline", "unresponsive", "unknown"],
                      help="connexion : en ligne, hors ligne, muet, inconnu")
    find.add_argument("--firmware", help="version du logiciel")
    find.add_argument("--alert", help="type d'alerte, ou any")
    actions.add_parser("status", help="l'état d'un terminal").add_argument("device")
    for name, helptext in (("diag", "lancer un diagnostic à distance"),
                           ("restart", "redémarrer le terminal"),
                           ("logs", "lire le journal du terminal")):
        q = actions.add_parser(name, help=helptext)
        q.add_argument("device")
        # Checked by cmd_support rather than argparse, whose refusal would be in English.
        q.add_argument("--reason", help="pourquoi (gardé dans le journal d'audit) : obligatoire")
        q.add_argument("--wait", type=float, default=40.0,
                       help="secondes d'attente de la réponse (0 : ne pas attendre)")
        if name == "logs":
            q.add_argument("--lines", type=int, default=50, help="nombre de lignes (1 à 200)")
    inter = actions.add_parser("interventions", help="les interventions (d'un terminal)")
    inter.add_argument("device", nargs="?")
    inter.add_argument("--status", choices=["open", "in_progress", "resolved"],
                       help="ouverte, en cours, résolue")
    actions.add_parser("alerts", help="les alertes actives").add_argument(
        "--kind", help="type d'alerte (offline, scanner_fault, ...)")
    p.set_defaults(func=cmd_support)


def cmd_support(args) -> int:
    # The HTTP library logs every request at INFO: noise between the desk's own lines.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if not args.token:
        print("fleet support : indiquez FLEET_API_TOKEN ou --token (un jeton de rôle support)",
              file=sys.stderr)
        return 2
    needs_reason = args.action in ("diag", "restart", "logs")
    reason = getattr(args, "reason", None)
    if needs_reason and reason is None:
        print("fleet support : indiquez la raison, gardée dans le journal d'audit, par exemple "
              "--reason \"écran figé\"", file=sys.stderr)
        return 2
    if reason is not None and not REASON_MIN <= len(reason.strip()) <= REASON_MAX:
        print(f"fleet support : la raison doit faire de {REASON_MIN} à {REASON_MAX} caractères "
              f"(elle reste dans le journal d'audit), par exemple --reason \"écran figé\"",
              file=sys.stderr)
        return 2
    client = DeskClient(args.url, args.token)
    try:
        return ACTIONS[args.action](client, args)
    except ApiError as err:
        print(f"fleet support : {err}", file=sys.stderr)
        return 1


def _words():
    from fleet_server.entrypoints.web import labels

    return labels


def _find(client: DeskClient, args) -> int:
    L = _words()
    params = {k: v for k, v in (("q", args.text), ("partner_id", args.partner),
                                ("connection", args.status), ("firmware", args.firmware),
                                ("alert", args.alert)) if v}
    rows = client.call("GET", "/terminals", params=params | {"limit": 500})["items"]
    for r in rows:
        p = r["partner"]
        alerts = ", ".join(L.ALERT_KINDS.get(k, k) for k in r["alerts"])
        print(f"{r['device_id']}  {L.CONNECTIONS.get(r['connection'], r['connection']):<10} "
              f"logiciel {r['firmware'] or '-':<8} vu {paris(r['last_seen_at']):<19}  "
              f"{p['name'] or '-'}  {p['phone'] or ''}{'  alertes : ' + alerts if alerts else ''}")
    print(f"{len(rows)} terminal(aux)" if rows else "Aucun terminal ne correspond.",
          file=sys.stderr)
    return 0


def _status(client: DeskClient, args) -> int:
    L = _words()
    t = client.call("GET", f"/terminals/{args.device}")
    p = t["partner"]
    heap = f"{t['heap'] / 1024:.1f} Kio".replace(".", ",") if t["heap"] is not None else None
    boots = t["boots"]
    if boots is not None and t.get("reset"):
        boots = f"{boots} (dernier : {L.reset_cause(t['reset'])})"
    for label, value in (
            ("terminal", t["device_id"]), ("état", L.device_state(t["state"])),
            ("connexion", L.CONNECTIONS.get(t["connection"], t["connection"])),
            ("vu le", paris(t["last_seen_at"])),
            ("logiciel", t["firmware"]), ("signal", f"{t['rssi']} dBm" if t["rssi"] else None),
            ("mémoire libre", heap),
            ("lecteur", L.scanner_state(t["scanner"]) if t["scanner"] else None),
            ("démarrages", boots), ("dernière erreur", t["last_error"]),
            ("décalage horloge", f"{t['drift_s']} s" if t["drift_s"] is not None else None),
            ("partenaire", p["name"]), ("téléphone", p["phone"]), ("e-mail", p["email"]),
            ("adresse", p["address"])):
        print(f"{label:>16} : {value if value is not None else '-'}")
    for alert in t["active_alerts"]:
        print(f"{'alerte':>16} : {alert['label']} ({alert['detail']})")
    return 0


def _run(client: DeskClient, args, name: str, extra: dict | None = None) -> int:
    L = _words()
    body = {"name": name, "reason": args.reason}
    if extra:
        body["args"] = extra
    command = client.call("POST", f"/terminals/{args.device}/commands", json=body)
    print(f"commande {command['command_id']} : {STATE_TEXT[command['state']]}")
    deadline = time.monotonic() + max(0.0, args.wait)
    while command["state"] in ("sent", "queued") and time.monotonic() < deadline:
        if command["state"] == "queued":
            print("le terminal est hors ligne : il recevra la commande à son retour")
            return 0
        time.sleep(0.5)
        command = client.call("GET", f"/commands/{command['command_id']}")
    print(f"résultat : {STATE_TEXT[command['state']]}"
          + (f" ({L.refusal(command['code'])})" if command.get("code") else ""))
    result = command.get("result") or {}
    if name == "diagnostics":
        for check, detail in result.items():
            ok = isinstance(detail, dict) and detail.get("ok")
            rest = ", ".join(L.check_detail(k, v) for k, v in detail.items() if k != "ok") \
                if isinstance(detail, dict) else detail
            print(f"  {'OK   ' if ok else 'ÉCHEC'}  {L.CHECKS.get(check, check):<18} {rest}")
    elif name == "get_logs":
        for line in result.get("lines", []):
            print("  " + line)
    return 0 if command["state"] in ("succeeded", "queued", "sent") else 1


def _interventions(client: DeskClient, args) -> int:
    params = {k: v for k, v in (("device_id", args.device), ("status", args.status)) if v}
    items = client.call("GET", "/interventions", params=params)["items"]
    for i in items:
        print(f"n° {i['intervention_id']:<5} {i['device_id']}  {i['status_label']:<10} "
              f"{i['category_label']:<24} {paris(i['opened_at'])[:16]}  {i['title']}")
    if not items:
        print("Aucune intervention" + (" pour ce terminal." if args.device else "."))
    return 0


def _alerts(client: DeskClient, args) -> int:
    params = {"kind": args.kind} if args.kind else {}
    items = client.call("GET", "/alerts", params=params)["items"]
    for a in items:
        severity = SEVERITY_TEXT.get(a["severity"], a["severity"])
        print(f"{paris(a['raised_at'])[:16]}  {severity:<6}  {a['phone_summary']}")
    if not items:
        print("Aucune alerte active" + (" de ce type." if args.kind else " : tout va bien."))
    return 0


ACTIONS = {
    "find": _find, "status": _status, "interventions": _interventions, "alerts": _alerts,
    "diag": lambda c, a: _run(c, a, "diagnostics"),
    "restart": lambda c, a: _run(c, a, "restart"),
    "logs": lambda c, a: _run(c, a, "get_logs", {"lines": a.lines}),
}
