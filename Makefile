# Thin front end over CMake + CTest.  `make run` and `make test` install
# missing Debian packages first (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local

.PHONY: all deps configure build run demo test test-fast test-asan test-tsan bench torture install deb clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

# CMake caches the install prefix of the first configure: a build (or an
# install) with another PREFIX configures again, so the unit's ExecStart
# and graviton.pc name the prefix they are installed under.
configure: deps $(BUILD)/Makefile
	@if [ "$$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' $(BUILD)/CMakeCache.txt)" != "$(PREFIX)" ]; then \
		cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null; fi

build: configure
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

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the binary, the
# library and headers, graviton(1) and graviton.conf(5), the example
# configuration under share/doc/graviton, graviton.service and its
# sysusers.d entry, bash completion, and etc/graviton/graviton.conf when
# there is none yet.
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# make deb: a Debian package built by dpkg-buildpackage (debian/) from a
# copy of the tree under $(BUILD)/deb, where the .deb lands.
DEB_DIR := $(BUILD)/deb
deb: deps
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/graviton
	@tar -C . --exclude='./build*' --exclude=./.git --exclude=./graviton-data -cf - . | \
		tar -C $(DEB_DIR)/graviton -xf -
	@cd $(DEB_DIR)/graviton && DEB_BUILD_OPTIONS="nocheck parallel=$(JOBS)" \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -n 40 ../build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
