# Each target creates .venv when it is missing and installs exactly what the project declares.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test bench screenshots check-wheel bundle smoke-bundle clean

$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: this machine has the CPU build on disk; an unpinned torch pulls several GB.
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[test,bench,cluster]'
	# Packages whose declared dependencies must not be installed (see requirements-nodeps.txt).
	$(PIP) install -q --no-deps -c constraints.txt -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/labelaudit demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/bench_audit.py
	$(PY) benchmarks/bench_table.py
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_decision.py

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

# Build the wheel and sdist, install the wheel into a fresh venv outside the checkout and
# run it there: headless audits on shared data and the bundled models, and a headless start
# of the app (packaging/check_wheel.sh; 4 to 16 minutes on the shared machine).
check-wheel:
	bash packaging/check_wheel.sh

# The standalone one-folder app dist/labelaudit/ (PyInstaller; about 30 minutes on the shared
# machine), then its smoke run from a clean environment. Not part of `make test`.
bundle:
	bash packaging/build_bundle.sh
	bash packaging/smoke_bundle.sh

smoke-bundle:
	bash packaging/smoke_bundle.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
