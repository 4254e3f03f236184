"""Verification codes on their way out: sealed by the users service, opened here and nowhere else.

A code arrives sealed (services/runtime/sealing.py) and stays so wherever this service keeps it,
like wherever the bus keeps it (the producer's outbox, the stream, dead letters): whoever reads a
table, a stream or a dump learns nothing from it. The delivery worker opens it for the one moment it
renders the email or SMS that shows it; the clear code lives in that worker's memory only, and the
sealed one is blanked from the message once the delivery is sent or given up.
"""

from __future__ import annotations

from services.notifications.channels import RecipientRefused
from services.notifications.convert import SEALING_PURPOSES
from services.notifications.domain.records import ClaimedDelivery
from services.runtime.sealing import SealBroken, Sealer


class CodeOpener:
    def __init__(self, secret: str) -> None:
        self._sealers = {channel: Sealer(secret, purpose) for channel, purpose in SEALING_PURPOSES.items()}

    def open(self, delivery: ClaimedDelivery) -> str:
        """The delivery's code in clear ("" when it carries none).

        A code sealed for another user (the context is the recipient's id) or with another secret
        never opens: that delivery cannot succeed, so it is refused for good.
        """
        sealed = delivery.content.sealed_code
        if not sealed:
            return ""
        try:
            return self._sealers[delivery.channel].open(sealed, str(delivery.recipient_id))
        except SealBroken:
            raise RecipientRefused(
                "the verification code does not open: sealed for another user or with another secret",
                permanent=True,
            ) from None
