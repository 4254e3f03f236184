"""What notifications tells Prometheus about email and SMS, named once here: how long a message
takes from the bus event that asked for it to the server or gateway accepting it.

(What became of each attempt, `seatmesh_notification_deliveries_total`, is counted by the delivery
worker, delivery.py.)
"""

from __future__ import annotations

from prometheus_client import Histogram

from services.notifications.domain.kinds import SENT_CHANNELS

# From the delivery row's creation (the bus event handled) to SENT: seconds when all is well,
# minutes to hours when a channel was down and the delivery waited for it.
DELIVERY_SECONDS = Histogram(
    "seatmesh_notification_delivery_seconds",
    "Time from a delivery's creation to the channel accepting it",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600),
)
# Every channel's series exists from the start, so rules and panels see 0 rather than nothing.
for _channel in SENT_CHANNELS:
    DELIVERY_SECONDS.labels(_channel)
