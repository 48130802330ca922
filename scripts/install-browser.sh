#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver, which the browser tests drive headless
# through Selenium (no browser is downloaded by the tests themselves).
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing chromium and chromium-driver from Debian (for the browser tests)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q chromium chromium-driver >/dev/null
}
