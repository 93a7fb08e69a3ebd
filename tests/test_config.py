"""Start-up configuration: every mistake an operator can make gets one clear message."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_committee, load_settings, parse_committee
from bot.domain.committee import GroupDetail, OrgKind
from tests.fakes.server import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent

TOKEN = TEST_TOKEN


def example() -> dict[str, Any]:
    return tomllib.loads((ROOT / "committee.example.toml").read_text("utf-8"))


def test_example_committee_is_the_changbai_mountain_committee() -> None:
    c = load_committee(ROOT / "committee.example.toml")
    zones = {o.name_zh for o in c.orgs_of_kind(OrgKind.ZONE)}
    assert zones == {"池北区", "池西区", "池南区"}
    courts = {o.name_zh for o in c.orgs_of_kind(OrgKind.COURT)}
    assert courts == {
        "延边州中级人民法院",
        "白山市中级人民法院",
        "安图县人民法院",
        "抚松县人民法院",
    }
    assert c.courts_answering("CHIBEI-CENTER") == {"YB-IPC"}
    assert c.courts_answering("CHIXINAN-CENTER") == {"FUSONG-COURT"}
    assert "二道巡回点" in c.centers["CHIBEI-CENTER"].location_zh
    assert c.group_detail is GroupDetail.SUMMARY
    assert c.admin_org == "CBS-OFFICE"


def test_settings_defaults() -> None:
    s = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert s.api_base_url == "https://api.telegram.org/bot"
    assert s.database_url.startswith("sqlite+aiosqlite:///data/")
    assert str(s.tz) == "Asia/Shanghai"
    assert s.committee_file == Path("committee.toml")


def test_settings_point_at_a_self_hosted_api() -> None:
    s = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "TELEGRAM_BASE_FILE_URL": "http://127.0.0.1:8081/file/bot",
            "TZ": "Asia/Harbin",
            "LOG_LEVEL": "debug",
        }
    )
    assert s.api_base_url == "http://127.0.0.1:8081/bot"
    assert s.file_base_url == "http://127.0.0.1:8081/file/bot"
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"TELEGRAM_BOT_TOKEN": "abc"}, "does not look like a bot token"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TZ": "Mars/Base"}, "unknown time zone"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": "ftp://x"},
            "TELEGRAM_API_BASE_URL",
        ),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "data.db"}, "DATABASE_URL"),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "postgresql://fuyuan:pw@db/fuyuan"},
            r"reaches postgresql through asyncpg: write postgresql\+asyncpg://",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "postgres+psycopg2://f:pw@db/fuyuan"},
            r"write postgresql\+asyncpg://",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "postgres+asyncpg://f:pw@db/fuyuan"},
            r"reaches postgresql through asyncpg: write postgresql\+asyncpg://",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "sqlite:///data/fuyuan.sqlite3"},
            r"reaches sqlite through aiosqlite: write sqlite\+aiosqlite://",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": "mysql+aiomysql://f:pw@db/fuyuan"},
            r"mysql\+aiomysql:// is not supported; use SQLite .* or PostgreSQL",
        ),
    ],
)
def test_bad_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_a_postgresql_url_is_taken_and_a_wrong_one_never_shows_its_password() -> None:
    url = "postgresql+asyncpg://fuyuan:s3cret-pw@127.0.0.1:5432/fuyuan"
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": url})
    assert settings.database_url == url
    with pytest.raises(ConfigError) as exc:
        load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": url.replace("+asyncpg", "")})
    assert "s3cret-pw" not in str(exc.value)


def test_token_never_in_the_error_message() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({"TELEGRAM_BOT_TOKEN": "12:short"})
    assert "short" not in str(exc.value)


def test_missing_and_unreadable_committee_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found\. Copy committee\.example\.toml"):
        load_committee(tmp_path / "committee.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[committee\nname_zh = 1", "utf-8")
    with pytest.raises(ConfigError, match="not valid UTF-8 TOML"):
        load_committee(bad)
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_committee(folder)


def _break(path: str, value: Any) -> dict[str, Any]:
    data = example()
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is None:
        del target[last]
    elif last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("centers.0.courts", ["NOPE"], "unknown organisation code 'NOPE'"),
        ("centers.0.courts", ["CHIBEI"], "'CHIBEI' is not a court"),
        ("organisations.1.kind", "ministry", "kind 'ministry' must be one of"),
        ("organisations.1.code", "CBS-OFFICE", "duplicate organisation code"),
        ("organisations.1.code", "bad code!", "must be 1-24 characters"),
        ("organisations.1.name_zh", "", "name_zh must be a non-empty string"),
        ("committee.admins", ["me"], "admins must be a list of Telegram user ids"),
        (
            "committee.admin_org",
            "CBS-NR",
            "admin_org 'CBS-NR' must be an organisation of kind office",
        ),
        ("committee.group_chat_id", 5, "group_chat_id must be a negative integer"),
        ("committee.group_detail", "everything", "group_detail 'everything'"),
        ("committee.invite_ttl_hours", 0, "invite_ttl_hours"),
        ("committee", None, "missing [committee] table"),
    ],
)
def test_bad_committee_files(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_committee(_break(path, value))


def test_committee_needs_an_office_and_a_court() -> None:
    data = example()
    data["organisations"] = [o for o in data["organisations"] if o["kind"] != "court"]
    data["centers"] = []
    with pytest.raises(ConfigError, match='kind = "court"'):
        parse_committee(data)
    data = example()
    data["organisations"] = [o for o in data["organisations"] if o["kind"] != "office"]
    with pytest.raises(ConfigError, match='kind = "office"'):
        parse_committee(data)


def test_schedule_from_the_example() -> None:
    from datetime import time, timedelta

    s = load_committee(ROOT / "committee.example.toml").schedule
    assert (s.due_soon_working_days, s.escalate_every_working_days) == (1, 2)
    assert (s.digest_weekday, s.digest_time) == (1, time(9, 0))
    assert (s.summary_time, s.quiet_start, s.quiet_end) == (time(8, 30), time(20), time(8))
    assert s.meeting_reminders == (timedelta(hours=24), timedelta(hours=1))
    assert s.deadlines["referral"] == {"ack": 3, "reply": 30}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"schedule": {"digest_weekday": "someday"}}, "digest_weekday 'someday'"),
        ({"schedule": {"digest_time": "9 o'clock"}}, "digest_time"),
        ({"schedule": {"summary_time": "half past eight"}}, "summary_time"),
        ({"schedule": {"quiet_start": "25:00"}}, "quiet_start"),
        ({"schedule": {"quiet_end": "08:00+08:00"}}, "must be a local time"),
        ({"schedule": {"summary_time": "07:30"}}, "falls in the quiet hours"),
        (
            {"schedule": {"quiet_start": "12:00", "quiet_end": "14:00", "summary_time": "13:00"}},
            "falls in the quiet hours",
        ),
        ({"schedule": {"meeting_reminders": ["soon"]}}, "meeting_reminders: 'soon'"),
        ({"schedule": {"meeting_reminders": "24h"}}, "must be a list"),
        ({"schedule": {"due_soon_working_days": -1}}, "due_soon_working_days"),
        ({"schedule": {"escalate_every_working_days": 0}}, "escalate_every_working_days"),
        ({"deadlines": {"no_such_kind": {"ack_working_days": 3}}}, "unknown kind"),
        (
            {"deadlines": {"referral": {"ack_working_days": 10, "reply_working_days": 5}}},
            "must not be less than",
        ),
        ({"calendar": {"2027": {"holidays": ["2027-02-30"]}}}, "2027-02-30"),
    ],
)
def test_bad_schedule_sections(table: dict[str, Any], message: str) -> None:
    data = example()
    data.update(table)
    with pytest.raises(ConfigError, match=message.replace("'", ".")):
        parse_committee(data)


def test_reports_from_the_example_and_their_defaults() -> None:
    from datetime import time

    reports = load_committee(ROOT / "committee.example.toml").reports
    assert (reports.quarterly, reports.quarterly_time) == (True, time(8, 30))
    data = example()
    data.pop("reports")
    data["schedule"]["summary_time"] = "09:15"
    reports = parse_committee(data).reports
    assert (reports.quarterly, reports.quarterly_time) == (True, time(9, 15))
    data["reports"] = {"quarterly": False, "quarterly_time": "10:00"}
    reports = parse_committee(data).reports
    assert (reports.quarterly, reports.quarterly_time) == (False, time(10))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"quarterly": "yes"}, "reports.quarterly must be true or false"),
        ({"quarterly_time": "noon"}, "reports.quarterly_time 'noon'"),
        ({"quarterly_time": "22:00"}, "quarterly_time 22:00 falls in the quiet hours"),
        ({"monthly": True}, "unknown key 'monthly'"),
    ],
)
def test_bad_reports_sections(table: dict[str, Any], message: str) -> None:
    data = example()
    data["reports"] = table
    with pytest.raises(ConfigError, match=message.replace("'", ".")):
        parse_committee(data)
    data["reports"] = "quarterly"
    with pytest.raises(ConfigError, match="reports must be a table"):
        parse_committee(data)


def test_example_short_names_and_return_reasons() -> None:
    c = load_committee(ROOT / "committee.example.toml")
    assert all(o.short_zh and o.short_en for o in c.organisations.values())
    assert c.button_name("CBS-HRSS", "zh_CN") == "人社局"
    assert c.button_name("YB-IPC", "zh_CN") == "延边中院"
    assert c.button_name("ANTU-COURT", "en") == "Antu Court"
    assert c.addressee_name("CBS-HRSS", "zh_CN") == "长白山管委会人力资源和社会保障局"
    # Centers have none in the example: their buttons show the full name.
    assert c.button_name("CHIBEI-CENTER", "zh_CN") == "池北行政争议协调化解中心"
    assert c.return_reasons == ()  # the built-in quick reasons


def test_short_names_and_return_reasons_parse() -> None:
    data = example()
    data["organisations"][0].pop("short_en")
    data["centers"][0]["short_zh"] = "池北中心"
    data["returns"] = {"reasons": [{"zh": "请补充权属证明", "en": "Add proof of title"}]}
    c = parse_committee(data)
    office = data["organisations"][0]["code"]
    assert c.button_name(office, "en") == c.organisations[office].name_en  # falls back
    assert c.button_name("CHIBEI-CENTER", "zh_CN") == "池北中心"
    assert [(p.zh, p.en) for p in c.return_reasons] == [("请补充权属证明", "Add proof of title")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["organisations"][1].update(short_zh=""), r"organisations\[1\]\.short_zh"),
        (lambda d: d["organisations"][1].update(short_en="x" * 25), "at most 24"),
        (lambda d: d["organisations"][1].update(short_zh=3), r"short_zh must be"),
        (lambda d: d.update(returns={"reasons": "材料不全"}), "returns.reasons must be a list"),
        (lambda d: d.update(returns={"reasons": [{"zh": "材料不全"}]}), r"reasons\[0\]"),
        (
            lambda d: d.update(returns={"reasons": [{"zh": "材料不全", "en": ""}]}),
            r"reasons\[0\]\.en",
        ),
        (
            lambda d: d.update(returns={"reasons": [{"zh": "长" * 61, "en": "Long"}]}),
            "at most 60",
        ),
        (
            lambda d: d.update(returns={"reasons": [{"zh": "甲", "en": "A"}] * 9}),
            "at most 8 reasons",
        ),
        (lambda d: d.update(returns={"reason": []}), "one key, reasons"),
    ],
)
def test_bad_short_names_and_return_reasons(change: Any, message: str) -> None:
    data = example()
    change(data)
    with pytest.raises(ConfigError, match=message):
        parse_committee(data)


# ---------------------------------------------------------------- proxy and log format


def test_the_proxy_comes_from_https_proxy_then_all_proxy() -> None:
    base = {"TELEGRAM_BOT_TOKEN": TOKEN}
    assert load_settings(base).proxy is None
    s = load_settings({**base, "ALL_PROXY": "socks5://127.0.0.1:1080"})
    assert (s.proxy, s.proxy_source) == ("socks5://127.0.0.1:1080", "ALL_PROXY")
    s = load_settings(
        {**base, "ALL_PROXY": "socks5://127.0.0.1:1080", "https_proxy": "10.0.0.2:3128"}
    )
    assert (s.proxy, s.proxy_source) == ("http://10.0.0.2:3128", "https_proxy")
    # An http Bot API (self-hosted) is reached through HTTP_PROXY, not HTTPS_PROXY.
    local = {**base, "TELEGRAM_API_BASE_URL": "http://10.0.0.9:8081/bot"}
    assert load_settings({**local, "HTTPS_PROXY": "http://10.0.0.2:3128"}).proxy is None
    s = load_settings({**local, "HTTP_PROXY": "http://10.0.0.2:3128"})
    assert s.proxy_source == "HTTP_PROXY"


@pytest.mark.parametrize("no_proxy", ["*", "10.0.0.9", "bots.example.org", ".example.org:8081"])
def test_no_proxy_exempts_a_self_hosted_bot_api(no_proxy: str) -> None:
    host = "10.0.0.9" if "10." in no_proxy or no_proxy == "*" else "api.bots.example.org"
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"https://{host}:8081/bot",
        "ALL_PROXY": "socks5://127.0.0.1:1080",
        "NO_PROXY": f"localhost, {no_proxy}",
    }
    assert load_settings(env).proxy is None
    assert load_settings({**env, "NO_PROXY": "localhost,other.org"}).proxy is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("socks4://127.0.0.1:1080", "ALL_PROXY: proxy scheme 'socks4' is not supported"),
        ("http://127.0.0.1:port", "ALL_PROXY: 'http://127.0.0.1:port' is not a proxy URL"),
        ("socks5://user:secret@:1080", "ALL_PROXY: 'socks5://:1080' is not a proxy URL"),
    ],
)
def test_a_bad_proxy_is_one_clear_message_without_its_password(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "ALL_PROXY": value})
    assert "secret" not in str(info.value)


def test_log_format_is_text_or_json() -> None:
    base = {"TELEGRAM_BOT_TOKEN": TOKEN}
    assert load_settings(base).log_format == "text"
    assert load_settings({**base, "LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of text, json, got 'xml'"):
        load_settings({**base, "LOG_FORMAT": "xml"})


WEBHOOK = {"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.org/tg"}


def test_polling_by_default_and_no_health_endpoint() -> None:
    s = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": "ignored-without-url"})
    assert s.webhook_url is None and s.webhook_secret is None
    assert s.health_listen is None


def test_webhook_settings() -> None:
    s = load_settings(
        {
            **WEBHOOK,
            "WEBHOOK_URL": "https://bot.example.org:8443/fuyuan/tg/",
            "WEBHOOK_SECRET": "a" * 256,
            "WEBHOOK_LISTEN": "[::1]:9000",
            "HEALTH_LISTEN": "0.0.0.0:8080",
        }
    )
    assert s.webhook_url == "https://bot.example.org:8443/fuyuan/tg/"
    assert s.webhook_path == "/fuyuan/tg"
    assert s.webhook_secret == "a" * 256
    assert s.webhook_listen == ("::1", 9000)
    assert s.health_listen == ("0.0.0.0", 8080)
    assert "a" * 256 not in repr(s)  # a credential stays out of any printed settings
    default = load_settings({**WEBHOOK, "WEBHOOK_SECRET": "Az09_-"})
    assert default.webhook_listen == ("127.0.0.1", 8443) and default.webhook_path == "/tg"


@pytest.mark.parametrize(
    "secret", ["", "   ", "a" * 257, "has space", "slash/no", "plus+no", "点", "a:b", "a=b"]
)
def test_a_webhook_needs_a_valid_secret_token(secret: str) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET") as info:
        load_settings({**WEBHOOK, "WEBHOOK_SECRET": secret})
    if secret.strip():
        assert secret not in str(info.value)  # the message never repeats a credential
        assert "1-256 characters of A-Z, a-z, 0-9, '_' and '-'" in str(info.value)
    else:
        assert "WEBHOOK_SECRET is required with WEBHOOK_URL" in str(info.value)


@pytest.mark.parametrize("secret", ["a", "Z" * 256, "abc_DEF-123"])
def test_valid_secret_tokens(secret: str) -> None:
    assert load_settings({**WEBHOOK, "WEBHOOK_SECRET": secret}).webhook_secret == secret


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_URL": "http://bot.example.org/tg"}, "must be a public https URL"),
        ({"WEBHOOK_URL": "bot.example.org/tg"}, "must be a public https URL"),
        ({"WEBHOOK_URL": "https:///tg"}, "must be a public https URL"),
        ({"WEBHOOK_URL": "https://bot.example.org/tg?x=1"}, "must be a public https URL"),
        ({"WEBHOOK_URL": "https://bot.example.org:8080/tg"}, "ports 443, 80, 88, 8443, not 8080"),
        ({"WEBHOOK_URL": "https://u:p@bot.example.org/tg"}, "user name or password"),
        ({"WEBHOOK_LISTEN": "8443"}, "WEBHOOK_LISTEN must be host:port"),
        ({"WEBHOOK_LISTEN": "127.0.0.1:0"}, "WEBHOOK_LISTEN must be host:port"),
        ({"WEBHOOK_LISTEN": "127.0.0.1:70000"}, "WEBHOOK_LISTEN must be host:port"),
        ({"HEALTH_LISTEN": "localhost"}, "HEALTH_LISTEN must be host:port"),
        ({"HEALTH_LISTEN": ":8080"}, "HEALTH_LISTEN must be host:port"),
        ({"HEALTH_LISTEN": "127.0.0.1:8443"}, "HEALTH_LISTEN and WEBHOOK_LISTEN must be different"),
    ],
)
def test_bad_webhook_and_health_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({**WEBHOOK, "WEBHOOK_SECRET": "s3cret", **env})
