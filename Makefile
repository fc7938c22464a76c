# Empfio Webhooks. The two commands: `make run` and `make test`.
.PHONY: run test build services stop-services bench vet

run: ## everything on this machine: Postgres, Redis, migrations, api, worker, demo org
	@scripts/run.sh

test: ## the same services, then every test
	@scripts/test.sh

build:
	@mkdir -p bin && go build -o bin/ ./cmd/...

services: ## start (or find) Postgres and Redis only
	@scripts/services.sh

stop-services: ## stop the private Postgres and Redis under .data/
	@scripts/services.sh stop

bench: ## delivery throughput and latency against a local receiver, with asynq's no-op baseline
	@scripts/services.sh && . .data/services.env && \
	go test -run '^$$' -bench 'AsynqNoop|EndToEnd' -benchtime 3000x ./jobs/ && \
	go test -run '^$$' -bench Latency -benchtime 100x ./jobs/

vet:
	@go vet ./... && gofmt -l .
