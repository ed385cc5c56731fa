# Parley: `make dev` runs the local stack, `make test` runs every test.
# Both set up what they need first (Python venv and packages, npm packages).

# The Lambda runtime is python3.13 (infra/runtime.py). Chalice deploys for the Python it runs
# under, so the venv is made with a 3.13 interpreter wherever the machine has one (on PATH, or
# pyenv's); otherwise with python3, and then `make package`/`make deploy` refuse to run.
LAMBDA_PYTHON := 3.13
comma  := ,
PYTHON ?= $(or $(shell for p in python$(LAMBDA_PYTHON) $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON)) /usr/local/bin/python$(LAMBDA_PYTHON) /usr/bin/python$(LAMBDA_PYTHON); do \
            "$$p" -c 'import sys, venv; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(LAMBDA_PYTHON))))' 2>/dev/null && { echo "$$p"; break; }; done),python3)
PYTHON := $(PYTHON)
VENV   := .venv
PY     := $(VENV)/bin/python
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
STAMP  := $(VENV)/.installed-py$(PY_VERSION)-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
# What chalice 1.34 accepts (its own requirement is pip>=9,<26.3).
PIP_SPEC := pip>=24,<26.3

.PHONY: dev test test-unit test-functional test-e2e bench setup browser package deploy lock clean

STAGE ?= dev

NODE_STAMP := widget/node_modules/.installed
WIDGET     := widget/dist/parley.js
# The agent console (console/), built like the widget into console/dist/ (index.html,
# console.js, styles), which `make dev` serves. Its rules apply once console/package.json exists.
CONSOLE_NODE_STAMP := console/node_modules/.installed
CONSOLE            := console/dist/console.js
HAVE_CONSOLE       := $(wildcard console/package.json)

setup: $(STAMP) $(NODE_STAMP) $(WIDGET) $(if $(HAVE_CONSOLE),$(CONSOLE_NODE_STAMP) $(CONSOLE))

# The widget bundle the demo page and the browser tests load.
$(WIDGET): $(NODE_STAMP) $(wildcard widget/src/*.js widget/src/*/*.js widget/src/*.css widget/src/*/*.css) widget/build.mjs
	cd widget && npm run --silent build

# The console's bundle and pages, from console/src (and its build script).
$(CONSOLE): $(CONSOLE_NODE_STAMP) $(wildcard console/src/*.js console/src/*/*.js console/src/*.css console/src/*/*.css console/src/*.html console/*.html) $(wildcard console/build.mjs)
	cd console && npm run --silent build

# The console's npm packages, exactly as its package-lock.json pins them.
$(CONSOLE_NODE_STAMP): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error
	touch $@

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
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PY_VERSION)" ]; then \
	  echo "$(VENV) is on another Python than $(PYTHON) ($(PY_VERSION)): making it anew"; rm -rf $(VENV); fi
	@[ "$(PY_VERSION)" = "$(LAMBDA_PYTHON)" ] || echo "warning: no Python $(LAMBDA_PYTHON) here; the venv uses $(PY_VERSION), and make package/deploy will refuse (Lambda runs $(LAMBDA_PYTHON))" >&2
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(PIP_SPEC)"
	$(PY) -m pip install --quiet --require-hashes -r requirements.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

dev: setup
	$(PY) -m infra.local.devstack

test: setup browser
	cd widget && npm test --silent
	$(if $(HAVE_CONSOLE),cd console && npm test --silent)
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

# requirements.in (ranges) -> requirements.txt (the Lambda package's locked set, with hashes).
lock: setup
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	  --no-emit-find-links --output-file=requirements.txt requirements.in

clean:
	rm -rf $(VENV) .pytest_cache out
