#!/usr/bin/env bash
# Installs the headless browser the UI tests and `landmeter report --format pdf` use:
# Chromium and ChromeDriver. Through apt-get (Debian/Ubuntu) when the machine has it and we
# are root or have sudo; otherwise it names what to install and fails, so the tests do not
# run half-equipped. The demo does not need it (scripts/setup.sh does not call this).
#
#   macOS:   brew install --cask chromium && brew install chromedriver, then
#            export LANDMETER_CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium
#   Fedora:  dnf install chromium chromedriver (LANDMETER_CHROMIUM=/usr/bin/chromium-browser)
set -euo pipefail

chromium="${LANDMETER_CHROMIUM:-/usr/bin/chromium}"
chromedriver="${LANDMETER_CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ -x "$chromium" ] && [ -x "$chromedriver" ]; then
    echo "chromium already installed: $chromium, $chromedriver"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && sudo="sudo"
fi
if ! command -v apt-get >/dev/null || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
    echo "error: the UI tests and PDF reports need Chromium and ChromeDriver ($chromium, $chromedriver)." >&2
    echo "       Install them with your package manager (Debian/Ubuntu: apt-get install chromium chromium-driver;" >&2
    echo "       Fedora: dnf install chromium chromedriver; macOS: brew install --cask chromium && brew install chromedriver)" >&2
    echo "       and set LANDMETER_CHROMIUM / LANDMETER_CHROMEDRIVER when they live elsewhere." >&2
    exit 1
fi
echo "installing chromium and chromium-driver with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
test -x /usr/bin/chromedriver || { echo "error: /usr/bin/chromedriver missing after install" >&2; exit 1; }
