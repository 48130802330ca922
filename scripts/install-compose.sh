#!/usr/bin/env bash
# Install Debian's docker-compose, which the tests use to validate docker-compose.yml
# statically (`docker-compose config`); no Docker engine is needed for that.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing docker-compose from Debian (to validate docker-compose.yml)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q docker-compose >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q docker-compose >/dev/null
}
