#!/usr/bin/env bash
# Set up (first time) and start ConvScope: creates .venv, installs requirements.txt, runs the app.
# Usage: ./run_app.sh [extra streamlit options, e.g. --server.port 8502]
#        ./run_app.sh --replicas N [streamlit options]   N server processes behind Debian's nginx (deploy/replicas.py),
#                                                        which is installed first when missing and we may (root or sudo)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  touch "$stamp"
fi
for arg in "$@"; do
  case "$arg" in
    --replicas | --replicas=*)
      if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
        sudo=""
        [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo="sudo -n"
        if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
          echo "installing Debian's nginx (for --replicas)"
          $sudo apt-get install -y -qq nginx >/dev/null 2>&1 \
            || { $sudo apt-get update -qq && $sudo apt-get install -y -qq nginx >/dev/null; } \
            || echo "warning: could not install nginx"
          if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
            echo "note: Debian also started its own nginx service (port 80), which ConvScope does not use;" \
              "'sudo systemctl disable --now nginx' stops it"
          fi
        fi
      fi
      export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
      exec .venv/bin/python -m deploy.replicas "$@" # says what to install when nginx is still missing
      ;;
  esac
done
port=8501
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--server.port" ] && port=${args[$((i + 1))]}
done
echo "ConvScope: open http://localhost:${port} in your browser (Ctrl+C stops the server)"
# Fewer glibc malloc arenas: each training thread would otherwise keep its own, and memory grows per training.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
exec .venv/bin/python -m streamlit run serve.py --server.port "$port" "$@"
