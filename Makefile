# ShareNAS: `make demo` runs the main job on the built-in default task; `make test` runs the tests.
# torch==2.13.0 (the CPU build) is installed first: a bare torch range would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
TORCH  ?= torch==2.13.0
export ORT_DISABLE_TELEMETRY = 1
export RAY_USAGE_STATS_ENABLED = 0

.PHONY: install demo test test-all clean browser pg-binaries

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check $(TORCH)
	$(PIP) install -q --disable-pip-version-check -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/nas search

# PostgreSQL (for the shared-study tests) from Debian's packages where missing; the tests start
# their own throw-away server on 127.0.0.1 and skip, saying why, only when it cannot be installed.
pg-binaries:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  (command -v apt-get >/dev/null 2>&1 && (apt-get install -y -q postgresql >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null 2>&1))) || \
	  echo "note: PostgreSQL could not be installed; its tests will be skipped"

# Debian's chromium (for the dashboard browser test, driven by playwright with
# executable_path=/usr/bin/chromium; never `playwright install`) where missing; without apt the
# browser test is skipped, saying why.
browser:
	@test -x /usr/bin/chromium || \
	  (command -v apt-get >/dev/null 2>&1 && (apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1))) || \
	  echo "note: chromium could not be installed; the dashboard browser test will be skipped"

test: install pg-binaries browser
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
