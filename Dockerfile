# Multi-stage build: static binaries on a distroless base, running as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# go.mod names the patched toolchain; fetch it if the image's Go is older.
ENV GOTOOLCHAIN=auto
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version in every delivery's User-Agent: docker build --build-arg VERSION=v1.2.3
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/empfio/webhooks.version=${VERSION}" -o /out/ ./cmd/api ./cmd/worker ./cmd/empfio

FROM gcr.io/distroless/static-debian12:nonroot
# api, worker and the empfio CLI; the healthchecks are `api healthcheck` and
# `worker healthcheck` (no shell, no curl in this image).
COPY --from=build /out/api /out/worker /out/empfio /usr/local/bin/
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/api"]
