"""Typed clients of what payments calls: Stripe's API (the mesh's services call payments, not the other
way round: events and bookings reach it through the bus and OpenCheckout)."""
