#!/usr/bin/env bash
# Set up a fresh machine: the speech engine (Debian package) and a virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v espeak-ng >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null) \
      || echo "warning: could not install espeak-ng; announcements will be logged without speech"
  else
    echo "warning: espeak-ng not found (sudo apt-get install espeak-ng); announcements will be logged without speech"
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
echo "set-up done: .venv ready$(command -v espeak-ng >/dev/null && echo ', espeak-ng installed')"
