"""The notifications domain: its vocabulary, types and rules as plain Python, without I/O, protobuf
or SQL, so every rule can be read and tested on its own.

- `kinds`: the enums (notification kinds, channels, delivery, booking and event states...).
- `messages`: what a message says (`Content`) and what it talks about (events, bookings), with
  times shown in the event's own time zone.
- `records`: what the store, the bus and other services hand over (deliveries, reminders,
  inbox entries, contacts...).
- `rules`: who gets what on which channel, retries, reminders, message identity, and the
  validation of requests.
"""
