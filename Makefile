# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Node test peers (Prism, the Bluesky PDS, an OpenID provider), pinned by package-lock.json.
PEERS := tests/peers
PEERS_STAMP := $(PEERS)/node_modules/.installed
# Python trees we lint and format-check (only those that exist in this checkout).
CODE := $(wildcard src tests migrations connectors benchmarks)
# pytest-xdist workers, each with its own PostgreSQL and Redis (docs/testing.md).
TEST_WORKERS ?= 2

.PHONY: run test test-fast lint typecheck openapi messages bench-api bench-scheduler clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Start the whole system (api + scheduler + worker) on SQLite with an in-process broker.
run: $(STAMP)
	$(BIN)/agency run

## Install what is missing, then run lint, types and the whole test suite against
## throwaway PostgreSQL and Redis servers that the test run starts and stops itself
## (one of each per worker). `make test-fast` skips the slow tier (docs/testing.md).
test: $(STAMP) test-deps $(PEERS_STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP) test-deps
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

## redis-server, and chromium for the browser tests, from Debian when missing
## (only when we may: root or passwordless sudo).
test-deps:
	@command -v redis-server >/dev/null 2>&1 || command -v /usr/bin/redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else echo "redis-server is missing: install Debian's redis-server package" >&2; exit 1; fi; }
	@command -v /usr/bin/chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: install Debian's chromium package" >&2; exit 1; fi; }

$(PEERS_STAMP): $(PEERS)/package.json $(PEERS)/package-lock.json
	npm ci --prefix $(PEERS) --no-audit --no-fund --loglevel=error
	touch $@

## Extract the messages marked for translation (agency.kernel.i18n) and update each language's
## catalogue under src/agency/locale; then translate what is new (tests/api/test_i18n.py checks).
messages: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k Text -k Plural:1,2 -k N_ \
	  --sort-output --no-location --project agency -o var/agency.pot src/agency
	$(BIN)/pybabel update -i var/agency.pot -d src/agency/locale -D agency \
	  --no-fuzzy-matching --ignore-obsolete -w 100

openapi: $(STAMP)
	$(BIN)/agency openapi --output openapi/openapi.json

bench-api: $(STAMP) test-deps
	$(BIN)/python benchmarks/api.py

bench-scheduler: $(STAMP) test-deps
	$(BIN)/python benchmarks/scheduler.py

clean:
	rm -rf $(VENV) var
