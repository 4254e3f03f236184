"""README's "From clone to a booked seat" run with bash exactly as written, so it cannot rot.

Two things differ from a person at a terminal: the edge's address (the e2e mesh listens on a free
port, not 8080), and the two verification codes, which a person copies from the mail `make run`
prints and this test reads from the mesh's SMTP sink while the script runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.mesh import Mesh

ROOT = Path(__file__).resolve().parents[2]
MAKE_RUN_ADDRESS = "API=http://127.0.0.1:8080"

# Prints the newest code the SMTP sink holds for an address (waiting for it to arrive).
CODE_FROM_SINK = """
seatmesh_code() {
  "$SEATMESH_PYTHON" -c 'import sys; from pathlib import Path
from scripts.openapi.fuzz import verification_code
print(verification_code(Path(sys.argv[1]), sys.argv[2], 0.0))' "$SEATMESH_MAIL" "$1"
}
"""


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## From clone to a booked seat") :]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the walkthrough's shell block is gone"
    return block[1]


def printed_json(output: str) -> list[Any]:
    """Every JSON value the script printed (curl prints bodies back to back)."""
    decoder = json.JSONDecoder()
    values, position = [], 0
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        value, position = decoder.raw_decode(output, position)
        values.append(value)
    return values


def test_the_readme_walkthrough_books_two_seats_as_written(mesh: Mesh) -> None:
    for tool in ("bash", "curl", "jq", "date"):
        assert shutil.which(tool), f"the walkthrough needs {tool} (.ci/run installs jq)"
    script = walkthrough()
    assert script.count(MAKE_RUN_ADDRESS) == 1
    assert "<Ada code>" in script
    assert "<Bob code>" in script
    script = script.replace(MAKE_RUN_ADDRESS, f"API={mesh.rest_url}")
    # Inside the single-quoted JSON: close the quote, substitute the code, reopen it.
    script = script.replace("<Ada code>", "'\"$(seatmesh_code ada@example.com)\"'")
    script = script.replace("<Bob code>", "'\"$(seatmesh_code bob@example.com)\"'")
    environment = dict(
        os.environ,
        SEATMESH_PYTHON=sys.executable,
        SEATMESH_MAIL=str(mesh.var / "mail"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "gen")]),
    )
    finished = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + CODE_FROM_SINK + script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    printed = printed_json(finished.stdout)
    errors = [value for value in printed if isinstance(value, dict) and {"code", "message"} <= value.keys()]
    assert not errors, errors
    (booking,) = [
        value for value in printed if isinstance(value, dict) and "state" in value and "seats" in value
    ]
    assert booking["state"] == "CONFIRMED"
    assert booking["seats"] == 2
    assert {"seatsTaken": 2, "seatsAvailable": 28} in printed
