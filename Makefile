# Switchboard. `make run` to try it, `make test` to check it. Nothing here needs more than
# python3 (3.11+) on the PATH; everything else is installed into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_WORKERS ?= 2
# The MCP server's streamable HTTP (/mcp) runs on the ASGI entry point, beside the WSGI web.
MCP_PORT ?= 8001
PG_URL ?= postgres://postgres@127.0.0.1:5432/switchboard
STAMP := $(VENV)/.installed
# Test processes (pytest-xdist); each gets its own test database.
TEST_WORKERS ?= 2

.PHONY: install run serve test test-sqlite test-pg bench lint format migrate demo clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,dev]"
	touch $@

# A local .env with a fresh secret; never committed.
.env:
	@sed "s/^SECRET_KEY=.*/SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')/" .env.example > .env
	@echo "Wrote .env (from .env.example, with a random SECRET_KEY)."

install: $(STAMP) .env

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo_data
	$(PY) manage.py load_sms_demo
	$(PY) manage.py ensure_demo_user

run: demo
	$(PY) manage.py collectstatic --noinput -v0
	@echo "Switchboard on http://$(HOST):$(PORT)/  (web: gunicorn x$(WEB_WORKERS), plus one task worker; Ctrl-C stops all)"
	@echo "MCP server for agents on http://$(HOST):$(MCP_PORT)/mcp  (uvicorn, dashboard.asgi)"
	@$(PY) manage.py ensure_demo_user
	@# When one of the three stops (a port already taken, a crash), all stop: never half a Switchboard.
	@trap 'kill $$web $$mcp $$worker 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	export WEBHOOK_ALLOW_PRIVATE=$${WEBHOOK_ALLOW_PRIVATE:-true}; \
	MCP_URL=$${MCP_URL:-http://$(HOST):$(MCP_PORT)/mcp} $(VENV)/bin/gunicorn dashboard.wsgi --bind $(HOST):$(PORT) --workers $(WEB_WORKERS) --access-logfile - & web=$$!; \
	$(VENV)/bin/uvicorn dashboard.asgi:application --host $(HOST) --port $(MCP_PORT) --log-level warning & mcp=$$!; \
	$(PY) manage.py worker & worker=$$!; \
	while kill -0 $$web && kill -0 $$mcp && kill -0 $$worker; do sleep 1; done 2>/dev/null; \
	kill -0 $$web 2>/dev/null || echo "The web server stopped (above), so everything stops. If port $(PORT) is taken, choose free ports: make run PORT=8010 MCP_PORT=8011"; \
	kill -0 $$mcp 2>/dev/null || echo "The MCP server stopped (above), so everything stops. If port $(MCP_PORT) is taken, choose a free one: make run MCP_PORT=8011"; \
	kill -0 $$worker 2>/dev/null || echo "The task worker stopped (above), so everything stops."; \
	exit 1

# Whole suite on SQLite, then again on PostgreSQL when one answers at $(PG_URL).
test: install
	$(MAKE) --no-print-directory test-sqlite
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-pg; \
	else echo "PostgreSQL not reachable at $(PG_URL): skipped the PostgreSQL run (CI requires it)."; \
		test -z "$$CI"; fi

test-sqlite: install
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-pg: install
	DATABASE_URL=$(PG_URL) $(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: install
	$(PY) -m tests.benchmarks $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
