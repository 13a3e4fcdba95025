# Each target makes .venv if missing and installs what it needs, system
# packages included when run as root, so a fresh machine needs only Python 3.10+.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip

.PHONY: demo test bench system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.demo-deps: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[all]'
	touch $@

# openssh-server for the ssh test hosts, chromium for the browser tests.
system-deps:
	@bash scripts/system-deps.sh

demo: $(VENV)/.demo-deps
	$(PY) -m pathos_magics.demo

test: system-deps $(VENV)/.test-deps
	$(PY) -m pytest tests

bench: $(VENV)/.test-deps
	$(PIP) install -q pathos
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) build *.egg-info
