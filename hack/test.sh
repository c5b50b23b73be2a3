#!/usr/bin/env bash
# Runs every check CI runs: formatting, vet, generated code, and the whole
# test suite. Installs what the tests need first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/install-test-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files (run 'gofmt -w' on them):" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== generated code is current"
make --no-print-directory check-generated

echo "== go test"
go test -count=1 ${GOTESTFLAGS:-} ./...
