"""Typed clients of the other services notifications calls: users (addresses) and events (who
organizes an event this service has not heard of)."""
