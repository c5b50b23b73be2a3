#!/usr/bin/env bash
# Builds the "heavy repository" of the benchmarks (../shared/BENCHMARKS.md)
# once, into a cache: a bare repository whose main branch holds a small
# kustomize app (base/ and one overlay per stage under env/), 120 files of
# 400 KiB of random bytes committed early, then 5,000 small commits — about
# 50 MB packed. It is written with `git fast-import` (seconds, not the
# minutes of 5,000 `git commit` calls) and packed with a bitmap index so that
# clones of it are quick.
#
#   bash hack/bench/heavyrepo.sh [DEST]
#
# DEST defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/caravan-test/heavy.git. An
# existing repository is kept unless FORCE=1. HEAVY_FILES, HEAVY_FILE_KIB and
# HEAVY_COMMITS change the shape (defaults 120, 400, 5000).
set -euo pipefail

dest=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/caravan-test/heavy.git}
files=${HEAVY_FILES:-120}
kib=${HEAVY_FILE_KIB:-400}
commits=${HEAVY_COMMITS:-5000}

if [ -f "$dest/HEAD" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "heavy repository already built: $dest (FORCE=1 rebuilds it)"
  exit 0
fi
command -v git >/dev/null || { echo "git is missing: apt-get install git" >&2; exit 1; }

mkdir -p "$(dirname "$dest")"
# Build next to the destination so that the final mv is an atomic rename.
tmp=$(mktemp -d "$(dirname "$dest")/.heavy-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
start=$(date +%s)
repo=$tmp/heavy.git
git init --quiet --bare --initial-branch=main "$repo"

epoch=1704067200 # 2024-01-01T00:00:00Z; each commit is a minute later
ident="Caravan Bench <bench@caravan.invalid>"

# inline PATH CONTENT: a file modification with its content inline.
inline() {
  printf 'M 100644 inline %s\ndata <<EOF\n%s\nEOF\n' "$1" "$2"
}

stream() {
  local i s
  for ((i = 1; i <= files; i++)); do
    printf 'blob\nmark :%d\ndata %d\n' "$i" $((kib * 1024))
    head -c $((kib * 1024)) /dev/urandom
    printf '\n'
  done

  printf 'commit refs/heads/main\ncommitter %s %d +0000\ndata <<EOF\nAdd the app and its assets\nEOF\n' "$ident" "$epoch"
  for ((i = 1; i <= files; i++)); do
    printf 'M 100644 :%d assets/blob-%03d.bin\n' "$i" "$i"
  done
  inline base/kustomization.yaml "resources:
- deployment.yaml"
  inline base/deployment.yaml "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: registry.example/app:1.0.0"
  for s in s1 s2 s3 s4 s5; do
    inline "env/$s/kustomization.yaml" "resources:
- ../../base
namePrefix: $s-"
  done

  for ((i = 1; i <= commits; i++)); do
    printf 'commit refs/heads/main\ncommitter %s %d +0000\ndata <<EOF\nchange %d\nEOF\n' \
      "$ident" $((epoch + 60 * i)) "$i"
    inline "notes/note-$((i % 50)).txt" "change $i"
  done
}

stream | git -C "$repo" fast-import --quiet
git -C "$repo" -c pack.threads=2 repack -a -d -q --write-bitmap-index
git -C "$repo" prune-packed

rm -rf "$dest"
mv "$repo" "$dest"
size=$(du -sk "$dest/objects/pack" | cut -f1)
echo "heavy repository built in $(($(date +%s) - start)) s: $dest" \
  "($(git -C "$dest" rev-list --count main) commits, $((size / 1024)) MiB packed)"
