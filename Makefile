# Every target creates .venv on first use, so a fresh machine with Python and pip suffices.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all test lint typecheck unit sysdeps demo bench conformance clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check src tests bench scripts
	$(PY) -m ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(PY) -m mypy

# The interop tests drive the kernel's own tools inside network namespaces, and the
# ladder page is checked in a headless Chromium: install what a fresh Debian machine
# lacks (needs root, as those tests do).
SYSTOOLS := ip:iproute2 curl:curl ping:iputils-ping chromium:chromium chromedriver:chromium-driver
sysdeps:
	@missing=""; for t in $(SYSTOOLS); do \
		command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	fi

unit: $(STAMP) sysdeps
	$(PY) -m pytest -q -n 2

test: lint typecheck unit

demo: $(STAMP)
	$(VENV)/bin/synack demo

# bench/tun.py needs root: it builds network namespaces and TUN devices.
bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/memory.py
	$(PY) bench/flood.py
	$(PY) bench/tun.py

# The whole packetdrill corpus (beside this repository), and README's table of it.
CORPUS ?= ../shared/conformance/packetdrill
conformance: $(STAMP)
	-$(VENV)/bin/synack packetdrill $(CORPUS) --json .conformance.json > /dev/null
	$(PY) scripts/conformance_table.py .conformance.json --corpus $(CORPUS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
