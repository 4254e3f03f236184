"""Bookings: the reservation saga, approval, waitlist, reviews."""
