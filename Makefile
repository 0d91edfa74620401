# One place for the project's commands; CI calls the same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit browser lock bench clean

UV_VERSION := 0.13.9

# The virtual environment is (re)built whenever the lock file or the project metadata changes.
# uv (a wheel from PyPI, installed into the venv by pip) installs the same lock file about ten
# times faster than pip does: 12 s against 164 s with cold caches on this machine.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
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

# Re-resolve the pinned dependencies with the venv's uv.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
