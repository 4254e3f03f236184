"""Test-only fault injection: a real service process with one dependency swapped for a faulty one.

    python -m tests.support.faults <service> <fault>      (SEATMESH_* settings as for the service)

Production code has no fault switch at all, so none can be turned on by accident: the service's
`app.build(settings, **overrides)` takes its collaborators explicitly, and a fault is a build that
passes a wrapped one (`tests/support/faults/<service>.py`, a `FAULTS` dict of name -> build).
"""
