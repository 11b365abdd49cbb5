# Everything a fresh machine with only python3 needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The exact versions the suite passed with (`make lock` rewrites both; README, "Versions").
LOCK        ?= constraints.txt
LOCK_EXTRAS ?= constraints-extras.txt
EXTRAS      := data,evo,quant,export,docs
# tells tests/test_lock.py that this environment was installed from $(LOCK)
LOCKED      := SNNX_LOCKED=1

.PHONY: demo test test-quick test-latest lock lint install clean docs serve-docs docs-check

# the suite also tests the extras named in TEST_EXTRAS (data: snnx.data on grain and the tonic loaders; evo: snnx.evolve on evosax; quant: snnx.quant on
# qwix; export: snnx.export on jax2onnx and onnxruntime), pinned by $(LOCK_EXTRAS)
TEST_EXTRAS := test,data,evo,quant,export

$(STAMP): pyproject.toml $(LOCK) $(LOCK_EXTRAS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -c $(LOCK_EXTRAS) -e ".[$(TEST_EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

# The documentation site (mkdocs.yml): the docs extra on top of the lock, pinned by $(LOCK_EXTRAS)
DOCS_STAMP := $(VENV)/.installed-docs
# the tutorial pages, docs/tutorials/*.md, are rendered from examples/ when the renderer exists
RENDER     := if [ -f docs/render_examples.py ]; then $(BIN)/python docs/render_examples.py; fi
# quiets Material for MkDocs' banner about its successor
MKDOCS     := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

$(DOCS_STAMP): $(STAMP) $(LOCK_EXTRAS)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -c $(LOCK_EXTRAS) -e ".[$(TEST_EXTRAS),docs]"
	touch $(DOCS_STAMP)

# build/site; --strict: a broken link or anchor, or a docstring griffe cannot read, fails
docs: $(DOCS_STAMP)
	$(RENDER)
	$(MKDOCS) build --strict

serve-docs: $(DOCS_STAMP)
	$(RENDER)
	$(MKDOCS) serve -a 127.0.0.1:8000

# The built site in a real browser (docs/check_site.py): Debian's chromium (installed with
# apt-get when missing) driven by Playwright from its own venv, never the project's.
# Screenshots go to build/site-check/.
BROWSER_VENV := build/.venv-browser
docs-check: docs
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	test -x $(BROWSER_VENV)/bin/python || $(PYTHON) -m venv $(BROWSER_VENV)
	$(BROWSER_VENV)/bin/python -m pip install --quiet -r docs/requirements-browser.txt
	$(BROWSER_VENV)/bin/python docs/check_site.py --chromium "$$(command -v chromium)"

demo: $(STAMP)
	$(BIN)/snnx train --overwrite

test: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks docs
	$(LOCKED) $(BIN)/python -m pytest -n auto

# the same without the tests marked slow (subprocesses, examples, benchmarks, big graphs)
test-quick: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks docs
	$(LOCKED) $(BIN)/python -m pytest -n auto -m "not slow"

# The quick tier against the newest releases (no lock, --upgrade) in .venv-latest: what a
# user installing snnx today gets. When it fails, see README, "Versions".
test-latest:
	test -x .venv-latest/bin/python || $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test]"
	.venv-latest/bin/python -m pip freeze --exclude-editable | grep -vxFf $(LOCK) | sed 's/^/not as locked: /' || true
	.venv-latest/bin/python -m pytest -n auto -m "not slow"

# Rewrite $(LOCK) from a fresh throwaway venv: `pip install -e ".[test]"` with no constraints
# (the newest releases that fit pyproject.toml), then the extras ($(EXTRAS)) on top, held to
# $(LOCK), into $(LOCK_EXTRAS). Then `make test`, and commit both files with pyproject.toml.
lock:
	set -eu; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; py="$$tmp/venv/bin/python"; \
	$$py -m pip install --quiet --upgrade pip; \
	$$py -m pip install --quiet -e ".[test]"; \
	{ printf '%s\n' \
	  '# Exact versions of every package in the test environment: `pip install -e ".[test]"`' \
	  "# resolved with no constraints, Python $$($$py -c 'import platform; print(platform.python_version())'), $$(uname -sm)." \
	  '# The Makefile installs with `pip install -c constraints.txt -e ".[test]"`, so `make demo`,' \
	  '# `make test` and CI get these versions. Do not edit by hand: `make lock` rewrites it' \
	  '# (README, "Versions").'; \
	  $$py -m pip freeze --exclude-editable; } > "$$tmp/lock"; \
	$$py -m pip install --quiet -c "$$tmp/lock" -e ".[test,$(EXTRAS)]"; \
	{ printf '%s\n' \
	  '# Exact versions for the optional extras ($(EXTRAS)) on top of constraints.txt, whose' \
	  '# pins they were resolved against: `pip install -c constraints.txt -c constraints-extras.txt' \
	  '# -e ".[data,export]"`. Written by `make lock` with the packages constraints.txt lacks.'; \
	  $$py -m pip freeze --exclude-editable | grep -vxFf "$$tmp/lock"; } > "$$tmp/extras"; \
	mv "$$tmp/lock" $(LOCK); mv "$$tmp/extras" $(LOCK_EXTRAS); \
	echo "wrote $(LOCK) and $(LOCK_EXTRAS); now run make test and commit both if it passes"

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks docs
	$(BIN)/ruff format --check src tests examples benchmarks docs

clean:
	rm -rf $(VENV) .venv-latest runs .pytest_cache build/site
