# Course build. `make` sets up .venv and the npm tools and builds the website; `make test`
# runs every test.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# On a machine whose pip finds a local CPU wheel (ours) this takes it; a GPU user
# installs a CUDA torch into .venv first (see README) and this step is skipped.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
# npm installs exactly what package-lock.json says (KaTeX, which renders the book's math
# at build time; Lighthouse, for bench/lighthouse.py only), never a browser.
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: all setup node book exercises test test-fast lighthouse clean
all: book

setup: $(VENV)/.installed node

$(VENV)/.installed: requirements.txt pyproject.toml scripts/system-packages.sh scripts/dask-grading.yaml
	./scripts/system-packages.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -qq "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -qq -r requirements.txt
	mkdir -p $(VENV)/etc/dask && cp scripts/dask-grading.yaml $(VENV)/etc/dask/autograder.yaml
	touch $@

# KaTeX only (the book build needs nothing else from npm).
node: node_modules/.site-installed
node_modules/.site-installed: package.json package-lock.json scripts/system-packages.sh
	./scripts/system-packages.sh
	$(NPM_CI) --omit=dev
	touch $@

# KaTeX and Lighthouse.
node_modules/.bench-installed: package.json package-lock.json scripts/system-packages.sh
	./scripts/system-packages.sh
	$(NPM_CI)
	touch node_modules/.site-installed $@

book: setup
	$(PY) -m autograder book
	@echo "The website is at file://$(CURDIR)/_build/html/index.html"

exercises: setup
	$(PY) -m autograder release

test: setup
	$(PY) -m pytest

# The edit loop: every test not marked slow (no book build, no grading end to end).
test-fast: setup
	$(PY) -m pytest -m "not slow"

# Lighthouse (mobile) on every chapter page of the built site: bench/lighthouse.py.
lighthouse: book node_modules/.bench-installed
	$(PY) bench/lighthouse.py

clean:
	rm -rf _build
