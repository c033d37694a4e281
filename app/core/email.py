"""Outgoing email over SMTP; logged instead of sent when no SMTP server is configured."""

import logging
import smtplib
from email.message import EmailMessage

from app.core.config import Settings

logger = logging.getLogger(__name__)


def send_email(settings: Settings, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text email; never raises (a mail failure must not fail the caller). True when sent."""
    # Names people chose end up in subjects: a line break there would start a header (or a log line) of its own.
    subject = " ".join(subject.split())
    message = EmailMessage()
    message["From"] = settings.EMAIL_FROM
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not settings.SMTP_HOST:
        logger.info("SMTP not configured; email to %s not sent: %s", to, subject)
        return False
    smtp_class = smtplib.SMTP_SSL if settings.SMTP_SSL else smtplib.SMTP
    try:
        with smtp_class(settings.SMTP_HOST, settings.SMTP_PORT, timeout=settings.SMTP_TIMEOUT) as smtp:
            if settings.SMTP_STARTTLS and not settings.SMTP_SSL:
                smtp.starttls()
            if settings.SMTP_USER and settings.SMTP_PASSWORD:
                smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        logger.error("sending email to %s failed: %s", to, exc)
        return False
    logger.info("email sent to %s: %s", to, subject)
    return True
