# nsscope — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: share bytecode run test test-v2 v2-fixture bench lint screenshots clean venv peers peers-v2 peers-bench exeseal

venv: $(STAMP) bytecode

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dev]' --config-settings editable_mode=compat
	$(PY) -m compileall -q nsscope
	# the editable install leaves pyproject's data-files out: the man page and the
	# completions are copied where a wheel would put them (.venv/share)
	mkdir -p $(VENV)/share && cp -r share/. $(VENV)/share/
	touch $(STAMP)

# The package's bytecode, compiled ahead: start-up must not depend on whether the
# environment lets Python write __pycache__ (PYTHONDONTWRITEBYTECODE=1 here: enter
# then takes 45 ms instead of 18). Only changed modules are compiled again.
bytecode: $(STAMP)
	$(PY) -m compileall -q nsscope

run: bytecode
	$(VENV)/bin/nsscope

# -m "not v2only": tests that need a cgroup-v2 host are deselected here (not
# skipped: under CI a skip fails the run); `make test-v2` runs them in a VM
# the Debian packages the tests use as real peers (the list: tests/peers):
# installed when missing as root with apt-get; otherwise named, and the tests
# that need them deselected
peers:
	tests/peers test

peers-v2:
	tests/peers v2

peers-bench:
	tests/peers bench

test: bytecode peers
	$(PY) -m pytest -q -p no:cacheprovider -m "not v2only" $(PYTEST_ARGS)

# every test marked v2, inside a qemu VM booting Debian's kernel with
# cgroup_no_v1=all (vm/run.sh); exits with pytest's status from inside
test-v2: bytecode peers peers-v2
	vm/run.sh vm/pytest-v2.sh $(PYTEST_ARGS)

# re-capture tests/fixtures/cgroup-v2-vm-full (the readers' scene) and
# tests/fixtures/scene-v2 (the screenshots' host) from scenes built inside the VM;
# the host scene's images are built first (debootstrap from the Debian mirror, gcc;
# cached in .vm/hostscene, ~1 GB)
v2-fixture: $(STAMP)
	vm/capture-fixture.py
	vm/capture-fixture.py --scene host

bench: bytecode peers-bench
	$(PY) bench/run.py $(BENCH_ARGS)

# SVGs of the TUI (each view, and a throttle taking effect) from a fixed scenario
# replaying tests/fixtures/scene-v2 (a host with docker containers, a pod and a
# sandbox, captured in the VM: vm/capture-fixture.py --scene host): the same on
# every machine, never /proc
SCREENSHOT_FIXTURE := tests/fixtures/scene-v2
# SVGs, and PNGs of them for viewers that do not render SVG (rsvg-convert: librsvg2-bin)
screenshots: $(STAMP)
	$(PY) -m nsscope.tui.dev.screenshots $(SCREENSHOT_FIXTURE) screenshots
	command -v rsvg-convert >/dev/null || apt-get install -y -q librsvg2-bin
	for f in screenshots/*.svg; do rsvg-convert -o "$${f%.svg}.png" "$$f"; done

# the exec helper of run and enter (nsscope/kernel/exeseal.c -> the bytes in nsscope/kernel/exeseal.py);
# needs gcc and gcc-aarch64-linux-gnu (apt-get install gcc-aarch64-linux-gnu); reproducible:
# tests/unit/kernel/test_exeseal_build.py rebuilds it and compares byte for byte
exeseal: $(STAMP)
	$(PY) -m nsscope.kernel.exeseal --build

# the man page and the bash/zsh completions, generated from the parser (argparse-manpage,
# shtab: dev dependencies) into share/, committed, and installed by pip under the venv's
# share/ (pyproject data-files): `man nsscope` with .venv/bin on PATH
share: $(STAMP)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(PY) -m nsscope.cli.share share

lint: $(STAMP)
	$(VENV)/bin/ruff check nsscope tests bench
	$(VENV)/bin/mypy nsscope
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
