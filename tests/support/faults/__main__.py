"""`python -m tests.support.faults <service> <fault>`: serve <service> with <fault> injected."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from services.runtime.server import run_service


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    service, fault = sys.argv[1], sys.argv[2]
    faults = importlib.import_module(f"tests.support.faults.{service}").FAULTS
    if fault not in faults:
        raise SystemExit(f"{service} knows no fault {fault!r}; known: {', '.join(sorted(faults))}")
    settings_module = importlib.import_module(f"services.{service}.settings")
    run_service(
        module=f"services.{service}",
        settings_class=getattr(settings_module, f"{service.capitalize()}Settings"),
        build=faults[fault],
        migrations=Path(importlib.import_module(f"services.{service}").__file__ or "").parent / "migrations",
    )


if __name__ == "__main__":
    main()
