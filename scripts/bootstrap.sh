# Sourced by scripts/serve and scripts/test: a virtualenv in .venv with the project installed.
# `EXTRAS` picks what to install: "" (runtime, for serve) or "dev" (tests and tools).
# Re-installs only when pyproject.toml changed since the last install of that set (or of dev,
# which includes the runtime).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
EXTRAS="${EXTRAS:-}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
stamp_ok() { [ -f ".venv/.installed-$1" ] && [ "$(cat ".venv/.installed-$1")" = "$WANT" ]; }
if ! stamp_ok dev && { [ -n "$EXTRAS" ] || ! stamp_ok runtime; }; then
  echo "installing dependencies into .venv${EXTRAS:+ (with $EXTRAS extras)}" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
  echo "$WANT" > ".venv/.installed-${EXTRAS:-runtime}"
fi
export PATH="$ROOT/.venv/bin:$PATH"
