# Course build. `make` sets up .venv and builds the website; `make test` runs every test.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# On a machine whose pip finds a local CPU wheel (ours) this takes it; a GPU user
# installs a CUDA torch into .venv first (see README) and this step is skipped.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: all setup book exercises test test-fast clean
all: book

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml scripts/system-packages.sh
	./scripts/system-packages.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -qq "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -qq -r requirements.txt
	touch $@

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

clean:
	rm -rf _build
