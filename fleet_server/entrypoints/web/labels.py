"""French words for the codes the services and the terminals speak (device states, timeline
kinds, reset causes, diagnostic details, campaign states and reasons).

The services keep their codes (the API and the database use them); the console and the support
CLI turn them into French here, at the edge. A code this module does not know is shown as it
is rather than hidden, so a new one is visible and gets its word added here.
"""

import re

from fleet_server.domain.roles import OPERATOR, PARTNER_ADMIN, PARTNER_USER, SUPPORT
from fleet_server.entrypoints.support_texts import (
    ALERT_KINDS,  # noqa: F401 (for the CLI)
    INTERVENTION_CATEGORIES,
    INTERVENTION_STATUSES,
    timeline_text,
)
from protocol import errors

ROLES = {OPERATOR: "Opérateur du programme", SUPPORT: "Assistance",
         PARTNER_ADMIN: "Administrateur partenaire", PARTNER_USER: "Utilisateur partenaire"}
DEVICE_STATES = {"provisioned": "en préparation", "assigned": "alloué, à mettre en service",
                 "active": "en service", "suspended": "suspendu", "retired": "retiré"}
# The partner's and the operator's pages: table cells, capitalised.
TERMINAL_STATES = {code: text[0].upper() + text[1:] for code, text in DEVICE_STATES.items()}
PARTNER_CONNECTIONS = {"online": "En ligne", "offline": "Hors ligne",
                       "unresponsive": "Connecté mais muet"}
AGREEMENT_STATES = {"requested": "Demandée", "accepted": "Acceptée, à signer",
                    "signed": "Signée", "terminated": "Résiliée"}  # reference_ledger/rules.py
BATCH_STATES = {"requested": "Remboursement demandé", "paid": "Payé",
                "cancelled": "Annulé"}  # reference_ledger/settlement.py
EVENT_KINDS = {"status": "Connexion", "error": "Erreur", "reboot": "Redémarrage",
               "command": "Commande", "update": "Mise à jour", "sales": "Ventes",
               "alert": "Alerte", "intervention": "Intervention"}
# What a terminal reports as the cause of its last start (heartbeat field `rst`).
RESET_CAUSES = {"power_on": "mise sous tension", "watchdog": "chien de garde (blocage)",
                "soft": "redémarrage logiciel", "hard": "bouton de réinitialisation",
                "deepsleep": "sortie de veille", "brownout": "baisse de tension",
                "restart": "redémarrage demandé", "update": "mise à jour",
                "unknown": "cause inconnue"}
SCANNER_STATES = {"ok": "en service", "fault": "en panne", "absent": "absent"}
CONNECTIONS = {"online": "en ligne", "offline": "hors ligne", "unresponsive": "muet",
               "unknown": "inconnu"}
CHECKS = {"network": "Réseau", "scanner": "Lecteur", "display": "Écran", "keypad": "Clavier",
          "clock": "Horloge", "memory": "Mémoire", "journal": "Journal des ventes"}
COMMANDS = {"diagnostics": "Diagnostic", "restart": "Redémarrage", "get_logs": "Journal",
            "ping": "Test de présence", "set_config": "Configuration"}
# The details a diagnostic check returns beside its ok flag (firmware runtime.diagnostics).
CHECK_DETAILS = {"state": "état", "drift_s": "décalage", "free": "mémoire libre",
                 "pending": "vente en attente"}
CAMPAIGN_STATES = {"running": "En cours", "paused": "En pause", "cancelled": "Annulée",
                   "aborted": "Interrompue (trop d'échecs)", "completed": "Terminée"}
CAMPAIGN_DEVICE_STATES = {
    "pending": "à proposer", "offered": "proposée", "queued": "en file sur le terminal",
    "downloading": "téléchargement", "verifying": "vérification", "installing": "installation",
    "rebooting": "redémarrage", "succeeded": "réussie", "failed": "échec",
    "rolled_back": "revenu à la version précédente", "rejected": "refusée par le terminal",
    "timed_out": "sans réponse", "skipped": "non proposée"}

# The codes a timeline sentence carries, by what they follow (support_texts.timeline_text
# words the events so, and the rows stored as sentences before the codes read so too).
_IN_SUMMARY = (
    (re.compile(r"(redémarrage \()(\w+)(\))"), lambda code: reset_cause(code)),
    (re.compile(r"(lecteur : )(\w+)()"), lambda code: scanner_state(code)),
    (re.compile(r"(\(terminal )(\w+)(\))"), lambda code: CONNECTIONS.get(code, code)),
    (re.compile(r"(refusé \()(\w+)(\))"), lambda code: refusal(code).lower()),
    (re.compile(r"(statut : )(\w+)()"), lambda code: INTERVENTION_STATUSES.get(code, code).lower()),
)
_FAILURE_RATE = re.compile(r"^failure rate (\d+)/(\d+) over (\d+)%$")
_STUCK = re.compile(r"^stuck in (\w+)$")


def device_state(code: str | None) -> str:
    return DEVICE_STATES.get(code or "", code or "—")


def reset_cause(code: str | None) -> str:
    return RESET_CAUSES.get(code or "", code or "—")


def scanner_state(code: str | None) -> str:
    return SCANNER_STATES.get(code or "", code or "—")


def event_kind(code: str) -> str:
    return EVENT_KINDS.get(code, code)


def event_text(summary: str) -> str:
    """A timeline summary with the codes it carries in French: "redémarrage (power_on)",
    "lecteur : fault", "(terminal offline)", "refusé (bad_mac)". The summaries are stored as
    written, rows from before this translation too, so the words are put in when shown."""
    for pattern, word in _IN_SUMMARY:
        summary = pattern.sub(lambda m, word=word: m.group(1) + word(m.group(2)) + m.group(3),
                              summary)
    return summary


def check_detail(key: str, value) -> str:
    """One detail of a diagnostic check, e.g. "décalage : 3 s", "mémoire libre : 81,2 Kio"."""
    label = CHECK_DETAILS.get(key, key)
    if key == "state":
        shown = scanner_state(str(value))
    elif key == "drift_s":
        shown = f"{value} s"
    elif key == "free" and isinstance(value, int):
        shown = f"{value / 1024:.1f} Kio".replace(".", ",")
    elif key == "pending":
        shown = f"n° {value}" if value else "aucune"
    elif isinstance(value, bool):
        shown = "oui" if value else "non"
    else:
        shown = str(value)
    return f"{label} : {shown}"


def refusal(code: str | None) -> str:
    """Why a terminal refused a command (its error code), in French."""
    if code and errors.is_known(code):
        return errors.text_fr(code)
    return code or "sans motif"


def campaign_reason(reason: str | None) -> str:
    """Why a campaign or one of its terminals stopped, as the update service recorded it."""
    if not reason:
        return ""
    if reason in CAMPAIGN_STATES:
        return CAMPAIGN_STATES[reason].lower() + (" par l'opérateur" if reason == "cancelled"
                                                  else "")
    rate = _FAILURE_RATE.match(reason)
    if rate:
        failed, finished, limit = rate.groups()
        return f"{failed} échec(s) sur {finished} terminaux terminés, au-delà de {limit} %"
    stuck = _STUCK.match(reason)
    if stuck:
        return f"bloqué à l'étape « {campaign_device_state(stuck.group(1))} »"
    return event_text(reason)


def campaign_device_state(code: str) -> str:
    return CAMPAIGN_DEVICE_STATES.get(code, code)


def file_size(size: int) -> str:
    """A file's size as a French reader expects it: "812 octets", "1,2 Ko", "3,4 Mo"."""
    if size < 1024:
        return f"{size} octet{'s' if size > 1 else ''}"
    for unit, scale in (("Ko", 1024), ("Mo", 1024 ** 2), ("Go", 1024 ** 3)):
        if size < scale * 1024 or unit == "Go":
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    return f"{size} octets"  # not reached


# Form fields as the pages name them, for a form refused before any page code ran.
FIELDS = {"reason": "raison", "lines": "lignes", "title": "titre", "text": "note",
          "note": "note", "email": "e-mail", "name": "nom", "role": "profil",
          "category": "catégorie", "status": "statut", "reference": "référence interne",
          "amount": "montant", "code": "code", "device_id": "n° du terminal",
          "password": "mot de passe", "confirm": "confirmation"}


def invalid_form_text(errors: list[dict]) -> str:
    names = sorted({str((e.get("loc") or ("",))[-1]) for e in errors})
    shown = ", ".join(f"« {FIELDS.get(n, n)} »" for n in names)
    return (f"Formulaire refusé : vérifiez {shown} (valeur absente, trop longue ou hors "
            "limites), puis recommencez depuis la page précédente.")


def install(env) -> None:
    """Make these words available to every template as filters."""
    env.filters.update(device_state=device_state, reset_cause=reset_cause,
                       scanner_state=scanner_state, event_kind=event_kind,
                       event_text=event_text, timeline_text=timeline_text,
                       check_detail=check_detail, refusal=refusal,
                       campaign_reason=campaign_reason,
                       campaign_device_state=campaign_device_state, file_size=file_size)
    from fleet_server.entrypoints.web.refusals import till_result

    env.globals.update(TERMINAL_STATES=TERMINAL_STATES, PARTNER_CONNECTIONS=PARTNER_CONNECTIONS,
                       AGREEMENT_STATES=AGREEMENT_STATES, till_result=till_result,
                       INTERVENTION_CATEGORIES=INTERVENTION_CATEGORIES,
                       INTERVENTION_STATUSES=INTERVENTION_STATUSES)


_MOVE = re.compile(r"^an intervention (\w+) cannot become (\w+)$")
_SUPPORT_ERRORS = (
    ("reason", "indiquez la raison (3 à 500 caractères, sans caractères de contrôle)."),
    ("title", "indiquez un titre (3 à 200 caractères)."),
    ("note", "la note est vide ou trop longue."),
    ("this terminal is retired", "ce terminal est retiré du parc."),
    ("no such intervention", "cette intervention n'est pas celle de ce terminal."),
    ("unknown category", "catégorie inconnue."),
    ("unknown status", "statut inconnu."),
    ("unknown command", "commande inconnue."),
    ("get_logs takes lines", "le nombre de lignes va de 1 à 200."),
    ("timeout_s", "le délai de réponse va de 5 à 600 secondes."),
    ("queue_ttl_s", "l'attente d'un terminal hors ligne va de 60 secondes à 7 jours."),
)


def support_error(text: str) -> str:
    """A refusal of the support services (written in English for the API) in French."""
    move = _MOVE.match(text)
    if move:
        before, after = (INTERVENTION_STATUSES.get(s, s) for s in move.groups())
        return f"une intervention « {before} » ne peut pas passer à « {after} »."
    for start, french in _SUPPORT_ERRORS:
        if text.startswith(start):
            return french
    return text
