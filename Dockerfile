# syntax=docker/dockerfile:1
# Multi-stage build: a static binary in a minimal, non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /data
# The bolt store (sessions, generated secrets, store-backed users) lives here.
VOLUME /data
WORKDIR /data
ENV GATEHOUSE_STORE_BOLT_PATH=/data/gatehouse.db
# Listen on every interface of the container (the demo otherwise keeps to
# loopback, which a published port cannot reach). Like the store path, it
# does not count as configuration: with no config file and no other
# GATEHOUSE_* variable the image runs the demo; with them, it serves them.
ENV GATEHOUSE_SERVER_LISTEN=0.0.0.0:8443
EXPOSE 8443
USER 65532:65532
# No shell in the image: the binary asks its own /healthz on server.listen.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
