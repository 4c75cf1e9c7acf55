# Two entry points for a fresh machine: `make run` and `make test`.
# Each installs what is missing (Debian packages, a .venv, the package) first.

VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
RUN_DEBS := libvirt-dev pkg-config
# A real guest (tests/integration/test_real_guests.py): qemu under libvirtd, a kernel and busybox to boot.
TEST_DEBS := $(RUN_DEBS) libvirt-daemon-system qemu-system-x86 busybox-static linux-image-cloud-amd64

.PHONY: run test lint bench run-debs test-debs postgres clean

run: run-debs $(INSTALLED)
	$(PY) -m chronova.cli run

test: test-debs $(INSTALLED) postgres
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

bench: test-debs $(INSTALLED) postgres
	$(PY) bench/boot.py

bench-api: run-debs $(INSTALLED) postgres
	$(PY) bench/api.py

bench-scheduler: run-debs $(INSTALLED)
	$(PY) bench/scheduler.py

bench-replay: run-debs $(INSTALLED) postgres
	$(PY) bench/replay.py

bench-actions: run-debs $(INSTALLED) postgres
	$(PY) bench/actions.py

run-debs:
	@$(call install_debs,$(RUN_DEBS))

test-debs:
	@$(call install_debs,$(TEST_DEBS))

# The integration tests need the PostgreSQL server at 127.0.0.1:5432 running.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start

$(INSTALLED): setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

clean:
	rm -rf $(VENV) data *.egg-info

define install_debs
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "installing Debian packages:$$missing"; \
  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
fi
endef
