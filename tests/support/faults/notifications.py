"""Faults of the notifications service (`python -m tests.support.faults notifications <fault>`).

- `crash_after_smtp_accept`: the process SIGKILLs itself right after the SMTP server accepted the
  first message it sent, before the delivery is recorded SENT: the one window delivery cannot
  close (see services/notifications/delivery.py), made deterministic.
"""

from __future__ import annotations

import logging
import os
import signal

from services.notifications.app import build
from services.notifications.mailer import Email, SmtpMailer, SmtpSession
from services.notifications.settings import NotificationsSettings
from services.runtime.server import Service

log = logging.getLogger(__name__)


class _DyingSession(SmtpSession):
    async def send(self, message: Email, to_address: str) -> None:
        await super().send(message, to_address)
        log.error("fault injection: killing the process after the server accepted a message")
        os.kill(os.getpid(), signal.SIGKILL)


class _DyingMailer(SmtpMailer):
    def session(self) -> SmtpSession:
        return _DyingSession(self)


async def crash_after_smtp_accept(settings: NotificationsSettings) -> Service:
    return await build(settings, mailer=_DyingMailer(settings))


FAULTS = {"crash_after_smtp_accept": crash_after_smtp_accept}
