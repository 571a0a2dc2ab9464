# Thin wrapper over CMake. `make demo` runs the daemon against the bundled Kubernetes
# simulator; `make test` runs the whole suite (-Werror build, then ASan+UBSan build).
# Both install missing Debian packages first: `make demo` only what the daemon needs (its build
# leaves the test tree out, -DIPD_TESTS=OFF), `make test` also the test packages.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps test-deps build daemon test test-release test-asan demo deb bench clean format

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: test-deps
	cmake -S . -B $(BUILD) -DIPD_WERROR=ON -DIPD_TESTS=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	@ln -sf $(BUILD)/compile_commands.json compile_commands.json

# Only the daemon (what `make demo` needs), not the tests and benchmarks.
daemon: deps
	cmake -S . -B $(BUILD) -DIPD_WERROR=ON -DIPD_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target imgpulld

test: test-deps
	@scripts/run-tests.sh

test-release: test-deps
	@scripts/run-tests.sh release

test-asan: test-deps
	@scripts/run-tests.sh asan

demo: daemon
	@scripts/demo.sh

# The Debian package imgpulld_<version>_<arch>.deb, in the top directory (scripts/build-deb.sh).
deb:
	@scripts/install-deps.sh --deb
	@scripts/build-deb.sh

bench: build
	@scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-deb
