# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# make demo PORT=8001 MQTT_PORT=1885 when the default ports are taken.
demo: $(STAMP)
	$(BIN)/fleet-demo $(if $(PORT),--port $(PORT)) $(if $(MQTT_PORT),--mqtt-port $(MQTT_PORT))

test: $(STAMP)
	bash scripts/test.sh $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	PYTHONPATH=firmware $(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/protocol.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis var
