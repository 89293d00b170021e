# syntax=docker/dockerfile:1
#
# regprune's container image: a static binary (CGO_ENABLED=0) on Alpine,
# run as a non-root user. Alpine rather than distroless/scratch because
# GitLab CI runs a job's script with /bin/sh inside the image.
#
# Build and push under the name the Kubernetes manifests and the GitLab
# template use (deploy/):
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t registry.example.com/tools/regprune:latest .
#   docker push registry.example.com/tools/regprune:latest
#
# image: registry.example.com/tools/regprune:latest

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/regprune/regprune/internal/cli.Version=${VERSION}" \
      -o /out/regprune ./cmd/regprune

FROM alpine:3.22
RUN apk add --no-cache ca-certificates \
 && adduser -D -H -u 65532 -s /sbin/nologin regprune
COPY --from=build /out/regprune /usr/local/bin/regprune
COPY LICENSE /usr/share/doc/regprune/LICENSE
USER 65532:65532
ENV XDG_CACHE_HOME=/tmp/cache
# The journal of deletions: mount a volume here to keep the restore window.
ENV XDG_STATE_HOME=/tmp/state
ENTRYPOINT ["/usr/local/bin/regprune"]
CMD ["--help"]
