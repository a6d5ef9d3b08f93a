# Two commands: `make run` (the portal with demo data) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
PORT ?= 5000
HOST ?= 127.0.0.1
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
TEMPLATES := portal/templates
export FLASK_APP := portal

.PHONY: run demo-bank-statement test test-slow lint typecheck fmt bench clean i18n

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# `make test` installs the test tools; `make run` only what running the portal needs
$(STAMP): $(BIN)/python pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(BIN)/pip install -q -e ".[test]" $(foreach p,$(PLUGINS),-e "./$(p)[test]")
	touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): $(BIN)/python pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(BIN)/pip install -q -e ".[embedded]" $(foreach p,$(PLUGINS),-e "./$(p)")
	touch $(RUN_STAMP)

# the demo has no bank: while `make run` runs, this plays the bank's day for its bank refunds
demo-bank-statement: $(RUN_STAMP)
	PORTAL_ENVIRONMENT=development $(BIN)/refund-portal demo-bank-statement

# make run PORT=8080 HOST=0.0.0.0
run: $(RUN_STAMP)
	$(BIN)/refund-portal dev --host $(HOST) --port $(PORT)

# the slow end-to-end tests (crash trials, real gunicorn and worker fleets, browsers, generated
# API requests) are `make test-slow`; CI (.ci/run) runs both
test: $(STAMP)
	$(BIN)/python -m pytest -n 4 --dist worksteal -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 4 --dist worksteal -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint $(TEMPLATES) --check
	$(BIN)/djlint $(TEMPLATES) --lint
	$(BIN)/mypy

# mypy over portal/, jobs/ and the plugins: what it checks is in pyproject.toml [tool.mypy]
typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/djlint $(TEMPLATES) --reformat --warn

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache

i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -k lazy_gettext --no-location --sort-output -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d portal/translations
