PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck bench clean browser

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

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
# Installing it needs apt and root; where that fails the browser tests skip with the reason.
browser:
	@test -x $(CHROMIUM) || (command -v apt-get >/dev/null && \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1))) || \
		echo "note: $(CHROMIUM) could not be installed; browser tests will be skipped"

test: lint typecheck browser
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.faq_bench --all
	$(BIN)/python -m bench.faq_bench --edit-stall 10000
	$(BIN)/python -m bench.acd_sim --agents 10 --load 0.85 --chats 200000 --priority-share 0.2 --head-start-s inf
	$(BIN)/python -m bench.acd_sim --measure-dispatch
	$(BIN)/python -m bench.handoff_actions --queued 2000 --samples 50
	$(BIN)/python -m bench.webchat --visitors 1 --questions 20
	$(BIN)/python -m bench.webchat --visitors 10 --questions 20
	$(BIN)/python -m bench.webchat --visitors 50 --questions 20
	$(BIN)/python -m bench.history --all
	$(BIN)/python -m bench.resend_check
	$(BIN)/python -m bench.query_plans --messages 300000
	$(BIN)/python -m bench.search --messages 1000000
	$(BIN)/python -m bench.telegram --chats 500 --per-chat 2
	$(BIN)/python -m bench.scaleout --agents 6 --customers 24 --lines 3 --visitors 10 --questions 40
	$(BIN)/python -m bench.staffing_report --days 30 --per-day 2000
	$(BIN)/python -m bench.drafts_bench --messages 100000
	$(BIN)/python -m bench.soak --minutes 5

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
