# The two commands of the README: `make demo` and `make test`. Both build .venv from scratch
# on a fresh machine; nothing needs installing by hand. Shared data and reference models are
# read from $(SIAGA_SHARED) (default ../shared), never copied into the repository.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export SIAGA_SHARED ?= $(abspath ../shared)
export SIAGA_MODEL_PATH ?= $(SIAGA_SHARED)/models
OUT ?= out

.PHONY: setup sysdeps demo test lint unit bench clean

# Debian packages the integration tests and the demo use (command:package pairs): a real broker
# and its clients, ffmpeg for RTSP/HTTP test streams, headless Chromium for the calibration page.
# Installed when missing and we are root (CI is); otherwise the tests needing them skip.
SYSDEPS := mosquitto:mosquitto mosquitto_sub:mosquitto-clients ffmpeg:ffmpeg chromium:chromium chromedriver:chromium-driver

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[central,dev,train]'
	touch $@

setup: $(VENV)/.installed

sysdeps:
	@missing=""; for d in $(SYSDEPS); do \
	  PATH="$$PATH:/usr/sbin" command -v $${d%%:*} >/dev/null || missing="$$missing $${d#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing; tests needing them will skip"; fi; \
	fi
	@# PostgreSQL for the central tests (the fixtures also start it when they can).
	@if [ "$$(id -u)" = 0 ] && [ -d /etc/postgresql ]; then \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start 2>/dev/null || true; \
	fi

demo: setup sysdeps
	$(VENV)/bin/siaga models
	$(VENV)/bin/siaga demo --workdir $(OUT)/demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: setup sysdeps
	$(VENV)/bin/pytest -q

test: lint unit

bench: setup sysdeps
	$(PY) -m benchmarks.latency --out $(OUT)/bench
	$(PY) -m benchmarks.agent_throughput --out $(OUT)/bench
	$(PY) -m benchmarks.ingest --out $(OUT)/bench

clean:
	rm -rf $(VENV) $(OUT)
