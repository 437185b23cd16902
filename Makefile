# The two set-up commands: `make demo` and `make test`. Each creates .venv when it is
# missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint eval clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m newsdigest.demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

eval: $(STAMP)
	bash ../shared/eval/run_tagger.sh -o out/eval-pred.jsonl "$(abspath $(BIN))/newsdigest tag --json -"
	$(BIN)/python ../shared/eval/score.py out/eval-pred.jsonl

bench-send: $(STAMP)
	$(BIN)/python benchmarks/bench_send.py --write

clean:
	rm -rf out .pytest_cache
