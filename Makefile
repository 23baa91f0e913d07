# Set-up and everyday commands. `make run` and `make test` work on a fresh Linux machine:
# they create the virtual environment, install the project, and check the system libraries.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the product needs at run time (PortAudio for the microphone, Qt's EGL/xkb/xcb
# libraries for the window) and for the test suite (PulseAudio for the virtual microphone).
APT_RUN  := libportaudio2 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
            libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
APT_TEST := pulseaudio pulseaudio-utils libasound2-plugins

.PHONY: run test bench install sysdeps-run sysdeps-test lint clean

run: sysdeps-run $(STAMP)
	$(BIN)/ser gui

test: sysdeps-run sysdeps-test $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: sysdeps-run sysdeps-test $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check model streamer gui training ser tests benchmarks

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# Installs missing Debian packages when running as root with apt; otherwise prints the command.
define ensure_apt
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing"; \
	    echo "Install them with:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

sysdeps-run:
	$(call ensure_apt,$(APT_RUN))

sysdeps-test:
	$(call ensure_apt,$(APT_TEST))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
