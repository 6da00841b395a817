#!/usr/bin/env bash
# Installs the Debian packages the project's tools use, when they are missing:
#   bubblewrap  - the sandbox the instructor's grader runs each submission in
#   chromium    - headless browser for the website's browser tests
# Needs root (or sudo). Without it, says what is missing and goes on: students need neither.
set -u
packages=(bubblewrap chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not a Debian/Ubuntu system; install ${missing[*]} yourself for sandboxed grading and browser tests" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "note: ${missing[*]} missing and no root: install them (apt-get install ${missing[*]}) for sandboxed grading and browser tests" >&2
    exit 0
  fi
fi
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
