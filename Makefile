# Two commands do all the set-up themselves: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test sandbox lock clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	$(PY) -c "from airflow.providers_manager import ProvidersManager as P; assert 'airflow-provider-constant-contact' in P().providers, 'provider not registered'"
	touch $(STAMP)

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest

sandbox: install
	$(PY) -m cc_provider.sandbox

# Re-pin every dependency after changing setup.cfg (needs the package index).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[test]'
	.lock-venv/bin/pip freeze --exclude airflow-provider-constant-contact > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .airflow .demo build *.egg-info
