#!/usr/bin/env bash
# The benchmarks' Python environment (CatBoost + Flask), cached by the hash of its requirements.
# Prints its python path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${ORCHARD_CACHE:-$HOME/.cache/orchard}"
hash=$(cat "$root/bench/requirements.txt" "$root/images/trainer/requirements.txt" | sha256sum | cut -c1-12)
venv="$cache/venv-bench-$hash"
if [ ! -f "$venv/.complete" ]; then
  echo "python venv for the benchmarks → $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  (cd "$root/bench" && "$venv/bin/pip" install --quiet --disable-pip-version-check --progress-bar off -r requirements.txt) >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
