#!/usr/bin/env bash
# Set up (first time) and start ConvScope: creates .venv, installs requirements.txt, runs the app.
# Usage: ./run_app.sh [extra streamlit options, e.g. --server.port 8502]
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
port=8501
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--server.port" ] && port=${args[$((i + 1))]}
done
echo "ConvScope: open http://localhost:${port} in your browser (Ctrl+C stops the server)"
# Fewer glibc malloc arenas: each training thread would otherwise keep its own, and memory grows per training.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
exec .venv/bin/python -m streamlit run app.py --server.port "$port" "$@"
