# One command per task. `make demo` and `make test` set everything up from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL := services/classifier/model/topics.npz

.PHONY: demo test test-unit test-integration lint bench up down setup kafka-start kafka-stop clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The topic model is trained from the committed corpus (seconds) whenever it or the code
# that reads it changes.
$(MODEL): $(STAMP) data/topics/articles.jsonl data/topics/labels/adjudicated.jsonl \
		$(wildcard services/classifier/*.py)
	$(BIN)/wirewatch train-topics

setup: $(STAMP) $(MODEL)
	scripts/kafka.sh fetch
	@command -v docker-compose >/dev/null || scripts/install-compose.sh

kafka-start: setup
	scripts/kafka.sh start
	$(BIN)/wirewatch create-topics

kafka-stop:
	scripts/kafka.sh stop

# $(call with_broker,COMMAND): COMMAND with the broker up and the topics created. A
# broker started for it is stopped again at the end; one already running is left alone.
with_broker = if scripts/kafka.sh status >/dev/null 2>&1; then own=0; else own=1; fi; \
	scripts/kafka.sh start && $(BIN)/wirewatch create-topics && $(1); rc=$$?; \
	if [ $$own = 1 ]; then scripts/kafka.sh stop; fi; exit $$rc

## Run the demo pipeline: broker, topics, four services and the web view, local feeds,
## Slack and SMTP.
demo: setup
	@$(call with_broker,$(BIN)/wirewatch demo)

## Lint and types, unit tests, then integration tests on the real broker.
test: setup lint
	@command -v chromedriver >/dev/null || scripts/install-browser.sh
	$(BIN)/wirewatch export-schemas --check
	WIREWATCH_REQUIRE_COMPOSE=1 $(BIN)/pytest tests/unit -q
	@$(call with_broker,$(BIN)/pytest tests/integration -q)

## N synthetic articles through dedup, classifier and notifier on the real broker.
bench: kafka-start
	$(BIN)/python -m bench.pipeline $(BENCH_ARGS)

## Broker and the four services in the background; `make down` stops them.
up: kafka-start
	scripts/services.sh up

down:
	scripts/services.sh down
	scripts/kafka.sh stop

test-unit: setup
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check services schemas wirewatch wirewatch_cli devrig tests bench
	$(BIN)/mypy services schemas wirewatch wirewatch_cli devrig bench

clean: kafka-stop
	rm -rf .run
