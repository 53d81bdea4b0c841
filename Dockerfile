# syntax=docker/dockerfile:1
#
# flashsale as a small static image: built with the Go toolchain, run from
# distroless's static image (CA certificates, /etc/passwd with a nonroot
# user, tzdata, /tmp; no shell, no package manager).
#
#   docker build -t flashsale .
#   docker run --rm -p 8080:8080 -v flashsale-data:/data flashsale serve --demo
#
# deploy/README.md ("Container image") says what was validated where.

# The toolchain runs on the builder's own platform and cross-compiles
# (CGO is off: modernc.org/sqlite is pure Go), so a multi-platform build
# (docker buildx build --platform linux/amd64,linux/arm64) needs no
# emulation. Go 1.26, as go.mod requires.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# -trimpath: no build machine paths in the binary (reproducible, nothing
# about the builder leaks). -s -w: no symbol table nor DWARF, a third off
# the binary's size (deploy/README.md has the figures); panics still print
# their stack traces. The context keeps .git (.dockerignore), so the binary
# carries its VCS stamp: 'flashsale version' and flashsale_build_info name
# the commit.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/flashsale ./cmd/flashsale
# The data folder (embedded mode: SQLite, the embedded NATS server's
# stream), created here because the runtime image has no shell to mkdir.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flashsale /usr/local/bin/flashsale
COPY --from=build --chown=65532:65532 /out/data /data
# distroless's nonroot user, by number so that Kubernetes' runAsNonRoot can
# check it without reading /etc/passwd.
USER 65532:65532
ENV FLASHSALE_ADDR=:8080 \
    FLASHSALE_DATA_DIR=/data
# Embedded mode's orders live here; distributed mode writes nothing.
VOLUME ["/data"]
EXPOSE 8080
# No HEALTHCHECK: there is no shell or curl to run one, and orchestrators
# probe over HTTP themselves: GET /healthz (the process answers: liveness)
# and GET /readyz (dependencies reachable, not draining: readiness).
ENTRYPOINT ["/usr/local/bin/flashsale"]
CMD ["serve"]
