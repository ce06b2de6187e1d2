#!/usr/bin/env bash
# Set up (or update) the environment and run the whole test suite.
#   - creates .venv and installs requirements-dev.txt (runtime + test dependencies)
#   - installs Debian's chromium + chromium-driver, the handwriting fonts and nginx (the replica tests) when missing
#     and we may (root or sudo)
#   - runs ruff, then pytest (unit, page and browser tests); extra arguments go to pytest
# Real datasets: set CONVSCOPE_DATA to a folder with mnist/ and fashion-mnist/ IDX files; tests that need them
# skip with the reason when they are absent.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-dev-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  touch "$stamp"
fi
packages="nginx chromium chromium-driver fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-rufscript fonts-sjfonts fonts-humor-sans fonts-comic-neue fonts-nanum"
need_apt=no
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt=yes
done
if [ "$need_apt" = yes ]; then
  sudo=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
  if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
    echo "installing Debian packages: $packages"
    $sudo apt-get install -y -qq $packages >/dev/null 2>&1 \
      || { $sudo apt-get update -qq && $sudo apt-get install -y -qq $packages >/dev/null; } \
      || echo "warning: could not install them; browser, handwriting and nginx tests will skip"
  else
    echo "warning: not root and no sudo: browser, handwriting and nginx tests skip unless chromium, the fonts and nginx are installed"
  fi
fi
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest "$@"
