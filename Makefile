PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sanad run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.faq_bench --all
	$(BIN)/python -m bench.acd_sim --agents 10 --load 0.85 --chats 200000 --priority-share 0.2 --head-start-s inf
	$(BIN)/python -m bench.acd_sim --measure-dispatch

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
