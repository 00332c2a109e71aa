# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# llama-cpp-python compiles from source; a portable build runs on any x86-64 CPU.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1
LIVEKIT := frontend/static/frontend/vendor/livekit-client.esm.mjs

.PHONY: run test bench install lint migrate browser clean

run: $(VENV)/.installed $(LIVEKIT)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) -m config.launch --port $(PORT)

test: $(VENV)/.installed $(LIVEKIT) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed $(LIVEKIT) browser
	$(PY) -m bench.run_all

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel
	$(PY) -m pip install --quiet -e ".[engine,test,bench]"
	touch $@

$(LIVEKIT):
	bash scripts/fetch_livekit.sh

# Debian's Chromium for the end-to-end tests (Playwright drives it; never `playwright install`).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get update -qq && \
	  $(if $(shell id -u | grep -x 0),,sudo) apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf $(VENV) staticfiles var test-artifacts
