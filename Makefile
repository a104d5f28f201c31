# The two commands of the README: `make demo` and `make test`. Both build .venv from scratch
# on a fresh machine; nothing needs installing by hand. Shared data and reference models are
# read from $(SIAGA_SHARED) (default ../shared), never copied into the repository.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export SIAGA_SHARED ?= $(abspath ../shared)
export SIAGA_MODEL_PATH ?= $(SIAGA_SHARED)/models
OUT ?= out
# e.g. DEMO_ARGS='--duration 0': `siaga demo` serves the dashboard until Ctrl-C in a terminal
DEMO_ARGS ?=

.PHONY: setup demo-setup sysdeps demo-sysdeps demo test lint unit bench clean

# What each command installs. The demo is the central server's install plus a broker: no torch,
# no test tools, no browser (tests/install/test_demo_install.py holds it to that).
DEMO_EXTRAS := central
TEST_EXTRAS := central,dev,train
# The CPU build of torch on the CI machines' disk; a bare `torch` from PyPI is the CUDA build (GBs).
TORCH := torch==2.13.0

# Debian packages (command:package pairs). The demo needs a broker only; the tests add its
# clients, ffmpeg for RTSP/HTTP test streams, headless Chromium for the web pages and systemd's
# analyzer for the unit files. Installed when missing and we are root (CI is); otherwise the tests
# needing them skip.
DEMO_SYSDEPS := mosquitto:mosquitto
TEST_SYSDEPS := $(DEMO_SYSDEPS) mosquitto_sub:mosquitto-clients ffmpeg:ffmpeg chromium:chromium \
	chromedriver:chromium-driver systemd-analyze:systemd promtool:prometheus

define install_sysdeps
	@missing=""; for d in $(1); do \
	  PATH="$$PATH:/usr/sbin" command -v $${d%%:*} >/dev/null || missing="$$missing $${d#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing"; fi; \
	fi
endef

$(VENV)/.demo: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(DEMO_EXTRAS)]'
	touch $@

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(TORCH)'
	$(PY) -m pip install -q -e '.[$(TEST_EXTRAS)]'
	touch $@

setup: $(VENV)/.installed

demo-setup: $(VENV)/.demo

demo-sysdeps:
	$(call install_sysdeps,$(DEMO_SYSDEPS))

sysdeps:
	$(call install_sysdeps,$(TEST_SYSDEPS))
	@# PostgreSQL for the central tests (the fixtures also start it when they can).
	@if [ "$$(id -u)" = 0 ] && [ -d /etc/postgresql ]; then \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start 2>/dev/null || true; \
	fi

demo: demo-setup demo-sysdeps
	$(VENV)/bin/siaga models
	$(VENV)/bin/siaga demo --workdir $(OUT)/demo $(DEMO_ARGS)

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
	$(PY) -m benchmarks.cctv_truth --out $(OUT)/bench
	$(PY) -m benchmarks.cameras_per_box --out $(OUT)/bench

clean:
	rm -rf $(VENV) $(OUT)
