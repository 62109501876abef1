# One multi-stage file for both images. Build a target with:
#   docker build --target manager      -t ghcr.io/userservice-dev/userservice-operator:v0.1.0 .
#   docker build --target user-service -t ghcr.io/userservice-dev/user-service:v0.1.0 .
# `make images` builds the same two images without a Docker daemon (hack/images):
# static binaries on a base with only CA certificates, run as 65532:65532.
ARG GO_VERSION=1.26
ARG VERSION=0.1.0
ARG REVISION=unknown

FROM golang:${GO_VERSION} AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
# Cache dependencies before copying the sources, so code edits do not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
# CGO_ENABLED=0 makes both binaries static, so they run on distroless/static with no libc.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/manager ./cmd && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/user-service ./cmd/user-service

# distroless/static:nonroot has CA certificates, /etc/passwd with nonroot (65532),
# /tmp, and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot AS manager
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="userservice-operator" \
      org.opencontainers.image.description="Kubernetes operator that runs user-service and gates rollouts on its migrations" \
      org.opencontainers.image.source="https://github.com/userservice-dev/userservice-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM gcr.io/distroless/static-debian12:nonroot AS user-service
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="user-service" \
      org.opencontainers.image.description="REST service for users on PostgreSQL" \
      org.opencontainers.image.source="https://github.com/userservice-dev/userservice-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /
COPY --from=builder /out/user-service /user-service
USER 65532:65532
EXPOSE 3000
ENTRYPOINT ["/user-service"]
