"""python -m scripts.openapi: writes the OpenAPI document (see scripts/openapi/__init__.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scripts.openapi.contract import load
from scripts.openapi.document import build
from scripts.openapi.edge import load_edge

CONTRACT_VERSION = "v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--descriptor", type=Path, required=True, help="the descriptor set Envoy loads")
    parser.add_argument(
        "--source-info", type=Path, required=True, help="the same protos built with source info (comments)"
    )
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    document = build(load(args.descriptor, args.source_info), load_edge(), version=CONTRACT_VERSION)
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
