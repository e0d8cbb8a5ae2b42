#!/usr/bin/env bash
# Builds release archives of midge for every platform, with SHA256SUMS:
#   dist/release.sh [VERSION [OUTDIR]]   (default: git describe, dist/out)
# Each archive holds the binary, README.md, LICENSE if present, docs/ and
# the service files of dist/. Windows gets a .zip, the others a .tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
out=${2:-dist/out}
targets=${TARGETS:-"linux/amd64 linux/arm64 linux/arm darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $targets; do
	goos=${target%/*} goarch=${target#*/}
	name=midge-$version-$goos-$goarch
	[ "$goarch" = arm ] && name=$name"v7"
	dir=$work/$name
	mkdir -p "$dir"
	exe=midge
	[ "$goos" = windows ] && exe=midge.exe
	GOOS=$goos GOARCH=$goarch GOARM=7 CGO_ENABLED=0 \
		go build -trimpath -ldflags "-s -w" -o "$dir/$exe" ./cmd/midge
	cp README.md "$dir/"
	[ -f LICENSE ] && cp LICENSE "$dir/"
	cp -r docs "$dir/"
	cp dist/midge.service dist/com.github.midge-mqtt.midge.plist "$dir/"
	if [ "$goos" = windows ]; then
		(cd "$work" && zip -qr "$out/$name.zip" "$name")
	else
		tar -C "$work" -czf "$out/$name.tar.gz" "$name"
	fi
done
(cd "$out" && sha256sum midge-"$version"-* >SHA256SUMS)
echo "$out:"
(cd "$out" && ls -l midge-"$version"-* SHA256SUMS)
