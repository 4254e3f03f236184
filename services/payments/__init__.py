"""Payments of paid bookings: checkouts with a provider, refunds, and the organizers' sales report."""
