# posthorn — the front door. `make run` starts the demo; `make test` runs
# every test. Both install missing Debian packages first (tools/bootstrap.sh).
PYTHON ?= /usr/bin/python3
BUILD ?= build
NINJA_JOBS ?= $(shell nproc)

.PHONY: all deps build run test unit integration asan bench clean

all: build

deps:
	@sh tools/bootstrap.sh all

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(NINJA_JOBS)

run: build
	./$(BUILD)/posthorn serve

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	POSTHORN_BIN=$(CURDIR)/$(BUILD)/posthorn $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

test: build
	meson test -C $(BUILD) --suite unit --print-errorlogs
	POSTHORN_BIN=$(CURDIR)/$(BUILD)/posthorn $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# ASan + UBSan build of everything; unit tests and the integration suite run on it.
asan: deps
	[ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan -j $(NINJA_JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build-asan --suite unit --print-errorlogs
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 POSTHORN_BIN=$(CURDIR)/build-asan/posthorn $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

bench: build
	sh tools/bootstrap-bench.sh
	bash bench/compare/smtp_vs_postfix.sh

clean:
	rm -rf $(BUILD) build-asan
