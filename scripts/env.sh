# Sourced by the README's commands: makes sure .venv exists and holds uavm with its dev extras.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv" >&2
    "$PY" -m venv .venv
fi
stamp=.venv/.uavm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing uavm[dev] into .venv (first time: a few minutes)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch "$stamp"
fi
# Test media and the FFmpeg CLI used as a reference by parity tests.
if ! command -v ffmpeg >/dev/null || ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null \
        || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing ffmpeg, espeak-ng, sox and chromium (+ driver) with apt-get" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg espeak-ng sox chromium chromium-driver) >/dev/null 2>&1 \
            || echo "warning: apt-get could not install ffmpeg/espeak-ng/sox/chromium; tests needing them are skipped" >&2
    fi
fi
export PATH="$ROOT/.venv/bin:$PATH"
