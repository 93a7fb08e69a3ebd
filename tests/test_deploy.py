"""The service files under deploy/. Images cannot be built here, so the container is tried
the next best way: exactly the files the Dockerfile copies, started with exactly its CMD and
environment against the fake Bot API, then judged by exactly its HEALTHCHECK."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TEST_CALENDAR
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def dockerfile() -> str:
    # Continuation lines joined, comments dropped: one instruction per line.
    text = (DEPLOY / "Dockerfile").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n\s*", " ", "\n".join(lines))


def instructions(name: str) -> list[str]:
    return [
        line.split(None, 1)[1]
        for line in dockerfile().splitlines()
        if line.split(None, 1)[:1] == [name]
    ]


def exec_form(name: str) -> list[str]:
    [value] = instructions(name)
    if name == "HEALTHCHECK":
        value = value.split("CMD", 1)[1]
    parsed = json.loads(value)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for value in instructions("ENV"):
        env.update(re.findall(r"(\w+)=(\S+)", value))
    return env


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / name, encoding="utf-8")
    return parser


def test_the_image_runs_as_a_user_with_the_database_on_a_volume() -> None:
    [user] = instructions("USER")
    assert user not in ("root", "0")
    env = image_env()
    database = env["DATABASE_URL"].split(":///", 1)[1]
    volumes = json.loads(instructions("VOLUME")[0])
    assert str(Path(database).parent) in volumes
    assert instructions("FROM")[0].startswith("python:3.1") and "slim" in instructions("FROM")[0]
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text("utf-8").split()
    assert {".env", "committee.toml", "data/", ".venv/", ".git/"} <= set(ignored)
    for source in (value.split()[0] for value in instructions("COPY")):
        assert (ROOT / source).exists(), source


def test_compose_and_systemd_agree_with_the_image() -> None:
    compose = (DEPLOY / "compose.yaml").read_text("utf-8")
    assert f"DATABASE_URL: {image_env()['DATABASE_URL']}" in compose
    assert "- data:/data" in compose and "dockerfile: deploy/Dockerfile" in compose
    assert "restart: unless-stopped" in compose

    service = unit("fuyuan-bot.service")["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # bot.py's "the operator must fix it"
    assert service["ExecStart"].endswith(".venv/bin/python bot.py")
    assert service["User"] != "root" and service["KillSignal"] == "SIGTERM"
    backup = unit("fuyuan-bot-backup.service")["Service"]
    assert backup["Type"] == "oneshot"
    assert "-m bot.backup /var/backups/fuyuan-bot --keep 14" in backup["ExecStart"]
    assert unit("fuyuan-bot-backup.timer")["Timer"]["Persistent"] == "true"


def test_the_image_files_start_the_bot_and_the_health_check_sees_it_tick(
    tmp_path: Path,
) -> None:
    """What the image would hold, started as the image starts it."""
    app = tmp_path / "app"
    app.mkdir()
    for value in instructions("COPY"):
        source, dest = value.split()
        target = app / dest.removeprefix("./")
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif dest.endswith("/"):
            shutil.copy(ROOT / source, app)
        else:
            shutil.copy(ROOT / source, target)
    committee = (ROOT / "committee.example.toml").read_text("utf-8") + TEST_CALENDAR
    (tmp_path / "committee.toml").write_text(committee, "utf-8")
    data = tmp_path / "data"
    data.mkdir()

    env = image_env()
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("////data/", f"///{data}/")
    env["COMMITTEE_CONFIG"] = str(tmp_path / "committee.toml")
    env["PATH"] = os.environ.get("PATH", "")
    env["HOME"] = str(tmp_path)

    def command(argv: list[str]) -> list[str]:
        assert argv[0] == "python"
        return [sys.executable, *argv[1:]]

    fake = FakeTelegram()
    with FakeBotApiServer(fake) as server:
        env["TELEGRAM_BOT_TOKEN"] = TEST_TOKEN
        env["TELEGRAM_API_BASE_URL"] = server.base_url
        env["TELEGRAM_BASE_FILE_URL"] = server.base_file_url
        proc = subprocess.Popen(
            command(exec_form("CMD")),
            cwd=app,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            user = fake.user(5151, "新用户")
            fake.wait_for(lambda: len(fake.calls_of("getUpdates")) > 0, 30)
            fake.send_text(user, "/start")
            fake.wait_for(lambda: len(fake.messages_to(user)) >= 1, 15)
            assert "5151" in fake.texts_to(user)[-1]

            # The health check, as Docker runs it, turns healthy once the first tick ran.
            deadline = time.monotonic() + 30
            while True:
                health = subprocess.run(
                    command(exec_form("HEALTHCHECK")),
                    cwd=app,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                if health.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert health.returncode == 0, health.stdout + health.stderr
            assert health.stdout.startswith("fuyuan-bot: ok (last tick ")
        finally:
            proc.terminate()
            output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Traceback" not in output


@pytest.mark.parametrize("name", ["fuyuan-bot.service", "fuyuan-bot-backup.service"])
def test_units_name_only_paths_the_service_may_write(name: str) -> None:
    service = unit(name)["Service"]
    assert service["ProtectSystem"] == "strict"
    assert "/opt/fuyuan-bot/data" in service["ReadWritePaths"]
