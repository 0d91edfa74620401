# One place for the project's commands; CI calls the same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit browser lock bench clean

# The virtual environment is (re)built whenever the lock file or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dumgum-loadtest run scenarios/smoke.yaml

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks locustfiles
	$(BIN)/ruff check src tests benchmarks locustfiles

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser
	$(BIN)/pytest

# The report's browser tests drive Debian's headless Chromium (no browser download): install it
# when it is missing. As root (CI) apt-get does it; otherwise sudo, if it may run without a
# password; else this stops and says what to run.
browser:
	@[ -x "$${CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "Chromium is missing and this is not root: run 'sudo apt-get install -y chromium'" \
	    "(or set CHROMIUM to a Chromium binary), then 'make test' again." >&2; exit 2; fi; \
	  echo "Installing Debian's chromium for the report's browser tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_mock.py

# Re-resolve the pinned dependencies (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
