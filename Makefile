# osms: `make run` runs the system, `make test` passes the tests. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python


.PHONY: help install lock vendor infra run up down status test lint unit bench bench-integrity bench-national fuzz chaos clean-local up-ha status-ha chaos-ha

help:
	@echo "make run    install what is missing, start PostgreSQL, Kafka, the four services and the console (foreground, Ctrl-C stops)"
	@echo "make up     the same in the background; returns when every /readyz answers 200 (after a crash: starts what is down)"
	@echo "make down   stop what 'make up' or 'make up-ha' started (data survives)"
	@echo "make up-ha  the HA topology: 3 etcd, PostgreSQL x3 (Patroni), Kafka x3, 2 instances of each service behind HAProxy"
	@echo "make chaos-ha  the failover test on a fresh HA topology of its own (about 15 minutes)"
	@echo "make status each component: running, ready, or down"
	@echo "make test   the whole test suite against a real PostgreSQL and Kafka"
	@echo "make unit   the fast unit tests only"

install:
	@deploy/local/install.sh
	@[[ -n "$$OSMS_KAFKA_BOOTSTRAP" ]] || deploy/local/kafka.sh install
	@[[ -n "$$OSMS_DATABASE_URL" ]] || deploy/local/postgres.sh install

# Pins every dependency of pyproject.toml (with the dev extras) in requirements.lock, which
# `make install` and CI install from. Run after changing a dependency, and commit both files.
lock:
	@.venv/bin/pip-compile -q --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
	  -o requirements.lock pyproject.toml

# Copies the browser libraries of package.json (Swagger UI, ECharts) into the Python packages (npm);
# the copies are committed, so nothing else needs npm. Run after changing a version in package.json.
vendor:
	@deploy/local/vendor.sh

infra: install
	@deploy/local/infra.sh start

run:
	@deploy/local/services.sh run

up:
	@deploy/local/services.sh up

down:
	@deploy/local/services.sh down
	@deploy/ha/ha.sh down

# The HA topology (deploy/ha/ha.sh, ports in deploy/ha/ports.env, data in .local/ha): installs etcd,
# HAProxy and Patroni when missing, returns when every instance answers, prints where. See
# docs/operations.md.
up-ha: install
	@deploy/ha/ha.sh up

status-ha:
	@deploy/ha/ha.sh status

# The failover test: kills leaders, brokers and instances of a fresh HA topology under load (in
# .local/ha-chaos, stopped at the end; refuses while `make up-ha` runs). Too long for `make test`.
chaos-ha: install
	@$(PY) -m tests.chaos_ha.failover

status:
	@deploy/local/services.sh status

# Starts the local servers if they are not running (tests/conftest.py does the same) and
# stops them afterwards only if this run started them.
# The browser tests need Debian's chromium: deploy/local/browser.sh installs it when missing.
test: install
	@deploy/local/browser.sh
	@deploy/local/test.sh

lint: install
	@.venv/bin/ruff check services bench tests

unit: install
	@$(PY) -m pytest -q tests/unit

# Region scale (Kyzylorda, 818,000 people): a few minutes. Writes bench/results/.
bench: infra
	@source deploy/local/env.sh && with_servers $(PY) -m bench.run --scale region

# The nation (20.5 million people, 3,000 clinics): long.
# The padded-records checks: the audit's patterns seeded into a clean region, recall and false positives
# per pattern, and the risk list (docs/performance.md).
bench-integrity: infra
	@source deploy/local/env.sh && with_servers $(PY) -m bench.bench_integrity

bench-national: infra
	@source deploy/local/env.sh && with_servers $(PY) -m bench.run --scale nation --visits 250000

clean-local: down
	rm -rf .local

# Schemathesis with many cases per operation (CI runs the same test with a few).
fuzz: infra
	@source deploy/local/env.sh && OSMS_FUZZ_EXAMPLES=200 with_servers $(PY) -m pytest -q -s tests/fuzz

# The crash test with 20 kill cycles (CI runs it with one kill of each component).
chaos: install
	@$(PY) -m tests.chaos.chaos --cycles 20

# `make up` brings back what died, on a complete topology of its own (PostgreSQL, Kafka, the services
# on free ports, in a folder under .local/ removed afterwards): a service killed, then Kafka killed.
# A few minutes, so CI runs it beside `make test` (whose tests/e2e has the short form, one service).
.PHONY: check-up
check-up: install
	@$(PY) -m pytest -q -p no:cacheprovider --confcutdir=tests/up -o addopts="-ra --strict-markers" tests/up/check_up.py

# The deployment files: the Helm chart linted, rendered and validated against Kubernetes' schemas,
# the operator examples against their CRDs, the compose file against the Compose Specification.
# Installs helm (go install) when missing. See deploy/check.sh.
.PHONY: check-deploy
check-deploy: install
	@deploy/check.sh

# The dashboard and alert rules of deploy/observability/ (promtool check and test rules, promtool
# check metrics on what the services register) and the AsyncAPI document against the event models.
# Installs promtool (Debian's prometheus package, else go install) when missing.
.PHONY: check-observability asyncapi
check-observability: install
	@deploy/observability/check.sh

# The four OpenAPI documents: docs/openapi/ equal to what the services serve, openapi-spec-validator and
# Redocly's CLI (`recommended` rules, npm) with no error. See deploy/local/check-openapi.sh.
.PHONY: check-openapi openapi
check-openapi: install
	@deploy/local/check-openapi.sh

# Regenerates docs/openapi/<service>.json from the services (services/common/openapi.py); a test holds them equal.
openapi:
	@$(PY) -m services.common.openapi docs/openapi

# Regenerates docs/asyncapi.json from the event models (services/common/asyncapi.py); a test holds them equal.
asyncapi:
	@$(PY) -m services.common.asyncapi > docs/asyncapi.json
