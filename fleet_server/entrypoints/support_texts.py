"""The support desk's French, for every front end (web console, `fleet support`, REST API):
interventions' categories and statuses, alert kinds and their facts, timeline events and audit
results, which the services record as codes and data.

A timeline event is worded as the services used to store it, with the terminal's own codes
left in ("redémarrage (watchdog)", "lecteur : fault"); the console then puts words on those
codes (web/labels.event_text), as it does for the rows stored as sentences before the codes.
Those older rows, events and alerts, are shown as stored.
"""

import re

from fleet_server.domain.support import FAILED, SUCCEEDED, TIMED_OUT, UNRESPONSIVE

INTERVENTION_CATEGORIES = {"hardware_fault": "Panne matérielle", "assistance": "Assistance",
                           "improvement_request": "Demande d'amélioration"}
INTERVENTION_STATUSES = {"open": "Ouverte", "in_progress": "En cours", "resolved": "Résolue"}
ALERT_KINDS = {
    "offline": "Hors ligne pendant les heures d'ouverture",
    "never_connected": "Jamais connecté depuis sa mise en service",
    "scanner_fault": "Lecteur de codes en panne",
    "repeated_reboots": "Redémarrages répétés",
    "weak_signal": "Signal faible",
    "outdated_firmware": "Logiciel pas à jour",
    "clock_drift": "Horloge décalée",
}
# Commands as a timeline sentence names them (web/labels.COMMANDS: as a title).
COMMANDS = {"ping": "test de présence", "diagnostics": "diagnostic", "restart": "redémarrage",
            "get_logs": "journal", "set_config": "configuration"}
CONNECTIONS = {"online": "en ligne", "offline": "hors ligne",
               "unresponsive": "connecté mais muet (pas de signe de vie)"}


# ---- alerts --------------------------------------------------------------------------------

def alert_label(kind: str) -> str:
    return ALERT_KINDS.get(kind, kind)


def alert_detail(kind: str, facts: dict | None, text: str | None = None) -> str:
    """What holds, e.g. "hors ligne depuis 1 h 05"; an older alert's stored sentence."""
    if facts is None:
        return text or ""
    if kind == "never_connected":
        return f"jamais connecté, réclamé il y a {_duration(facts['minutes'])}"
    if kind == "offline":
        word = "muet" if facts.get("connection") == UNRESPONSIVE else "hors ligne"
        return f"{word} depuis {_duration(facts['minutes'])}"
    if kind == "scanner_fault":
        return "lecteur en panne"
    if kind == "repeated_reboots":
        return f"{facts['reboots']} redémarrages en {facts['minutes']} min"
    if kind == "weak_signal":
        return f"signal {facts['rssi']} dBm"
    if kind == "outdated_firmware":
        return f"version {facts['fw']}, dernière {facts['latest']}"
    if kind == "clock_drift":
        return f"horloge décalée de {facts['drift_s']:+d} s"
    return ", ".join(f"{key} {value}" for key, value in facts.items())


def _duration(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d}"


def phone_summary(device_id: str, partner_name: str | None, partner_phone: str | None,
                  details: list[str]) -> str:
    """One line to read out or text (at most 160 characters): who, how to reach, what."""
    who = partner_name or "sans partenaire"
    if partner_phone:
        who += f" ({partner_phone})"
    text = f"Terminal {device_id}, {who} : " + " ; ".join(details)
    return text if len(text) <= 160 else text[:159] + "…"


def alert_words(view: dict) -> dict:
    """SupportDesk.alert_view with its words: label, detail and the phone line, as the API,
    the CLI and the console have always shown them (the facts stay beside them)."""
    detail = alert_detail(view["kind"], view.get("details"), view.get("text"))
    words = {key: view[key] for key in ("alert_id", "device_id", "kind")}
    words.update(label=alert_label(view["kind"]), severity=view["severity"], detail=detail)
    words.update((key, value) for key, value in view.items()
                 if key not in words and key != "text")
    words["phone_summary"] = phone_summary(view["device_id"], view.get("partner_name"),
                                           view.get("partner_phone"), [detail])
    return words


def terminal_words(row: dict) -> dict:
    """SupportDesk.terminal with the words of its active alerts."""
    return {**row, "active_alerts": [alert_words(a) for a in row.get("active_alerts", [])]}


# ---- timeline ------------------------------------------------------------------------------

def timeline_text(event) -> str:
    """One timeline event (domain TimelineEvent) as a sentence (300 characters at most, as
    they were stored)."""
    if event.code is None:
        return event.text or ""
    return _sentence(event.code, event.details)[:300]


def _sentence(code: str, d: dict) -> str:
    if code == "connection":
        return CONNECTIONS.get(d["state"], d["state"])
    if code == "rebooted":
        return f"redémarrage ({d['rst']}), démarrage n° {d['boots']}"
    if code == "firmware_changed":
        return f"logiciel {d['before']} -> {d['after']}"
    if code == "error_reported":
        return f"erreur : {d['err']}"
    if code == "scanner_changed":
        return f"lecteur : {d['scn']}"
    if code == "sales_since_boot":
        return f"{d['sales']} vente(s) depuis le démarrage"
    if code == "command_queued":
        return f"{_command(d)} en attente (terminal {d['connection']}) par {d['actor']}"
    if code == "command_sent":
        return f"{_command(d)} envoyé par {d['actor']} : {d['reason']}"
    if code == "command_finished":
        return f"{_command(d)} : {command_outcome(d['state'], d.get('refusal'), d.get('late'))}"
    if code == "intervention_opened":
        return f"intervention n° {d['number']} ouverte par {d['actor']} : {d['title']}"
    if code == "intervention_changed":
        return f"intervention n° {d['number']} : {_changes(d)}"
    if code == "alert_raised":
        detail = alert_detail(d["alert"], d.get("facts"))
        return f"alerte : {alert_label(d['alert'])} ({detail})"
    if code == "alert_cleared":
        return f"fin d'alerte : {alert_label(d['alert'])}"
    return " ".join([code] + [f"{key}={value}" for key, value in d.items()])


def _command(details: dict) -> str:
    return COMMANDS.get(details["command"], details["command"])


def command_outcome(state: str, refusal: str | None = None, late: bool = False) -> str:
    """How a command ended: "réussi", "refusé (bad_mac)", "pas de réponse dans le délai"..."""
    if state == SUCCEEDED:
        outcome = "réussi"
    elif state == FAILED:
        outcome = f"refusé ({refusal or None})"
    elif state == TIMED_OUT:
        outcome = "pas de réponse dans le délai"
    else:
        outcome = "expiré avant le retour du terminal"
    return outcome + (", après le délai" if late else "")


def _changes(details: dict) -> str:
    """An intervention's changes: category as a word, status as its code (the console puts
    the word in, web/labels.event_text)."""
    changes = []
    if "category" in details:
        category = details["category"]
        changes.append(f"catégorie : {INTERVENTION_CATEGORIES.get(category, category)}")
    if "status" in details:
        changes.append(f"statut : {details['status']}")
    return ", ".join(changes)


# ---- audit ---------------------------------------------------------------------------------

_COMMAND_RESULT = re.compile(r"^(succeeded|failed|timed_out|expired)((?::[\w.-]*)*)$")
_CHANGES = re.compile(r"^(?:(?:category|status)=\w+,?)+$")


def audit_result(action: str, result: str | None) -> str | None:
    """An audit entry's result in French, as stored until the services kept codes there:
    "succeeded: réussi", "failed: refusé (bad_mac)", the category's word for an intervention
    opened, "catégorie : Assistance, statut : resolved" for one changed. Results stored as
    sentences (older rows) and the states on their way (queued, sent) stay as they are."""
    if not result:
        return result
    if action.startswith("command:"):
        found = _COMMAND_RESULT.match(result)
        if found:
            state, rest = found.group(1), found.group(2).split(":")[1:]
            refusal = (rest.pop(0) or None) if state == FAILED and rest else None
            late = rest == ["late"]
            return f"{state}: {command_outcome(state, refusal, late)}"[:500]
    elif action == "intervention:open":
        return INTERVENTION_CATEGORIES.get(result, result)
    elif action == "intervention:update" and _CHANGES.match(result):
        return _changes(dict(item.split("=", 1) for item in result.split(",") if item))
    return result


# ---- what the desk writes into a ticket by itself --------------------------------------------

class TicketTexts:
    """The interventions' TicketWords (service_layer/support_interventions.py), in French."""

    def joined_request(self, category: str, title: str) -> str:
        label = INTERVENTION_CATEGORIES.get(category, category)
        return f"Nouvelle demande du partenaire ({label}) : {title}"

    def alert_title(self, alert) -> str:
        return f"Alerte : {alert_label(alert.kind)}"

    def alert_note(self, alert) -> str:
        return alert_detail(alert.kind, alert.details, alert.text)
