# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
# Chromium for the browser tests; Pango and the CJK fonts for WeasyPrint's PDFs.
BROWSER_PACKAGES := chromium fonts-noto-cjk libpangoft2-1.0-0
# The store tests also run on PostgreSQL: Debian's server binaries (tests/postgres.py starts its own server).
POSTGRES_PACKAGES := postgresql
PG_CTL := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))

.PHONY: run test lint unit browser postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/awardcycle up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# tests/test_browser.py drives Debian's Chromium; only the tests need it, not `make run`.
browser:
	@{ test -x $(CHROMIUM) && /sbin/ldconfig -p | grep -q libpangoft2-1.0; } || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	  elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "Chromium, Pango or the CJK fonts are missing; install them with: sudo apt-get install -y $(BROWSER_PACKAGES)" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); }

# Only the binaries are needed: the tests run a server of their own, so the packaged one is not started here.
postgres:
	@test -n "$(PG_CTL)" || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	  elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "PostgreSQL is missing; install it with: sudo apt-get install -y $(POSTGRES_PACKAGES)" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(POSTGRES_PACKAGES); }

unit: $(STAMP) browser postgres
	$(BIN)/pytest -q

test: lint unit

clean:
	rm -rf $(VENV) build *.egg-info
