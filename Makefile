# The two set-up commands: `make demo` and `make test`. Each creates .venv when it is
# missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint eval clean bench bench-quick bench-soak

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
	@mkdir -p out
	bash ../shared/eval/run_tagger.sh -o out/eval-pred.jsonl "$(abspath $(BIN))/newsdigest tag --json -"
	$(BIN)/python ../shared/eval/score.py out/eval-pred.jsonl

# Digests sent per second to a local SMTP sink (mailer alone, and `digest send` end to end);
# issue 7. Prints the figures; `make bench` puts them in docs/benchmarks.md (pass --write to
# bench_send.py to replace only its section by hand).
bench-send: $(STAMP)
	$(BIN)/python benchmarks/bench_send.py

# Articles tagged per second on one core (600-word multilingual articles); issue 5.
bench-tag: $(STAMP)
	$(BIN)/python benchmarks/bench_tag.py

# Digests composed and rendered per second (10,000 subscribers, 5,000 articles in 1,500
# stories, CPU time of one process); issue 6. `make bench` puts the figures in docs/benchmarks.md.
bench-digest: $(STAMP)
	$(BIN)/python benchmarks/bench_digest.py

# Ingest throughput vs the feedparser floor, and near-duplicate lookup at 100k/1M
# stored articles; issue 4. BENCH_INGEST_FLAGS=--quick for a smoke run.
bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py $(BENCH_INGEST_FLAGS)

# newsdigest vs the reader library on ../shared/bench's farm: cold, warm and 10%-changed
# `fetch --all` rounds (compare.sh); issue 3. N=10000 REPS=1 for the large run; needs
# ../.venv-bench (see benchmarks/bench_fetch.sh). Report in out/bench-fetch-N<N>.txt.
bench-fetch: $(STAMP)
	N=$${N:-1000} REPS=$${REPS:-3} benchmarks/bench_fetch.sh

# Every benchmark above plus the soak, each with a time budget (< 15 minutes on 2 cores);
# rewrites docs/benchmarks.md. bench-quick: small sizes (< 2 minutes), out/benchmarks-quick.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

# The daemon left alone against the feed farm (10,000 feeds, 10 minutes a run); issue 8.
bench-soak: $(STAMP)
	$(BIN)/python benchmarks/bench_soak.py

clean:
	rm -rf out .pytest_cache
