"""How a send can fail, the same for every outgoing channel (SMTP, SMS gateway, the users directory).

The delivery worker treats the two kinds differently: when the channel is down nothing is wrong with
the delivery, so it waits without spending an attempt; when the recipient is refused, the attempt
counts (and a permanent refusal ends the delivery at once).
"""

from __future__ import annotations


class ChannelUnavailable(Exception):
    """The server/gateway/directory can't be reached or refuses everything for now."""


class RecipientRefused(Exception):
    """This one message or address was refused."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
