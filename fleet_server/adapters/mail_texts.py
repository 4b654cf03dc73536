"""The French words of the e-mails the services send: a Notice (service_layer/notices.py) made
into a subject and a body, and the mail port that sends it through a plain
`send(to, subject, body)` (SmtpMailer.send)."""

from collections.abc import Callable

from fleet_server.service_layer.notices import (
    ACCOUNT_ACTIVATION,
    HELP_ANSWER,
    HELP_STATUS,
    PASSWORD_RESET,
    Notice,
)

# The statuses of a help request as the partner reads them (the same words as the console's,
# entrypoints/support_texts.py; a unit test keeps them equal).
HELP_STATUSES = {"open": "Ouverte", "in_progress": "En cours", "resolved": "Résolue"}


class NoticeMailer:
    """The services' SendNotice port on a plain mail sender."""

    def __init__(self, send: Callable[[str, str, str], None]):
        self.send = send

    def __call__(self, to: str, notice: Notice) -> None:
        self.send(to, *render(notice))


def render(notice: Notice) -> tuple[str, str]:
    """(subject, body) of a notice, in French."""
    data = notice.data
    if notice.kind == ACCOUNT_ACTIVATION:
        return "Activez votre compte", activation_text(data["link"])
    if notice.kind == PASSWORD_RESET:
        return "Réinitialisation de votre mot de passe", reset_text(data["link"])
    if notice.kind in (HELP_STATUS, HELP_ANSWER):
        return help_request(notice.kind, data)
    raise ValueError(f"no text for the notice {notice.kind!r}")


def activation_text(link: str) -> str:
    return ("Bonjour,\n\nUn compte a été créé pour vous sur la console des terminaux.\n"
            "Pour l'activer et choisir votre mot de passe, ouvrez ce lien (valable 24 heures, "
            f"une seule fois) :\n\n{link}\n\nLe mot de passe doit comporter au moins 12 "
            "caractères, dont une majuscule, une minuscule, un chiffre et un caractère "
            "spécial (espace exclu).\n")


def reset_text(link: str) -> str:
    return ("Bonjour,\n\nVous avez demandé à changer votre mot de passe. Ouvrez ce lien "
            f"(valable 24 heures, une seule fois) :\n\n{link}\n\nSi vous n'avez rien demandé, "
            "ignorez ce message : votre mot de passe reste le même.\n")


def help_request(kind: str, data: dict) -> tuple[str, str]:
    number = data["number"]
    about = f"n° {number} (terminal {data['device_id']}, « {data['title']} »)"
    if kind == HELP_STATUS:
        status = HELP_STATUSES.get(data["status"], data["status"]).lower()
        subject = f"Demande d'assistance n° {number} : {status}"
        news = f"Votre demande d'assistance {about} est maintenant : {status}."
    else:
        subject = f"Demande d'assistance n° {number} : nouvelle réponse"
        news = f"L'assistance a répondu à votre demande {about} :\n\n{data.get('text') or ''}"
    return subject, (f"Bonjour,\n\n{news}\n\nSuivez vos demandes d'assistance dans la console "
                     f"(« Assistance ») : {data['page_url']}\n\nL'assistance du programme\n")
