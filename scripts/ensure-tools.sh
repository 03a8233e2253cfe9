#!/usr/bin/env bash
# Makes sure every command-line tool the test suite needs is installed (called by `make test`).
#
#   as root:     apt-get installs the Debian packages of the missing tools, then exits 0
#   not root:    prints the exact `apt-get install` line for the missing ones and exits 2
#   all present: exits 0 silently
#
# The tools: java + javac (the test broker, the guide's Java example), mvn (Kafka jars),
# promtool + prometheus (alert rule tests, the scrape test), kcat (stock-client test),
# curl (guide commands), gofmt (the guide's Go example).
set -euo pipefail

tools=(java javac mvn promtool prometheus kcat curl gofmt)
declare -A package_of=(
  [java]=openjdk-17-jdk-headless [javac]=openjdk-17-jdk-headless [mvn]=maven
  [promtool]=prometheus [prometheus]=prometheus [kcat]=kcat [curl]=curl [gofmt]=golang-go
)

missing_tools=()
packages=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 && continue
  missing_tools+=("$tool")
  package=${package_of[$tool]}
  [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
done
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs: ${missing_tools[*]} (not found on PATH). Install them, then run make test again:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 2
fi
echo "installing ${packages[*]} (for ${missing_tools[*]})" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
