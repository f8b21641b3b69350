# Thin front end over CMake + CTest.  `make run` and `make test` install
# missing Debian packages first (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local

.PHONY: all deps build run demo test test-fast test-asan test-tsan bench torture install clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory

run: build
	@bash scripts/run.sh $(BUILD)/graviton

demo: build
	@bash scripts/demo.sh $(BUILD)/graviton

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE slow

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DGV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS) -- --no-print-directory
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -LE slow

# ThreadSanitizer over the tests labelled "threads" (the engine tests and the
# end-to-end tests that load a server).  Reports go to files, since a
# server's stderr is a log the test does not fail on; any report fails.
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DGV_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS) -- --no-print-directory
	@rm -rf $(TSAN_BUILD)/tsan-reports && mkdir -p $(TSAN_BUILD)/tsan-reports
	@cd $(TSAN_BUILD) && TSAN_OPTIONS="log_path=$(CURDIR)/$(TSAN_BUILD)/tsan-reports/report second_deadlock_stack=1" \
		ctest --output-on-failure -j$(JOBS) -L threads
	@if ls $(TSAN_BUILD)/tsan-reports/report* >/dev/null 2>&1; then \
		cat $(TSAN_BUILD)/tsan-reports/report* | head -n 200; \
		echo "test-tsan: ThreadSanitizer reported the races above" >&2; exit 1; \
	else echo "test-tsan: no ThreadSanitizer reports"; fi

bench: build
	@bash bench/run.sh $(BUILD)

torture: build
	@bash tests/torture/run.sh $(BUILD)/graviton

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
