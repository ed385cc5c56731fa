# Parley: `make dev` runs the local stack, `make test` runs every test.
# Both set up what they need first (Python venv and packages, npm packages).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: dev test test-unit test-functional test-e2e bench setup browser package deploy clean

STAGE ?= dev

NODE_STAMP := widget/node_modules/.installed
WIDGET     := widget/dist/parley.js

setup: $(STAMP) $(NODE_STAMP) $(WIDGET)

# The widget bundle the demo page and the browser tests load.
$(WIDGET): $(NODE_STAMP) $(wildcard widget/src/*.js widget/src/*/*.js widget/src/*.css widget/src/*/*.css) widget/build.mjs
	cd widget && npm run --silent build

# Debian's chromium for the browser tests (Playwright drives it; it never downloads one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "make test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# pusher-js and the widget's build tools, exactly as package-lock.json pins them.
$(NODE_STAMP): widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

dev: setup
	$(PY) -m infra.local.devstack

test: setup browser
	cd widget && npm test --silent
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

test-functional: setup
	$(PY) -m pytest tests/functional

test-e2e: setup
	$(PY) -m pytest tests/e2e

bench: setup
	$(PY) -m bench.run

# chalice package with infra/table.json merged in, into out/$(STAGE)/ (offline).
package: setup
	$(PY) -m infra.package --stage $(STAGE)

# The table stack, then chalice deploy (twice on a first WebSocket deploy), then the snippet.
# Needs AWS credentials and a region; see docs/deploy.md.
deploy: setup
	$(PY) -m infra.deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) .pytest_cache out
