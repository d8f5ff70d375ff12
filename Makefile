# Every target bootstraps what it needs on a fresh machine: Debian packages via apt-get
# (only those missing), Python packages from PyPI into .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= conf/carbon.conf
PYTEST_WORKERS ?= 2

.PHONY: run test bench gallery sysdeps clean

# Debian packages the tests and graphs need: cairo for drawing, poppler for checking PDFs,
# netcat for the README's copy-paste examples.
sysdeps:
	@missing=""; \
	ldconfig -p | grep -q 'libcairo.so.2' || missing="$$missing libcairo2"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	fc-list 2>/dev/null | grep -qi dejavu || missing="$$missing fonts-dejavu-core fontconfig"; \
	command -v nc >/dev/null || missing="$$missing netcat-openbsd"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

run: sysdeps $(STAMP)
	$(VENV)/bin/carbonish up --config $(CONFIG)

test: sysdeps $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --cov --cov-report=term $(PYTEST_ARGS)

bench: sysdeps $(STAMP)
	$(PY) bench/run_all.py

gallery: sysdeps $(STAMP)
	$(PY) -m webapp.graph.gallery gallery

clean:
	rm -rf $(VENV) build *.egg-info .coverage .pytest_cache
