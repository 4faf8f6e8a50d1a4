# amlguard developer commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: setup demo test bench lint clean npm browser

setup: $(STAMP)

# No pip upgrade: the venv keeps the pip `python3 -m venv` bundles (23.2 here), the one users
# have, so setup installs the way theirs does (pyproject.toml says which release it once tripped on).
$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

npm: $(NPM_STAMP)

$(NPM_STAMP): package.json
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
	else npm install --no-audit --no-fund --loglevel=error; fi
	touch $(NPM_STAMP)

# Headless Chromium from Debian's packages for the dashboard tests (never a downloaded browser).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "warning: could not install chromium; browser tests will be skipped"; \
		else echo "note: run 'sudo apt-get install chromium chromium-driver' to enable browser tests"; fi; \
	fi

demo: setup
	@echo "== amlguard audit examples/workspace"
	@$(BIN)/amlguard audit examples/workspace --color always \
		|| echo "(exit $$?: findings at or above --fail-on high; this is what fails a CI job)"
	@echo
	@echo "== amlguard drift (bundled example data)"
	@$(BIN)/amlguard drift --baseline examples/drift/baseline.csv --current examples/drift/current.csv \
		|| echo "(exit $$?)"
	@echo
	@echo "== amlguard monitor (bundled example metrics: latency, errors, drift)"
	@$(BIN)/amlguard monitor --example examples/monitoring \
		|| echo "(exit $$?: monitor rules breached)"

test: setup npm browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run_all.py

# mypy finds a package by its import name, and shared/ is installed as `amlguard` through an
# import hook mypy does not run: show it the folder under that name in a scratch directory.
lint: setup
	$(BIN)/ruff check .
	mkdir -p .mypy_path && ln -sfn ../shared .mypy_path/amlguard
	MYPYPATH=.mypy_path $(BIN)/mypy -p amlguard -p functions

clean:
	rm -rf $(VENV) node_modules .amlguard .pytest_cache .mypy_cache .ruff_cache
