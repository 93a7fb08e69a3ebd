# Sourced by ./scripts/run and ./scripts/test: make sure .venv exists, was made by a Python
# 3.11 or newer ($PYTHON, else the first of python3, python3.13, python3.12, python3.11 that is
# new enough), and holds exactly the locked packages of the given lock
# file. An install is skipped when the lock file has not changed since the last one (a stamp in
# .venv holds its hash), so a start costs no package check.
#
# usage: ensure_venv requirements.txt   (or requirements-dev.txt)

VENV=.venv

_new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [ -z "${PYTHON:-}" ]; then
    # python3, or a newer one installed beside an old system python3.
    PYTHON=python3
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 && _new_enough "$candidate"; then
            PYTHON="$candidate"
            break
        fi
    done
fi

_say() { echo "fuyuan-bot: $*" >&2; }

_python_version() {
    # Prints "3.11" for the given interpreter; fails if it cannot run.
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

_lock_hash() {
    # The hash of a lock file and of the lock files it includes (-r other.txt), in order.
    "$VENV/bin/python" - "$1" <<'PY'
import hashlib, pathlib, sys

digest = hashlib.sha256()
seen = set()

def add(path: pathlib.Path) -> None:
    if path in seen:
        return
    seen.add(path)
    text = path.read_bytes()
    digest.update(path.name.encode() + b"\0" + text + b"\0")
    for line in text.decode().splitlines():
        if line.startswith("-r "):
            add(path.parent / line[3:].strip())

add(pathlib.Path(sys.argv[1]))
print(digest.hexdigest())
PY
}

ensure_venv() {
    local lock="$1" want have stamp hash
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        _say "$PYTHON not found: install Python 3.11 or newer, or set PYTHON=/path/to/python3.11."
        exit 1
    fi
    want="$(_python_version "$PYTHON")" || want=""
    if ! _new_enough "$PYTHON"; then
        _say "needs Python 3.11 or newer, but $PYTHON is ${want:-unusable}: install it, or set PYTHON=/path/to/python3.11."
        exit 1
    fi
    have=""
    if [ -x "$VENV/bin/python" ]; then
        have="$(_python_version "$VENV/bin/python")" || have=""
    fi
    if [ -e "$VENV" ] && [ "$have" != "$want" ]; then
        # Made by another Python (or broken): later runs would keep failing in it.
        _say "rebuilding $VENV (it was made by Python ${have:-unknown}, using $want now)."
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    stamp="$VENV/.installed-$(basename "$lock").sha256"
    hash="$(_lock_hash "$lock")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
        return 0
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock"
    echo "$hash" >"$stamp"
}
