#!/usr/bin/env bash
# Make .venv with Python >= 3.12 and install the pinned dependencies.
# Usage: scripts/bootstrap.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"

find_python() {
  local candidates=(python3.13 python3.12 python3 python)
  # pyenv keeps interpreters that are not on PATH by default.
  if command -v pyenv >/dev/null 2>&1; then
    for version in $(pyenv versions --bare 2>/dev/null | sort -rV); do
      candidates+=("$(pyenv root)/versions/$version/bin/python3")
    done
  fi
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  python=$(find_python) || { echo "expertloop needs Python 3.12 or newer; none was found." >&2; exit 1; }
  echo "Creating .venv with $($python --version) ($python)"
  rm -rf .venv
  "$python" -m venv .venv
fi

stamp=".venv/.installed-$(cat "$requirements" requirements.txt constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # --no-compile: Python compiles the modules it imports on first use; compiling every installed file up front
  # (pandas, scipy, scikit-learn, datasets …) took 70 of a fresh install's 100 seconds.
  .venv/bin/python -m pip install --quiet --no-compile -r "$requirements" -c constraints.txt
  touch "$stamp"
fi
