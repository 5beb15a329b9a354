# Two-command start: `make demo` and `make test`. Both create or update .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
CUSTOMERS ?= 20000

.PHONY: demo test venv clean bench lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/percorso demo --customers $(CUSTOMERS) --dir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --events 1000000

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache

# Rewrite constraints.txt from what .venv holds now (after adding or upgrading a dependency).
lock: $(STAMP)
	{ echo "# Exact versions for make demo / make test (pip install -c constraints.txt)."; \
	  echo "# Regenerate after changing dependencies: make lock (then run make test)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^percorso'; } > constraints.txt
