# Pulse: `make run` starts the whole backend, `make test` runs every test.
# Both start NATS (JetStream) and Redis on loopback first, or reuse them;
# `make test` also starts SecantusDB (MongoDB) for the read store's tests, and
# stops it after them, and fetches the deployment tests' tools: nginx,
# promtool, docker-compose, kubernetes-validate (see infra/scripts/services.sh).
SHELL := bash
.DEFAULT_GOAL := help
export PULSE_DATA_DIR ?= $(CURDIR)/.pulse/data
# The NATS that `services` picked (a current one, maybe on another port than
# 4222), unless the caller named one. Read in the recipe, after `services` ran.
nats_env = export PULSE_NATS_URL="$${PULSE_NATS_URL:-$$(cat .pulse/nats.url)}";
# The MongoDB server of the read store's tests: the caller's, else the
# SecantusDB that `services.sh mongo-up` started. Read after mongo-up ran.
mongo_env = export PULSE_MONGO_URL="$${PULSE_MONGO_URL:-$$(cat .pulse/mongo.url)}";

.PHONY: help services run test bench stop lint

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

services: ## start or reuse NATS (JetStream, current) and Redis on loopback
	@infra/scripts/services.sh up

run: services ## run every service in one process, in dev mode
	$(nats_env) PULSE_DEV=$${PULSE_DEV:-1} cargo run --release -p pulse -- all

test: services ## run every test against the real services
	@mkdir -p .pulse
	@# The EXIT trap stops the test MongoDB however the tests end; the line keeps their status.
	infra/scripts/services.sh smtp-tool
	infra/scripts/services.sh deploy-tools
	trap 'infra/scripts/services.sh mongo-down' EXIT; infra/scripts/services.sh mongo-up || exit; \
	$(nats_env) $(mongo_env) set -o pipefail; \
	{ cargo test --workspace --all-targets && cargo test --workspace --doc; } 2>&1 | tee .pulse/test.log
	@# One closing line over every test binary, in the plain "N passed, N failed" form.
	@awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "%d passed, %d failed\n", passed, failed }' .pulse/test.log

bench: services ## benchmarks, as ratios against raw baselines measured in the same run
	@infra/scripts/services.sh tool wrk
	$(nats_env) cargo run --release -p events --example append_bench
	@infra/scripts/services.sh deploy-tools
	cargo run --release -p events --example durability_bench
	$(nats_env) cargo run --release -p command-api --example post_bench
	$(nats_env) cargo run --release -p command-api --example growth_bench
	$(nats_env) cargo run --release -p command-api --example read_bench
	@infra/scripts/services.sh smtp-tool
	$(nats_env) cargo run --release -p notifier --example email_bench
	cargo run --release -p command-api --example limiter_bench
	cargo build --release -p pulse
	cargo run --release -p chat-gateway --example chat_bench
	$(nats_env) cargo run --release -p pulse --example sizing_bench

lint: ## clippy and rustfmt checks
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check

stop: ## stop the services that `make services` started (never others)
	@infra/scripts/services.sh down
