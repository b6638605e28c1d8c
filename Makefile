# Two commands do all the set-up themselves: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UI_STAMP := $(VENV)/.installed-ui
DIST_STAMP := $(VENV)/.installed-distributed

.PHONY: install demo test test-profiles test-ui test-distributed lint layout sandbox lock clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml sandbox/pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ./sandbox -e '.[test]'
	$(PY) -c "from airflow.providers_manager import ProvidersManager as P; assert 'airflow-provider-constant-contact' in P().providers, 'provider not registered'"
	touch $(STAMP)

demo: install
	$(PY) tools/demo.py

# tests/integration/test_extract_postgres.py starts its own PostgreSQL server: install Debian's postgresql
# with apt-get when the server binaries are missing; if that fails the test is skipped, with the reason.
test: install
	@if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
	  echo "test: installing Debian's postgresql with apt-get"; \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; } \
	    </dev/null || echo "test: apt-get could not install postgresql; the PostgreSQL test will be skipped"; \
	fi
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-profiles

# What no source settles about the real API is a sandbox switch (README "Behaviour switches"); the suite
# above runs under the "documented" profile, and the whole-import tests run again under the others.
PROFILE_TESTS := tests/integration/test_fault_matrix.py tests/integration/test_example_dags.py \
  tests/integration/test_import_resume.py tests/integration/test_post_once.py
test-profiles: install
	@for profile in opaque free_text; do \
	  echo "test-profiles: the sandbox's '$$profile' behaviour profile"; \
	  CC_SANDBOX_PROFILE=$$profile $(PY) -m pytest -q $(PROFILE_TESTS) || exit 1; \
	done

# The connection form in the real Airflow UI, driven in headless Chromium (tests/ui). Installs Debian's
# chromium and chromium-driver with apt-get when missing; if that fails the test is skipped, with the reason.
test-ui: $(UI_STAMP)
	@reason=""; \
	if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "test-ui: installing Debian's chromium and chromium-driver with apt-get"; \
	  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	      chromium chromium-driver; } </dev/null; then \
	    reason="apt-get could not install chromium and chromium-driver (see its output above)"; \
	  fi; \
	fi; \
	CC_UI_TESTS=1 CC_UI_CHROMIUM_UNAVAILABLE="$$reason" $(PY) -m pytest tests/ui

$(UI_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,ui]'
	touch $(UI_STAMP)

# A real deployment on loopback (tests/distributed): PostgreSQL, Redis, CeleryExecutor with two workers that
# share no disk, S3 staging (moto), the sandbox as its own process. Installs Debian's postgresql and
# redis-server with apt-get when missing, and the `distributed-test` extra.
test-distributed: $(DIST_STAMP)
	@missing=""; \
	if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then missing="postgresql"; fi; \
	if ! command -v redis-server >/dev/null; then missing="$$missing redis-server"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "test-distributed: installing Debian's $$missing with apt-get"; \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; } </dev/null; \
	fi
	CC_DISTRIBUTED_TESTS=1 $(PY) -m pytest tests/distributed

$(DIST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e './sandbox' -e '.[test,distributed-test]'
	touch $(DIST_STAMP)

# Lint, format and type checks (configured in pyproject.toml); .ci/run runs them.
lint: install
	$(PY) -m ruff check cc_provider sandbox dags tools tests bench
	$(PY) -m ruff format --check cc_provider sandbox dags tools tests bench
	$(PY) -m mypy

# Figures of the package's layout (README "Layout"): modules one CSV import runs, modules in hooks/,
# import cycles, the longest module, lines.
layout: install
	$(PY) tools/layout_figures.py

sandbox: install
	$(PY) -m cc_sandbox

# Re-pin every dependency after changing setup.cfg or sandbox/pyproject.toml (needs the package index).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet ./sandbox '.[test,ui,distributed-test]'
	.lock-venv/bin/pip freeze --exclude airflow-provider-constant-contact --exclude cc-sandbox > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .airflow .demo build *.egg-info sandbox/build sandbox/*.egg-info
