# seatmesh developer commands. `make run` starts the mesh; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format gen check-gen breaking release-contract compose-config envoy-config clean help

help:
	@echo "make run    start the whole mesh (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test   lint (ruff, buf), check gen/ is fresh, run every test"
	@echo "make gen    regenerate gen/ from protos/ after changing a contract"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m scripts.mesh

gen: $(STAMP)
	scripts/gen

check-gen: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && scripts/gen "$$tmp/gen" >/dev/null && \
	  if diff -r -q gen "$$tmp/gen"; then echo "gen/ is up to date"; \
	  else echo "gen/ is stale: run scripts/gen and commit gen/"; exit 1; fi

envoy-config: $(STAMP)
	$(BIN)/python -m scripts.envoy_config --compose

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code

# The contract clients were given must keep working: no change that breaks generated code or the
# wire (buf's FILE rules) against the last released contract, protos/released.binpb.
breaking: $(STAMP)
	$(BIN)/buf breaking --against protos/released.binpb

# After a release: what is in protos/ now becomes the contract later changes are checked against.
release-contract: $(STAMP)
	$(BIN)/buf build --exclude-source-info -o protos/released.binpb

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/buf format -w

test: lint check-gen breaking
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
