# Set-up and everyday commands. `make run` and `make test` work on a fresh Linux machine: they check
# the system libraries, create the virtual environment and install it from a lock file (every package
# at an exact version, hash-checked), then the project itself.
#   requirements/lock-base.txt  the base flavour: analysis and the app on ONNX Runtime, no torch (make run)
#   requirements/lock.txt       everything: the base plus training (torch) and the test tools (make test)
# Both come from one resolution (`make lock`), so a package has the same version in each.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BASE_STAMP := $(VENV)/.installed-base
LOCK   := requirements/lock.txt
LOCK_BASE := requirements/lock-base.txt
UV     := $(BIN)/uv
# The project is installed editable as a plain path entry (setuptools' "compat" mode): the default
# editable mode installs an import hook that every Python start in the environment loads, about
# 20 ms of each `ser` command's start-up.
EDITABLE := -e . --config-settings editable_mode=compat

# The platform the lock is made for: Linux x86_64 with glibc 2.34 or newer (Debian 12, Ubuntu 22.04),
# CPython 3.11. uv records every wheel's hash for the chosen versions.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_34 \
              --custom-compile-command "make lock"

# Debian packages the product needs at run time (PortAudio for the microphone, Qt's EGL/xkb/xcb
# libraries for the window) and for the test suite (PulseAudio for the virtual microphone).
APT_RUN  := libportaudio2 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
            libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
APT_TEST := pulseaudio pulseaudio-utils libasound2-plugins

# Packages are installed with their bytecode compiled (as pip does, and uv does not by default), and
# the project's own modules are compiled too: Python then starts without compiling a few hundred
# modules, even where it may not write its cache (PYTHONDONTWRITEBYTECODE, a read-only install).
# That halves the start-up of `ser analyze` on a short file. An edited module is compiled again
# when it is imported (its cached bytecode no longer matches it).
PYCACHE := $(BIN)/python -m compileall -q -j 0 model streamer gui training ser >/dev/null

.PHONY: run test bench install lock check-env sysdeps-run sysdeps-test lint clean

run: sysdeps-run $(BASE_STAMP)
	$(BIN)/ser gui

test: sysdeps-run sysdeps-test $(STAMP) check-env
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: sysdeps-run sysdeps-test $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check model streamer gui training ser tests benchmarks

install: $(STAMP)

# The installed packages agree with each other (no missing or conflicting requirement).
check-env: $(STAMP)
	@$(UV) pip check --quiet --python $(BIN)/python || { \
	  echo "The environment in $(VENV) is inconsistent (see above): run 'make clean' and try again."; exit 1; }

$(BIN)/python:
	@echo "[setup] creating the virtual environment in $(VENV)/ with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)

$(UV): requirements/uv.txt | $(BIN)/python
	@echo "[setup] installing the installer (uv, pinned and hash-checked)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/uv.txt
	@touch $(UV)

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@echo "[setup] installing $$(grep -c '^[a-z0-9]' $(LOCK)) packages from $(LOCK), the full flavour (hash-checked; PyTorch is a large first download)"
	@$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(BIN)/python $(LOCK)
	@echo "[setup] installing the project (editable, no further resolution)"
	@$(UV) pip install --quiet --no-deps --python $(BIN)/python $(EDITABLE)
	@$(PYCACHE)
	@touch $(STAMP) $(BASE_STAMP)

# The base flavour only adds what is missing: an environment that already has the full flavour keeps it.
$(BASE_STAMP): $(LOCK_BASE) pyproject.toml | $(UV)
	@echo "[setup] installing $$(grep -c '^[a-z0-9]' $(LOCK_BASE)) packages from $(LOCK_BASE), the base flavour (hash-checked, no torch)"
	@$(UV) pip install --quiet --require-hashes --compile-bytecode --python $(BIN)/python -r $(LOCK_BASE)
	@echo "[setup] installing the project (editable, no further resolution)"
	@$(UV) pip install --quiet --no-deps --python $(BIN)/python $(EDITABLE)
	@$(PYCACHE)
	@touch $(BASE_STAMP)

# Refreshes the lock on purpose (new versions, a changed dependency in pyproject.toml). Commit the
# new lock only after `make clean test` passes on it.
lock: | $(UV)
	@$(UV) pip compile pyproject.toml --all-extras $(LOCK_FLAGS) --quiet -o $(LOCK)
	@$(UV) pip compile pyproject.toml -c $(LOCK) $(LOCK_FLAGS) --quiet -o $(LOCK_BASE)
	@echo "[lock] $(LOCK): $$(grep -c '^[a-z0-9]' $(LOCK)) packages, $(LOCK_BASE): $$(grep -c '^[a-z0-9]' $(LOCK_BASE)); now run: make clean test"

# Installs missing Debian packages when running as root with apt; otherwise prints the command.
define ensure_apt
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "[setup] installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing"; \
	    echo "Install them with:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	else \
	  echo "[setup] system packages ($(2)): present"; \
	fi
endef

sysdeps-run:
	$(call ensure_apt,$(APT_RUN),app)

sysdeps-test:
	$(call ensure_apt,$(APT_TEST),tests)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
