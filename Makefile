# Two commands for people: `make book` and `make test`. Both create the environment when missing.
# `make publish` builds the book and pushes the HTML to the gh-pages branch of REMOTE.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= embedded
REMOTE ?= origin
# torch and torchvision come from the package registry as a matched pair. The CUDA build runs on a
# CPU too; a CPU-only torch wheel would break torchvision (and therefore open_clip).
TORCH_PAIR ?= torch==2.14.* torchvision==0.29.*
# Ignore machine-local wheel folders and user pip config so a stray CPU-only torch is never picked.
PIP := PIP_FIND_LINKS= $(PY) -m pip --isolated
STAMP := $(VENV)/.clipbias-env-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: env book test lint browser-deps publish clean

env: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install $(TORCH_PAIR)
	$(PIP) install -e ".[all]"
	@rm -f $(VENV)/.clipbias-env-* && touch $@

book: env
	$(PY) -m clipbias book --profile $(PROFILE)

# Headless Chromium for the browser test: installed when this is root with apt-get. Elsewhere the
# browser test is skipped with what to install, except under CI=true, where it is required.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	elif [ "$$CI" = true ]; then \
	  echo "CI=true requires the browser test: install chromium and chromium-driver (as root: apt-get install -y chromium chromium-driver)" >&2; exit 1; \
	else \
	  echo "note: no headless Chromium, and not root with apt-get to install it: the browser test will be skipped (install chromium and chromium-driver to run it)"; \
	fi

test: env browser-deps
	$(PY) -m ruff check lib tests benchmarks
	$(PY) -m pytest

publish: book
	$(PY) -m clipbias.publish.pages --html book/_build/html --remote $(REMOTE)

clean:
	rm -rf book/_build book/executed
