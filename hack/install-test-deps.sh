#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Safe to rerun:
# it skips what is already present. In CI (CI=true) a missing dependency that
# cannot be installed is a failure, never a silent skip.
set -euo pipefail

need_apt=()
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# Debian's OCI registry, which internal/testserver/registry.go starts for the
# image-discovery tests.
[ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
# Debian's Prometheus 2, which internal/testserver/prometheus.go starts for
# the analysis (verification) tests.
[ -x /usr/bin/prometheus ] || need_apt+=(prometheus)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need_apt[*]}; install them with apt-get (needs root)" >&2
    exit 1
  fi
  apt-get update -qq
  # Keep package scripts from starting daemons (docker-registry would start
  # one on port 5000, prometheus one on 9090): a policy-rc.d that exits 101,
  # unless one is in place.
  own_policy=false
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=true
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  if $own_policy; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

go mod download

# crane, for pushing and inspecting images by hand and in scripts (the tests
# push in-process). Built once into the test cache.
test_bin="${XDG_CACHE_HOME:-$HOME/.cache}/caravan-test/bin"
if [ ! -x "$test_bin/crane" ]; then
  mkdir -p "$test_bin"
  GOBIN="$test_bin" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi
