# Two commands for a newcomer: `make run` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the test suite drives for real: ClickHouse, a browser, a web server, Prometheus.
TEST_DEBS := clickhouse-server chromium nginx-light prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: tracker run test lint typecheck pytest test-slow bench bench-soak bench-deps clean system-deps

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv is missing; installing it with apt-get"; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded,fast]'
	@touch $@

$(VENV)/.dev-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

run: $(VENV)/.run-deps
	$(BIN)/ashiato serve

system-deps:
	@missing=""; \
	command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] || missing="$$missing clickhouse-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

pytest: $(VENV)/.dev-deps system-deps
	$(BIN)/pytest -m "not slow"

test: lint typecheck pytest

# Soak variants and the replicated cluster (Debian's zookeeperd) are left out of `make test`.
test-slow: $(VENV)/.dev-deps system-deps
	@[ -d /usr/share/zookeeper ] || { $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zookeeperd; }
	$(BIN)/pytest -m slow

bench-deps: $(VENV)/.dev-deps
	@missing=""; \
	command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] || missing="$$missing clickhouse-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v goaccess >/dev/null || missing="$$missing goaccess"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Not part of `make test`: figures side by side with nginx and bare aiohttp (see BENCHMARKS.md).
bench: bench-deps
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.loader
	$(BIN)/python -m bench.ingest

bench-soak: bench-deps
	$(BIN)/python -m bench.soak --minutes $(or $(MINUTES),10)

# The tracker browsers get is the minified source; a test fails when it is out of date.
tracker: $(VENV)/.dev-deps
	$(BIN)/python -c "import rjsmin, pathlib; s = pathlib.Path('collector/static'); \
	  (s / 't.min.js').write_text(rjsmin.jsmin((s / 't.js').read_text(), keep_bang_comments=False) + '\n')"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
