# consul-peering-guard: a static binary on distroless, running as the nonroot user.
# `make image-build-check` runs the same go build without Docker; test/chart keeps the two
# build lines in step.
FROM golang:1.26 AS builder
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context: pass what make image passes (git describe, rev-parse, date).
ARG VERSION=dev
ARG REVISION=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.buildDate=${BUILD_DATE}" -o /out/consul-peering-guard ./cmd/consul-peering-guard

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/consul-peering-guard /consul-peering-guard
USER 65532:65532
ENTRYPOINT ["/consul-peering-guard"]
CMD ["serve"]
