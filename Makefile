# Two-command start: `make demo` and `make test`. Both create or update .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
CUSTOMERS ?= 20000

.PHONY: demo test venv clean bench lock browser java

# The dashboard's browser tests: Debian's Chromium (never a downloaded browser build) and
# axe-core pinned in tests/browser/package-lock.json. CI runs as root; elsewhere apt-get goes
# through sudo.
CHROMIUM := /usr/bin/chromium
AXE := tests/browser/node_modules/axe-core/axe.min.js
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Ends by serving the dashboard on http://127.0.0.1:8000 (Ctrl-C stops); SERVE=no stops after the summary.
SERVE ?= yes
demo: $(STAMP)
	$(BIN)/percorso demo --customers $(CUSTOMERS) --dir $(DEMO_DIR) $(if $(filter no,$(SERVE)),,--serve)

test: $(STAMP) browser java
	$(BIN)/python -m pytest

browser: $(CHROMIUM) $(AXE)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The Spark tests (tests/spark, local mode) need a Java 17 runtime: Debian's OpenJDK 17 when no
# java is on the PATH and JAVA_HOME is unset (the embedded DuckDB path never needs it).
java:
	@command -v java >/dev/null || [ -n "$$JAVA_HOME" ] || { $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless; }

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	touch $(AXE)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --events 1000000

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache tests/browser/node_modules

# Rewrite constraints.txt from what .venv holds now (after adding or upgrading a dependency).
lock: $(STAMP)
	{ echo "# Exact versions for make demo / make test (pip install -c constraints.txt)."; \
	  echo "# Regenerate after changing dependencies: make lock (then run make test)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^percorso'; } > constraints.txt
