"""Outgoing e-mail through SMTP (smtplib), configured by FLEET_SMTP_* settings.

Without FLEET_SMTP_HOST nothing can be sent: `send` raises MailNotConfigured, and the console
says so to the operator instead of pretending the link went out.
"""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class MailNotConfigured(RuntimeError):
    """FLEET_SMTP_HOST is not set."""


class MailFailed(RuntimeError):
    """The SMTP server could not be reached or refused the message."""


class SmtpMailer:
    def __init__(self, host: str | None, port: int = 25, sender: str = "no-reply@localhost",
                 username: str | None = None, password: str | None = None,
                 starttls: bool = False, use_ssl: bool = False, timeout_s: float = 10.0):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.use_ssl, self.timeout_s = starttls, use_ssl, timeout_s

    @classmethod
    def from_settings(cls, settings) -> "SmtpMailer":
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_from,
                   settings.smtp_user, settings.smtp_password, settings.smtp_starttls,
                   settings.smtp_ssl)

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def send(self, to: str, subject: str, body: str) -> None:
        if not self.host:
            raise MailNotConfigured("FLEET_SMTP_HOST is not set: no e-mail can be sent")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            if self.use_ssl:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as err:
            raise MailFailed(f"SMTP {self.host}:{self.port}: {type(err).__name__}") from err
