# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup browser clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (downloaded browsers do not work offline), and a CJK font
# so Chinese renders in screenshots.
browser:
	@{ command -v chromium >/dev/null 2>&1 && dpkg -s fonts-wqy-microhei >/dev/null 2>&1; } || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libatomic1 fonts-wqy-microhei >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will fail"; }

demo: $(STAMP)
	$(VENV)/bin/cityops demo

test: $(STAMP) browser
	$(PY) -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) var artifacts
