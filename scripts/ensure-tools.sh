#!/usr/bin/env bash
# Makes sure every command-line tool the test suite needs is installed (called by `make test`).
#
#   as root:     apt-get installs the Debian packages of the missing tools, then exits 0
#   not root:    prints the exact `apt-get install` line for the missing ones and exits 2
#   all present: exits 0 silently
#
# The tools: java + javac (the test broker, the guide's Java example), mvn (Kafka jars),
# promtool + prometheus (alert rule tests, the scrape test), kcat (stock-client test),
# curl (guide commands), gofmt (the guide's Go example), chromium + chromedriver (the console's
# browser tests, tests/browser) and a Chinese font (their zh screenshots would show empty boxes).
set -euo pipefail

tools=(java javac mvn promtool prometheus kcat curl gofmt chromium chromedriver)
declare -A package_of=(
  [java]=openjdk-17-jdk-headless [javac]=openjdk-17-jdk-headless [mvn]=maven
  [promtool]=prometheus [prometheus]=prometheus [kcat]=kcat [curl]=curl [gofmt]=golang-go
  [chromium]=chromium [chromedriver]=chromium-driver
)

missing_tools=()
packages=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 && continue
  missing_tools+=("$tool")
  package=${package_of[$tool]}
  [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
done
# Not a command: the font of the zh screenshots, looked up by its package (wqy-microhei is 4 MB,
# the Noto CJK set 60+ MB).
font_status=$(dpkg-query -W -f='${Status}' fonts-wqy-microhei 2>/dev/null || true)
if [[ "$font_status" != *"ok installed"* ]]; then
  missing_tools+=("a Chinese font")
  packages+=(fonts-wqy-microhei)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs: ${missing_tools[*]} (not found on PATH). Install them, then run make test again:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 2
fi
echo "installing ${packages[*]} (for ${missing_tools[*]})" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
