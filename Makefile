# Two commands: `make run` (the portal with demo data) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
TEMPLATES := portal/templates
export FLASK_APP := portal

.PHONY: run test lint typecheck fmt bench clean i18n

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(BIN)/pip install -q -e ".[test]" $(foreach p,$(PLUGINS),-e "./$(p)[test]")
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/refund-portal dev

test: $(STAMP)
	$(BIN)/python -m pytest

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
