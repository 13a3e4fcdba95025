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
	$(PIP) install -q -e '.[notebook]'
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[all]'
	touch $@

# openssh-server for the ssh test hosts, chromium for the browser tests.
system-deps:
	@bash scripts/system-deps.sh

demo: $(VENV)/.demo-deps
	$(PY) -m pathos_magics.demo notebooks/quickstart.ipynb

test: system-deps $(VENV)/.test-deps
	$(PY) -m pytest tests

# The peers (pathos, mpire, ...) go into their own venv, never into .venv.
BENCH = .venv-bench
$(BENCH)/.deps: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/pip install -q --upgrade pip
	$(BENCH)/bin/pip install -q -e '.[all]' pathos
	touch $@

bench: $(BENCH)/.deps
	$(BENCH)/bin/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) $(BENCH) build *.egg-info
