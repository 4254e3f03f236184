"""Typed clients of the other services bookings calls."""
