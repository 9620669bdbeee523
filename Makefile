# ShareNAS: `make demo` runs the main job on the built-in default task; `make test` runs the tests.
# torch==2.13.0 (the CPU build) is installed first: a bare torch range would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
TORCH  ?= torch==2.13.0
export ORT_DISABLE_TELEMETRY = 1
export RAY_USAGE_STATS_ENABLED = 0

.PHONY: install demo test test-all clean browser

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check $(TORCH)
	$(PIP) install -q --disable-pip-version-check -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/nas search

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
