#!/bin/sh
# kube-test-binaries.sh builds the kube-apiserver that the Kubernetes in-use
# tests (internal/inuse, internal/cli) start against a local etcd, and caches
# it under ${XDG_CACHE_HOME:-$HOME/.cache}/regprune/kube/$VERSION/.
#
# The k8s.io/kubernetes module is not meant to be built as a dependency: its
# go.mod replaces every k8s.io staging module with a directory of its source
# tree. The script copies the module, drops the replace block, pins the
# staging modules to the matching v0.x release and builds with -mod=mod.
# The first build takes 5 to 11 minutes of CPU; later runs print the cached
# path at once. etcd is not built: Debian's etcd-server (/usr/bin/etcd) or any
# etcd 3.4+ on PATH will do (REGPRUNE_ETCD names another).
#
# Usage: scripts/kube-test-binaries.sh [--print]
#   --print  print the cached binary's path if it exists, build nothing;
#            exit 1 if it is not cached.
set -eu

VERSION=${REGPRUNE_KUBE_VERSION:-v1.37.2}
STAGING=v0.${VERSION#v1.}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/regprune/kube/$VERSION
BIN=$CACHE/kube-apiserver

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
if [ "${1:-}" = "--print" ]; then
	echo "kube-test-binaries: $BIN is not built; run scripts/kube-test-binaries.sh" >&2
	exit 1
fi

command -v go >/dev/null || { echo "kube-test-binaries: go is not on PATH" >&2; exit 1; }
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/regprune-kube.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM

start=$(date +%s)
echo "kube-test-binaries: downloading k8s.io/kubernetes@$VERSION" >&2
DIR=$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$DIR" ] && [ -d "$DIR" ] || { echo "kube-test-binaries: go mod download k8s.io/kubernetes@$VERSION gave no directory" >&2; exit 1; }

SRC=$WORK/kubernetes
mkdir -p "$SRC"
# The staging tree is not needed once the replace block is gone; the
# published modules stand in for it.
(cd "$DIR" && tar --exclude=./staging --exclude=./vendor -cf - .) | (cd "$SRC" && tar -xf -)
chmod -R u+w "$SRC"

# Drop the replace block and pin every k8s.io module required at v0.0.0
# (the staging modules) to the release that matches $VERSION.
awk -v v="$STAGING" '
	/^replace \($/ { skip = 1; next }
	skip && /^\)$/ { skip = 0; next }
	skip { next }
	/^replace k8s\.io\// { next }
	$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { sub(/v0\.0\.0/, v) }
	{ print }
' "$DIR/go.mod" >"$SRC/go.mod"
rm -f "$SRC/go.sum.orig"

echo "kube-test-binaries: building kube-apiserver $VERSION (staging modules $STAGING); this takes minutes" >&2
(cd "$SRC" && rm -f go.work go.work.sum && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags='-s -w' -o "$WORK/kube-apiserver" ./cmd/kube-apiserver)
mv "$WORK/kube-apiserver" "$BIN.tmp.$$"
mv "$BIN.tmp.$$" "$BIN"
echo "kube-test-binaries: built in $(( $(date +%s) - start ))s" >&2
echo "$BIN"
