# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install pinned dependencies on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The Cloud Tasks emulator pins protobuf < 5, so it lives in a virtualenv of its own.
TASKS_EMULATOR_VENV  := .venv-tasks-emulator
TASKS_EMULATOR_STAMP := $(TASKS_EMULATOR_VENV)/.installed

.PHONY: run test lint typecheck unit check-ledger bench clean deploy-checks deploy-checks-venv

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

$(TASKS_EMULATOR_STAMP): requirements-tasks-emulator.txt
	test -x $(TASKS_EMULATOR_VENV)/bin/python || $(PYTHON) -m venv $(TASKS_EMULATOR_VENV)
	$(TASKS_EMULATOR_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tasks-emulator.txt
	touch $(TASKS_EMULATOR_STAMP)

# Offline deploy checks (tests/deploy): python-hcl2 and checkov each in a virtualenv of their
# own (checkov's parser installs a module named hcl2 too); serverless v3 from npm (Node.js and
# npm from Debian's packages when the machine has none).
DEPLOY_CHECKS_STAMP := .venv-deploy-checks/.installed
CHECKOV_STAMP := .venv-checkov/.installed
NODE_STAMP := node_modules/.installed
NPM := /usr/bin/npm
$(NPM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm

$(DEPLOY_CHECKS_STAMP): requirements-deploy-checks.txt
	test -x .venv-deploy-checks/bin/python || $(PYTHON) -m venv .venv-deploy-checks
	.venv-deploy-checks/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-deploy-checks.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json | $(NPM)
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

deploy-checks-venv: $(DEPLOY_CHECKS_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)

deploy-checks: $(STAMP) deploy-checks-venv
	$(PY) -m pytest tests/deploy

# The browser test drives Debian's Chromium (no browser download: only package registries).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# Receipt OCR calls the tesseract binary; Russian and English data, and DejaVu fonts
# with Cyrillic for the receipts the tests render, all from Debian's packages.
TESSERACT := /usr/bin/tesseract
TESSDATA_RUS := /usr/share/tesseract-ocr/5/tessdata/rus.traineddata
$(TESSERACT) $(TESSDATA_RUS):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-rus tesseract-ocr-eng fonts-dejavu-core

run: $(STAMP)
	$(PY) -m scripts.sandbox

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

test: lint typecheck $(TASKS_EMULATOR_STAMP) $(CHROMIUM) $(TESSERACT) $(TESSDATA_RUS) $(DEPLOY_CHECKS_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	$(PY) -m pytest

check-ledger: $(STAMP)
	$(PY) -m scripts.check_ledger

bench: $(STAMP)
	$(PY) -m scripts.bench_ledger

clean:
	rm -rf $(VENV) $(TASKS_EMULATOR_VENV) .venv-deploy-checks .venv-checkov node_modules .serverless .pytest_cache .mypy_cache .ruff_cache .hypothesis
