# Two commands: `make demo` and `make test`. Each sets up what it needs on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall when the pinned requirements change.
STAMP  := $(VENV)/.installed-$(shell cksum setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# `make test` runs the suite in this many processes (pytest-xdist; 0 = in this one). Most of its time is
# spent waiting (sandboxes, sockets, worker subprocesses, pacing), not computing, so two processes
# nearly halve it even on two cores. tests/services.py gives each process Redis databases of its own
# (at most 3 processes); PostgreSQL schemas, ports and tmp_path are per test already.
TEST_WORKERS ?= 2

.PHONY: demo test bench bench-smoke sandbox chromium clean translations lock

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# Debian's chromium drives the browser tests; Playwright never downloads a browser of its own.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: $(STAMP)
	$(BIN)/qb24 demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

sandbox: $(STAMP)
	$(BIN)/qb24 sandbox

bench: $(STAMP)
	@for b in bench/bench_*.py; do $(BIN)/python -m bench.$$(basename $$b .py) || exit 1; done

bench-smoke: $(STAMP)
	@for b in bench/bench_*.py; do $(BIN)/python -m bench.$$(basename $$b .py) --smoke || exit 1; done

# The app's message catalogs (webhooks/translations; Flask-Babel): extract every marked string, merge
# it into each language's .po for translators, compile the .mo files the app reads. Commit all three.
# A new language: `$(BIN)/pybabel init -i webhooks/translations/messages.pot -d webhooks/translations -l xx`.
CATALOGS := webhooks/translations
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output -k _l -k lazy_gettext -k N_ \
		--project=qb24 -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel -q update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel -q compile -d $(CATALOGS) --statistics

# requirements.lock: every runtime dependency of setup.cfg's install_requires, transitive ones and the
# wheel build's (setuptools, wheel) included, pinned with the hashes of every published file; the image
# installs from it with `pip install --require-hashes`. Run after changing install_requires and commit
# it; pins already in the lock are kept unless `make lock LOCK_ARGS=--upgrade`. Resolved for CPython 3.11
# on Linux, the image's. pip-tools (dev extra) works with the venv's pip as it is.
LOCK_ARGS ?=
lock: $(STAMP)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
		--allow-unsafe --build-deps-for wheel --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
		-o requirements.lock setup.cfg

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache tests/artifacts
