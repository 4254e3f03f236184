# seatmesh developer commands. `make run` starts the mesh; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format gen check-gen breaking release-contract compose-config envoy-config clean help web check-web

help:
	@echo "make run    start the whole mesh (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test   lint (ruff, buf), check gen/ is fresh, run every test"
	@echo "make gen    regenerate gen/ from protos/ after changing a contract"
	@echo "make web    rebuild the web console into web/dist after changing web/ or a contract"

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

# The web console (web/): built with Node.js (the machine's, else one from PyPI: web/tools/with-node)
# into web/dist, which is committed like gen/, so `make run` serves it with no Node.js and no network.
WITH_NODE := web/tools/with-node
WEB_MODULES := web/node_modules/.package-lock.json

$(WEB_MODULES): web/package.json web/package-lock.json | $(STAMP)
	$(WITH_NODE) npm ci --prefix web --no-audit --no-fund

web: $(WEB_MODULES)
	$(WITH_NODE) npm --prefix web run build

# Formatting, types and the console's unit tests; then web/dist must be what its sources build.
check-web: $(WEB_MODULES)
	$(WITH_NODE) npm --prefix web run lint
	$(WITH_NODE) npm --prefix web test
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(WITH_NODE) npm --prefix web run build -- --outDir "$$tmp/dist" --emptyOutDir >/dev/null && \
	  if diff -r -q web/dist "$$tmp/dist"; then echo "web/dist is up to date"; \
	  else echo "web/dist is stale: run make web and commit web/dist"; exit 1; fi

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

test: lint check-gen check-web breaking
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
