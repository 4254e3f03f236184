"""The event bus: transactional outbox -> Redis Streams -> consumer groups with an inbox.

Producers write a state change and its event row in one transaction (`Transaction.publish`, in
services/runtime/database.py). One relay per service (`relay.py`; leader by advisory lock, so order
is kept) moves rows to the stream `<prefix>bus:<source>` and marks them sent; if Redis is down, rows
wait and drain when it returns. Consumers (`consumer.py`) read with a consumer group, run the
handler and record the `event_id` in their inbox in the same transaction, then acknowledge: a
redelivered message finds its id in the inbox and has no second effect. Messages stuck on a dead
consumer are reclaimed with XAUTOCLAIM; one that keeps failing goes to the dead-letter stream
`<prefix>bus:dead` and stops blocking the others.

Modules: `tables` (outbox and inbox DDL), `envelopes` (the envelope and stream names), `relay`,
`consumer`.
"""
