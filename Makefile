# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# llama-cpp-python compiles from source; a portable build runs on any x86-64 CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

LOCK := requirements.lock
# The tests that touch the database run on SQLite as well when the main run is on another
# database (CI runs on PostgreSQL): `make run` uses SQLite, and each has its own failures.
SQLITE_TESTS ?= tests/unit tests/integration tests/api

.PHONY: run test bench install lint migrate browser js-test clean lock lock-check audit

# The launcher makes a secret key, migrates, bootstraps and runs the Procfile's processes
# (see launcher/).
run: $(VENV)/.installed
	$(PY) -m launcher --port $(PORT)

test: $(VENV)/.installed browser js-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	@case "$${DATABASE_URL:-sqlite}" in sqlite*) ;; *) \
	  echo "== again on SQLite: $(SQLITE_TESTS)"; \
	  env -u DATABASE_URL $(VENV)/bin/pytest $(SQLITE_TESTS);; esac

bench: $(VENV)/.installed browser
	$(PY) -m bench.run_all

install: $(VENV)/.installed

# Exactly the locked versions, each checked against its hash; then the project itself.
$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# After changing the dependencies in pyproject.toml: pin them (and their hashes) in the lock.
# Versions already locked are kept unless pyproject.toml rules them out (`UPGRADE=1` to refresh).
LOCK_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --all-extras --generate-hashes \
	--universal --python-version 3.11 --custom-compile-command "make lock" --quiet \
	$(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed
	$(LOCK_COMPILE) -o $(LOCK)

# CI: the lock must be what `make lock` makes from pyproject.toml today.
lock-check: $(VENV)/.installed
	@tmp=$$(mktemp -d) && cp $(LOCK) $$tmp/$(LOCK) && \
	$(LOCK_COMPILE) -o $$tmp/$(LOCK) && \
	if diff -u $(LOCK) $$tmp/$(LOCK) > $$tmp/diff; then echo "$(LOCK) matches pyproject.toml"; \
	else cat $$tmp/diff; echo "$(LOCK) does not match pyproject.toml: run make lock"; exit 1; fi

# Known vulnerabilities in the locked versions (pip-audit, PyPI's advisory data).
audit: $(VENV)/.installed
	bash scripts/audit.sh $(VENV)/bin/pip-audit $(LOCK)

# Debian's Chromium for the end-to-end tests (Playwright drives it; never `playwright install`).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get update -qq && \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get install -y -qq chromium >/dev/null; }

# The page's ES modules under node's own test runner (no npm, no packages): seconds, so first.
js-test:
	@command -v node >/dev/null || { \
	  echo "Installing Debian's nodejs for the page's JavaScript tests"; \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get update -qq && \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get install -y -qq nodejs >/dev/null; }
	node --test tests/js/*.test.mjs

clean:
	rm -rf $(VENV) staticfiles var test-artifacts
