"""What notifications tells Prometheus about email and SMS, named once here: what became of each
attempt, and how long a message takes from the bus event that asked for it to the server or gateway
accepting it. The delivery worker (delivery.py) counts both."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.notifications.domain.kinds import SENT_CHANNELS

# outcome: sent, retry (recipient refused for now), failed (given up), waiting (channel down).
DELIVERIES = Counter(
    "seatmesh_notification_deliveries_total", "Email and SMS send outcomes", ["channel", "outcome"]
)

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
