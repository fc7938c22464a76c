# Empfio Webhooks. The two commands: `make run` and `make test`.
.PHONY: release compose-env docs sdk run test test-faults build services stop-services bench bench-go vet lint screenshots

# go.mod names the patched Go toolchain; the go command fetches it from the
# module proxy when the installed one is older.
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/empfio/webhooks.version=$(VERSION)

run: ## everything on this machine: Postgres, Redis, migrations, api, worker, demo org
	@scripts/run.sh

test: ## the same services, then every test
	@scripts/test.sh

build:
	@mkdir -p bin && go build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

services: ## start (or find) Postgres and Redis only
	@scripts/services.sh

stop-services: ## stop the private Postgres and Redis under .data/
	@scripts/services.sh stop

bench: ## the whole stack through the public ingest, every figure beside its baselines (ARGS="-n 5000 -workers 2 -cpuprofile ...")
	@scripts/services.sh && . .data/services.env && go run ./bench $(ARGS)

bench-go: ## the in-process Go benchmarks of the delivery pipeline
	@scripts/services.sh && . .data/services.env && \
	go test -run '^$$' -bench 'AsynqNoop|EndToEnd' -benchtime 3000x ./jobs/ && \
	go test -run '^$$' -bench Latency -benchtime 100x ./jobs/

test-faults: ## the fault suite alone: workers killed, Redis flushed and restarted, Postgres restarted (part of make test)
	@scripts/services.sh && . .data/services.env && go test -tags faults -count=1 -timeout 20m -v ./faults

docs: ## regenerate docs/events.md from the event catalog, and api/openapi.json
	@go test -count=1 . -run TestDocs_EventsMatchTheCatalog -update
	@scripts/services.sh && . .data/services.env && go test -count=1 ./api -run TestOpenAPI_ValidAndCommitted -update

sdk: ## regenerate sdk/go (oapi-codegen) and sdk/typescript (openapi-typescript) from api/openapi.json
	@scripts/npm.sh && scripts/sdk.sh

lint: ## gofmt, go vet, staticcheck, govulncheck (part of make test)
	@scripts/npm.sh && scripts/lint.sh

vet: lint

screenshots: ## the dashboard's screenshot set in screenshots/ (list, webhook with charts, delivery, phone width, portal)
	@scripts/services.sh && scripts/chromium.sh && . .data/services.env && go test -count=1 -run 'TestDashboard_Screenshots$$' ./dashboard/

compose-env: ## write .env for docker compose (fresh tokens and key) unless it exists
	@scripts/compose-env.sh

release: ## api, worker and empfio for linux, darwin and windows on amd64 and arm64, with SHA-256 sums, in bin/release/
	@scripts/release.sh
