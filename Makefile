# Two commands for people: `make book` and `make test`. Both create the environment when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= embedded
# torch and torchvision come from the package registry as a matched pair. The CUDA build runs on a
# CPU too; a CPU-only torch wheel would break torchvision (and therefore open_clip).
TORCH_PAIR ?= torch==2.14.* torchvision==0.29.*
# Ignore machine-local wheel folders and user pip config so a stray CPU-only torch is never picked.
PIP := PIP_FIND_LINKS= $(PY) -m pip --isolated
STAMP := $(VENV)/.clipbias-env-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)

.PHONY: env book test lint browser-deps clean

env: $(STAMP)

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install $(TORCH_PAIR)
	$(PIP) install -e ".[all]"
	@rm -f $(VENV)/.clipbias-env-* && touch $@

book: env
	$(PY) -m clipbias book --profile $(PROFILE)

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test: env browser-deps
	$(PY) -m ruff check lib tests benchmarks
	$(PY) -m pytest

clean:
	rm -rf book/_build book/executed
