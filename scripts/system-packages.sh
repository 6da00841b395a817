#!/usr/bin/env bash
# Installs the Debian packages the project's tools use, when they are missing:
#   bubblewrap  - the sandbox the instructor's grader runs each submission in
#   chromium    - headless browser for the website's browser tests and Lighthouse
#   nodejs, npm - run KaTeX, which renders the book's math when the site is built
# A package counts as present when its command is on PATH (Node.js from another source,
# with its own npm, is fine). Needs root (or sudo). Without it, says what is missing and
# goes on: students need none of them.
set -u
declare -A command_of=([bubblewrap]=bwrap [chromium]=chromium [nodejs]=node [npm]=npm)
missing=()
for p in bubblewrap chromium nodejs npm; do
  command -v "${command_of[$p]}" >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not a Debian/Ubuntu system; install ${missing[*]} yourself (Node.js and npm build the website; bubblewrap and chromium grade and test)" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else
    echo "note: ${missing[*]} missing and no root: install them (apt-get install ${missing[*]}); Node.js and npm build the website, bubblewrap and chromium grade and test" >&2
    exit 0
  fi
fi
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
