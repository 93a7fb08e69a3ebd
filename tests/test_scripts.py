"""``./scripts/run`` and ``./scripts/test`` on a machine as an office finds it: a Python too
old, a .venv left by another Python, a start that should not re-check every package.

Each test runs the real scripts in a small copy of the project whose lock file lists nothing
(pip then has nothing to fetch) and whose bot.py only says it started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUB_BOT = 'import sys\nprint("bot started with", sys.version_info[:2])\n'


def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir(parents=True)
    for name in ("run", "venv.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "requirements.txt").write_text("# locked: nothing\n")
    (tmp_path / "bot.py").write_text(STUB_BOT)
    # A configured machine: without .env (and a token) ./scripts/run starts the sandbox.
    (tmp_path / ".env").write_text("")
    return tmp_path


def fake_python(path: Path, version: str) -> Path:
    """An interpreter that says it is ``version`` and can do nothing else."""
    major, minor = version.split(".")
    old = (int(major), int(minor)) < (3, 11)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *"sys.exit(sys.version_info"*) exit {1 if old else 0} ;;\n'
        f'  *"print("*) echo {version} ;;\n'
        "  *) exit 3 ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def real_python() -> str:
    """The base interpreter (not this test run's virtualenv), as an office would have it."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


def run(cwd: Path, python: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHON": python}
    return subprocess.run(
        ["bash", "scripts/run"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_python_older_than_3_11_is_one_clear_line(tmp_path: Path) -> None:
    root = project(tmp_path)
    old = fake_python(tmp_path / "bin" / "python3", "3.9")
    result = run(root, str(old))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"fuyuan-bot: needs Python 3.11 or newer, but {old} is 3.9: install it, "
        "or set PYTHON=/path/to/python3.11."
    ]
    assert not (root / ".venv").exists()

    missing = run(root, "python3.99")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        "fuyuan-bot: python3.99 not found: install Python 3.11 or newer, "
        "or set PYTHON=/path/to/python3.11."
    ]


def test_a_venv_of_another_python_is_rebuilt_and_an_unchanged_lock_is_not_reinstalled(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    python = real_python()
    # A .venv left by an earlier attempt with Python 3.9.
    fake_python(root / ".venv" / "bin" / "python", "3.9")

    first = run(root, python)
    assert first.returncode == 0, first.stderr
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"rebuilding .venv (it was made by Python 3.9, using {version} now)" in first.stderr
    assert f"bot started with ({sys.version_info[0]}, {sys.version_info[1]})" in first.stdout
    stamp = root / ".venv" / ".installed-requirements.txt.sha256"
    installed = stamp.read_text()

    # pip is taken away: a start with the same lock file must not need it.
    site = next((root / ".venv" / "lib").glob("python*/site-packages"))
    (site / "pip").rename(site / "pip.off")
    second = run(root, python)
    assert second.returncode == 0, second.stderr
    assert second.stderr == "" and "bot started" in second.stdout
    assert stamp.read_text() == installed

    # A changed lock file is installed (and here fails, pip being gone: so it was tried).
    (root / "requirements.txt").write_text("# locked: nothing, again\n")
    third = run(root, python)
    assert third.returncode != 0 and "bot started" not in third.stdout
    assert stamp.read_text() == installed  # a failed install leaves no stamp of success

    (site / "pip.off").rename(site / "pip")
    fourth = run(root, python)
    assert fourth.returncode == 0, fourth.stderr
    assert stamp.read_text() != installed


def test_without_python_set_a_new_enough_python_beside_an_old_python3_is_used(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "project")
    bin_dir = tmp_path / "bin"
    for name in ("python3", "python3.13", "python3.12"):
        fake_python(bin_dir / name, "3.9")  # an old system python3 (and nothing newer)
    (bin_dir / "python3.11").symlink_to(real_python())
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", "scripts/run"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert f"bot started with ({sys.version_info[0]}, {sys.version_info[1]})" in result.stdout
