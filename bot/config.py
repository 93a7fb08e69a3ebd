"""Operator configuration: environment settings and the human-edited committee file.

Everything is validated once at start-up so that an operator sees one clear message
("COMMITTEE_CONFIG: unknown organisation code 'XYZ' in centers[0].courts") instead of a
traceback at the first update.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.committee import (
    Center,
    Committee,
    GroupDetail,
    Organisation,
    OrgKind,
    Phrase,
    Reports,
    Schedule,
)
from bot.domain.kinds import KindRegistry
from bot.domain.mechanisms import default_registry
from bot.domain.text import clean_name
from bot.domain.workdays import CalendarOverrides, YearSchedule

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_BASE_URL = "https://api.telegram.org/file/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/fuyuan.sqlite3"
DEFAULT_COMMITTEE_FILE = "committee.toml"
_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,23}$")
_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
LOG_FORMATS = ("text", "json")
# What httpx (python-telegram-bot's HTTP client) can talk to; socks5 needs httpx[socks].
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
DEFAULT_WEBHOOK_LISTEN = ("127.0.0.1", 8443)
# Telegram's rule for setWebhook's secret_token.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# The only ports Telegram posts webhooks to.
WEBHOOK_PORTS = (443, 80, 88, 8443)


class ConfigError(Exception):
    """A configuration problem the operator must fix; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Settings:
    token: str
    api_base_url: str = DEFAULT_API_BASE_URL
    file_base_url: str = DEFAULT_FILE_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    committee_file: Path = Path(DEFAULT_COMMITTEE_FILE)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    log_level: str = "INFO"
    # "text" (one line per record) or "json" (one JSON object per line, for a log collector).
    log_format: str = "text"
    # The proxy for every request to the Bot API, from HTTPS_PROXY/ALL_PROXY (None: direct).
    proxy: str | None = None
    # The environment variable the proxy came from, to name it in messages.
    proxy_source: str | None = None
    # Webhook mode (None: long polling): the public https URL Telegram posts updates to, the
    # local address the bot listens on behind the reverse proxy, and the secret token every
    # request must carry.
    webhook_url: str | None = None
    webhook_listen: tuple[str, int] = DEFAULT_WEBHOOK_LISTEN
    webhook_secret: str | None = field(default=None, repr=False)
    # The local address of GET /healthz (None: not served).
    health_listen: tuple[str, int] | None = None

    @property
    def webhook_path(self) -> str:
        """The path the local listener serves: the public URL's, as a reverse proxy passes it."""
        return urlsplit(self.webhook_url or "").path.rstrip("/")


def proxy_from_env(api_url: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The proxy the Bot API at ``api_url`` is reached through, and the variable that said so.

    Read the way curl and httpx read them: ``https_proxy``/``HTTPS_PROXY`` for an https URL
    (``http_proxy`` for http), else ``all_proxy``/``ALL_PROXY``; ``NO_PROXY`` exempts hosts (a
    self-hosted Bot API on the local network). Given explicitly to the HTTP client so that
    what the bot says it tried is what it tried.
    """
    parts = urlsplit(api_url)
    scheme = parts.scheme.lower()
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        value = env.get(name, "").strip()
        if value:
            break
    else:
        return None, None
    no_proxy = env.get("no_proxy", "").strip() or env.get("NO_PROXY", "").strip()
    host = parts.hostname or ""
    if _exempt(host, no_proxy):
        return None, None
    if "://" not in value:
        value = f"http://{value}"  # "host:3128", as curl and httpx take it
    proxy = urlsplit(value)
    if proxy.scheme.lower() not in PROXY_SCHEMES:
        raise ConfigError(
            f"{name}: proxy scheme {proxy.scheme!r} is not supported; use "
            + ", ".join(f"{s}://" for s in PROXY_SCHEMES)
            + "."
        )
    try:
        proxy.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        ok = False
    else:
        ok = bool(proxy.hostname)
    if not ok:
        raise ConfigError(
            f"{name}: {shown_proxy(value)!r} is not a proxy URL like socks5://127.0.0.1:1080."
        )
    return value, name


def _exempt(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated: ``*``, host names, ``.domain`` suffixes, with an
    optional ``:port``) exempts ``host``."""
    host = host.lower()
    for entry in no_proxy.lower().split(","):
        name = entry.strip()
        if name == "*":
            return True
        name = name.lstrip(".")
        if name.count(":") == 1:
            name = name.partition(":")[0]
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def shown_proxy(url: str) -> str:
    """A proxy URL fit for a log line: without its user name and password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}" if parts.scheme else host


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (``.env`` is loaded by the entry point)."""
    env = os.environ if env is None else env
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set. Put the token from @BotFather in .env "
            "(see .env.example)."
        )
    if not _TOKEN_RE.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (expected <digits>:<secret>)."
        )
    tz_name = env.get("TZ", "").strip() or "Asia/Shanghai"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"TZ: unknown time zone {tz_name!r}.") from exc
    level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(sorted(_LOG_LEVELS))}.")
    api = env.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    files = env.get("TELEGRAM_BASE_FILE_URL", "").strip() or DEFAULT_FILE_BASE_URL
    for name, url in (("TELEGRAM_API_BASE_URL", api), ("TELEGRAM_BASE_FILE_URL", files)):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must be an http(s) URL, got {url!r}.")
    log_format = (env.get("LOG_FORMAT", "").strip() or "text").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}."
        )
    proxy, proxy_source = proxy_from_env(api, env)
    db_url = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if "://" not in db_url:
        raise ConfigError(f"DATABASE_URL is not a database URL: {db_url!r}.")
    webhook_url = env.get("WEBHOOK_URL", "").strip() or None
    webhook_secret: str | None = None
    if webhook_url is not None:
        check_webhook_url(webhook_url)
        webhook_secret = check_webhook_secret(env.get("WEBHOOK_SECRET", ""))
    listen = env.get("WEBHOOK_LISTEN", "").strip()
    health = env.get("HEALTH_LISTEN", "").strip()
    webhook_listen = parse_listen("WEBHOOK_LISTEN", listen) if listen else DEFAULT_WEBHOOK_LISTEN
    health_listen = parse_listen("HEALTH_LISTEN", health) if health else None
    if webhook_url is not None and health_listen == webhook_listen:
        raise ConfigError("HEALTH_LISTEN and WEBHOOK_LISTEN must be different addresses.")
    _check_database_scheme(db_url.partition("://")[0])
    return Settings(
        token=token,
        api_base_url=api,
        file_base_url=files,
        database_url=db_url,
        committee_file=Path(env.get("COMMITTEE_CONFIG", "").strip() or DEFAULT_COMMITTEE_FILE),
        tz=tz,
        log_level=level,
        log_format=log_format,
        proxy=proxy,
        proxy_source=proxy_source,
        webhook_url=webhook_url,
        webhook_listen=webhook_listen,
        webhook_secret=webhook_secret,
        health_listen=health_listen,
    )


def check_webhook_url(url: str) -> None:
    """The public URL Telegram posts to: https, a host, one of the ports Telegram allows."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"WEBHOOK_URL must be a public https URL like https://bot.example.org/telegram, "
            f"got {url!r}."
        )
    if parts.username or parts.password:
        raise ConfigError("WEBHOOK_URL must not contain a user name or password.")
    if port is not None and port not in WEBHOOK_PORTS:
        allowed = ", ".join(map(str, WEBHOOK_PORTS))
        raise ConfigError(f"WEBHOOK_URL: Telegram posts only to ports {allowed}, not {port}.")


def check_webhook_secret(raw: str) -> str:
    """Telegram's secret token for a webhook: required, 1-256 of A-Z a-z 0-9 _ -. The message
    never repeats the value: it is a credential."""
    secret = raw.strip()
    if not secret:
        raise ConfigError(
            "WEBHOOK_SECRET is required with WEBHOOK_URL: a random string Telegram sends with "
            "every update (e.g. from: openssl rand -hex 32)."
        )
    if not _SECRET_RE.match(secret):
        raise ConfigError(
            f"WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' "
            f"(it has {len(secret)} characters)."
        )
    return secret


def parse_listen(name: str, value: str) -> tuple[str, int]:
    """A local address ``host:port`` (``[::1]:8080`` for IPv6) to listen on."""
    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{name} must be host:port like 127.0.0.1:8080, got {value!r}.")
    return host, int(port_text)


# The databases the bot runs on, each through its asyncio driver (the URL's "+driver" part).
_DATABASE_DRIVERS = {
    "sqlite": ("aiosqlite", "sqlite+aiosqlite:///path/to/fuyuan.sqlite3"),
    "postgresql": ("asyncpg", "postgresql+asyncpg://user:password@host:5432/database"),
}


def _check_database_scheme(scheme: str) -> None:
    """One clear line for a URL the bot could only fail on later (``postgresql://`` names a
    driver that is not installed, and a blocking one). Names the scheme, never the password."""
    backend = scheme.lower().partition("+")[0]
    backend = "postgresql" if backend == "postgres" else backend
    known = _DATABASE_DRIVERS.get(backend)
    if known is None:
        raise ConfigError(
            f"DATABASE_URL: {scheme}:// is not supported; use SQLite "
            f"({_DATABASE_DRIVERS['sqlite'][1]}) or PostgreSQL "
            f"({_DATABASE_DRIVERS['postgresql'][1]})."
        )
    driver, example = known
    if scheme.lower() != f"{backend}+{driver}":
        raise ConfigError(
            f"DATABASE_URL: {scheme}:// — the bot reaches {backend} through {driver}: "
            f"write {backend}+{driver}://… (e.g. {example})."
        )


def load_committee(path: Path, kinds: KindRegistry | None = None) -> Committee:
    """Parse and validate the committee TOML file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"COMMITTEE_CONFIG: {path} not found. Copy committee.example.toml to {path} "
            "and edit it."
        ) from exc
    except OSError as exc:
        raise ConfigError(f"COMMITTEE_CONFIG: cannot read {path}: {exc.strerror}.") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"COMMITTEE_CONFIG: {path} is not valid UTF-8 TOML: {exc}.") from exc
    return parse_committee(data, source=str(path), kinds=kinds)


def _text(table: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if isinstance(value, str):
        value = clean_name(value, limit=200)
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{where}.{key} must be a non-empty string.")
    return value


def _code(table: Mapping[str, Any], where: str) -> str:
    code = _text(table, "code", where)
    if not _CODE_RE.match(code):
        raise ConfigError(f"{where}.code {code!r} must be 1-24 characters of A-Z, 0-9, '-' or '_'.")
    return code


def parse_committee(
    data: Mapping[str, Any], source: str = "committee file", kinds: KindRegistry | None = None
) -> Committee:
    """Validate an already-parsed committee document (deadlines against ``kinds``, the
    mechanisms the bot runs unless given)."""
    kinds = kinds if kinds is not None else default_registry()
    where = f"COMMITTEE_CONFIG ({source})"
    head = data.get("committee")
    if not isinstance(head, Mapping):
        raise ConfigError(f"{where}: missing [committee] table.")

    orgs: dict[str, Organisation] = {}
    org_list = data.get("organisations")
    if not isinstance(org_list, list) or not org_list:
        raise ConfigError(f"{where}: at least one [[organisations]] entry is required.")
    for i, item in enumerate(org_list):
        at = f"{where}: organisations[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at} must be a table.")
        code = _code(item, at)
        if code in orgs:
            raise ConfigError(f"{at}: duplicate organisation code {code!r}.")
        kind_raw = item.get("kind")
        try:
            kind = OrgKind(str(kind_raw))
        except ValueError as exc:
            allowed = ", ".join(k.value for k in OrgKind)
            raise ConfigError(f"{at}.kind {kind_raw!r} must be one of: {allowed}.") from exc
        orgs[code] = Organisation(
            code=code,
            kind=kind,
            name_zh=_text(item, "name_zh", at),
            name_en=_text(item, "name_en", at),
            short_zh=_short(item, "short_zh", at),
            short_en=_short(item, "short_en", at),
        )

    centers: dict[str, Center] = {}
    for i, item in enumerate(data.get("centers", []) or []):
        at = f"{where}: centers[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at} must be a table.")
        code = _code(item, at)
        if code in centers or code in orgs:
            raise ConfigError(f"{at}: code {code!r} is already used.")
        courts = item.get("courts")
        if not isinstance(courts, list) or not courts:
            raise ConfigError(f"{at}.courts must list at least one court code.")
        for court in courts:
            if court not in orgs:
                raise ConfigError(f"{at}.courts: unknown organisation code {court!r}.")
            if orgs[court].kind is not OrgKind.COURT:
                raise ConfigError(f"{at}.courts: {court!r} is not a court.")
        centers[code] = Center(
            code=code,
            name_zh=_text(item, "name_zh", at),
            name_en=_text(item, "name_en", at),
            courts=tuple(courts),
            location_zh=_text(item, "location_zh", at, required=False),
            location_en=_text(item, "location_en", at, required=False),
            short_zh=_short(item, "short_zh", at),
            short_en=_short(item, "short_en", at),
        )

    offices = [o.code for o in orgs.values() if o.kind is OrgKind.OFFICE]
    if not offices:
        raise ConfigError(f'{where}: one organisation must have kind = "office".')
    if not any(o.kind is OrgKind.COURT for o in orgs.values()):
        raise ConfigError(f'{where}: at least one organisation must have kind = "court".')

    at = f"{where}: committee"
    admins_raw = head.get("admins", [])
    if not isinstance(admins_raw, list) or not all(
        isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in admins_raw
    ):
        raise ConfigError(f"{at}.admins must be a list of Telegram user ids (positive integers).")
    admin_org = head.get("admin_org", offices[0])
    if admin_org not in orgs or orgs[admin_org].kind is not OrgKind.OFFICE:
        raise ConfigError(f"{at}.admin_org {admin_org!r} must be an organisation of kind office.")
    group = head.get("group_chat_id")
    if group is not None and (not isinstance(group, int) or isinstance(group, bool) or group >= 0):
        raise ConfigError(f"{at}.group_chat_id must be a negative integer (a group chat id).")
    detail_raw = head.get("group_detail", GroupDetail.SUMMARY.value)
    try:
        detail = GroupDetail(detail_raw)
    except ValueError as exc:
        allowed = ", ".join(d.value for d in GroupDetail)
        raise ConfigError(f"{at}.group_detail {detail_raw!r} must be one of: {allowed}.") from exc
    ttl = head.get("invite_ttl_hours", 72)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 24 * 30:
        raise ConfigError(f"{at}.invite_ttl_hours must be a whole number from 1 to 720.")

    return Committee(
        schedule=_parse_schedule(data.get("schedule"), data.get("deadlines"), where, kinds),
        raisers=_parse_raisers(data.get("kinds"), where, kinds, orgs),
        calendar=parse_calendar(data.get("calendar"), f"{where}: calendar"),
        name_zh=_text(head, "name_zh", at),
        name_en=_text(head, "name_en", at),
        organisations=orgs,
        centers=centers,
        admins=frozenset(admins_raw),
        admin_org=admin_org,
        group_chat_id=group,
        group_detail=detail,
        invite_ttl_hours=ttl,
        return_reasons=_parse_return_reasons(data.get("returns"), f"{where}: returns"),
        reports=_parse_reports(data.get("reports"), data.get("schedule"), f"{where}: reports"),
    )


def _parse_reports(raw: Any, schedule_raw: Any, at: str) -> Reports:
    """``[reports] quarterly = true, quarterly_time = "08:30"``; the time defaults to the
    schedule's summary time and, like it, must fall outside the quiet hours."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at} must be a table.")
    unknown = sorted(str(k) for k in raw if k not in ("quarterly", "quarterly_time"))
    if unknown:
        raise ConfigError(f"{at}: unknown key {unknown[0]!r} (allowed: quarterly, quarterly_time).")
    quarterly = raw.get("quarterly", True)
    if not isinstance(quarterly, bool):
        raise ConfigError(f"{at}.quarterly must be true or false.")
    schedule: Mapping[str, Any] = schedule_raw if isinstance(schedule_raw, Mapping) else {}
    summary = str(schedule.get("summary_time", "08:30"))
    when = _clock_time(raw, "quarterly_time", summary, at)
    quiet_start = _clock_time(schedule, "quiet_start", "20:00", at)
    quiet_end = _clock_time(schedule, "quiet_end", "08:00", at)
    if quiet_start != quiet_end and (
        quiet_start <= when < quiet_end
        if quiet_start < quiet_end
        else (when >= quiet_start or when < quiet_end)
    ):
        raise ConfigError(
            f"{at}.quarterly_time {when:%H:%M} falls in the quiet hours "
            f"({quiet_start:%H:%M}–{quiet_end:%H:%M})."
        )
    return Reports(quarterly=quarterly, quarterly_time=when)


# A short name is for a button: longer than this and it would be cut on a phone anyway.
SHORT_NAME_MAX = 24
RETURN_REASON_MAX = 60
RETURN_REASONS_MAX = 8


def _short(table: Mapping[str, Any], key: str, at: str) -> str:
    """An optional short name (``short_zh`` / ``short_en``): a button label."""
    if key not in table:
        return ""
    value = _text(table, key, at)
    if len(value) > SHORT_NAME_MAX:
        raise ConfigError(f"{at}.{key} {value!r} must be at most {SHORT_NAME_MAX} characters.")
    return value


def _parse_return_reasons(raw: Any, at: str) -> tuple[Phrase, ...]:
    """``[returns] reasons = [{ zh = "...", en = "..." }, ...]``: the quick buttons of a
    return's reason; absent: the built-in ones."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or set(raw) - {"reasons"}:
        raise ConfigError(f"{at} must be a table with one key, reasons.")
    items = raw.get("reasons", [])
    if not isinstance(items, list) or len(items) > RETURN_REASONS_MAX:
        raise ConfigError(f"{at}.reasons must be a list of at most {RETURN_REASONS_MAX} reasons.")
    reasons: list[Phrase] = []
    for i, item in enumerate(items):
        where = f"{at}.reasons[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"zh", "en"}:
            raise ConfigError(f'{where} must be a table like {{ zh = "材料不全", en = "..." }}.')
        zh, en = _text(item, "zh", where), _text(item, "en", where)
        for key, value in (("zh", zh), ("en", en)):
            if len(value) > RETURN_REASON_MAX:
                raise ConfigError(f"{where}.{key} must be at most {RETURN_REASON_MAX} characters.")
        reasons.append(Phrase(zh, en))
    return tuple(reasons)


_YEAR_KEY_RE = re.compile(r"^\d{4}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ALLOWED_KEYS = ("holidays", "workdays", "official")
_MIN_YEAR, _MAX_YEAR = 1950, 2999
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ONE_DAY = timedelta(days=1)
_DURATION_RE = re.compile(r"^\s*(\d{1,4})\s*([mhd])\s*$")
_WEEKDAYS = {
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
    "sunday": 7,
}


def _whole(table: Mapping[str, Any], key: str, default: int, low: int, high: int, at: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{at}.{key} must be a whole number from {low} to {high}.")
    return value


def _clock_time(table: Mapping[str, Any], key: str, default: str, at: str) -> time:
    """A local time of day like "08:30" from the schedule table."""
    raw = table.get(key, default)
    try:
        value = time.fromisoformat(str(raw))
    except ValueError as exc:
        raise ConfigError(f'{at}.{key} {raw!r} must look like "{default}".') from exc
    if value.tzinfo is not None:
        raise ConfigError(f'{at}.{key} {raw!r} must be a local time like "{default}".')
    return value


def _parse_schedule(raw: Any, deadlines_raw: Any, where: str, kinds: KindRegistry) -> Schedule:
    at = f"{where}: schedule"
    table: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{at} must be a table.")
    weekday_raw = table.get("digest_weekday", "monday")
    weekday = _WEEKDAYS.get(str(weekday_raw).lower())
    if weekday is None:
        raise ConfigError(
            f'{at}.digest_weekday {weekday_raw!r} must be a weekday name, e.g. "monday".'
        )
    time_raw = table.get("digest_time", "09:00")
    try:
        digest_time = time.fromisoformat(str(time_raw))
    except ValueError as exc:
        raise ConfigError(f'{at}.digest_time {time_raw!r} must look like "09:00".') from exc
    summary_time = _clock_time(table, "summary_time", "08:30", at)
    quiet_start = _clock_time(table, "quiet_start", "20:00", at)
    quiet_end = _clock_time(table, "quiet_end", "08:00", at)
    if quiet_start != quiet_end and (
        quiet_start <= summary_time < quiet_end
        if quiet_start < quiet_end
        else (summary_time >= quiet_start or summary_time < quiet_end)
    ):
        raise ConfigError(
            f"{at}.summary_time {summary_time:%H:%M} falls in the quiet hours "
            f"({quiet_start:%H:%M}–{quiet_end:%H:%M}): the summary would never go out on time."
        )
    reminders_raw = table.get("meeting_reminders", ["24h", "1h"])
    if not isinstance(reminders_raw, list):
        raise ConfigError(f'{at}.meeting_reminders must be a list like ["24h", "1h"].')
    reminders: list[timedelta] = []
    for item in reminders_raw:
        match = _DURATION_RE.match(str(item))
        if not match or int(match[1]) == 0:
            raise ConfigError(
                f'{at}.meeting_reminders: {item!r} must be a duration like "24h", "90m" or "2d".'
            )
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        reminders.append(timedelta(**{unit: int(match[1])}))
    deadlines = _parse_deadlines(deadlines_raw, where, kinds)
    return Schedule(
        due_soon_working_days=_whole(table, "due_soon_working_days", 1, 0, 10, at),
        escalate_every_working_days=_whole(table, "escalate_every_working_days", 2, 1, 30, at),
        digest_weekday=weekday,
        digest_time=digest_time,
        summary_time=summary_time,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        meeting_reminders=tuple(sorted(set(reminders), reverse=True)),
        deadlines=deadlines,
    )


def _kind_tables(
    raw: Any, where: str, name: str, kinds: KindRegistry
) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """A ``[<name>.<kind>]`` table's entries, each a known kind's table: (kind, table, where)."""
    if raw is None:
        return
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: {name} must be a table of kinds.")
    for code, item in raw.items():
        at = f"{where}: {name}.{code}"
        if code not in kinds:
            known = ", ".join(sorted(k.code for k in kinds))
            raise ConfigError(f"{at}: unknown kind; known: {known}.")
        if not isinstance(item, Mapping):
            raise ConfigError(f"{at} must be a table.")
        yield code, item, at


def _parse_raisers(
    raw: Any, where: str, kinds: KindRegistry, orgs: Mapping[str, Organisation]
) -> dict[str, frozenset[str]]:
    """``[kinds.<kind>] raisers = ["YB-IPC", ...]``: which organisations may raise a kind."""
    raisers: dict[str, frozenset[str]] = {}
    for code, item, at in _kind_tables(raw, where, "kinds", kinds):
        unknown = sorted(str(k) for k in item if k != "raisers")
        if unknown:
            raise ConfigError(f"{at}: unknown key {unknown[0]!r} (allowed: raisers).")
        codes = item.get("raisers", [])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f'{at}.raisers must be a list of organisation codes like ["YB-IPC"].')
        for org in codes:
            if org not in orgs:
                raise ConfigError(f"{at}.raisers: unknown organisation code {org!r}.")
        raisers[code] = frozenset(codes)
    return raisers


def _parse_deadlines(raw: Any, where: str, kinds: KindRegistry) -> dict[str, dict[str, int]]:
    """``[deadlines.<kind>]``: ``<deadline>_working_days`` for each deadline a kind counts in
    working days (``ack_working_days``, ``reply_working_days``...); the kind's own as default."""
    deadlines = {
        kind.code: {d.name: d.working_days for d in kind.deadlines if d.working_days is not None}
        for kind in kinds
    }
    for code, item, dat in _kind_tables(raw, where, "deadlines", kinds):
        days = deadlines[code]
        allowed = {f"{name}_working_days": name for name in days}
        for key in item:
            if key not in allowed:
                raise ConfigError(f"{dat}.{key}: unknown; allowed: {', '.join(sorted(allowed))}.")
        for key, name in allowed.items():
            days[name] = _whole(item, key, days[name], 1, 250, dat)
        if "ack" in days and "reply" in days and days["reply"] < days["ack"]:
            raise ConfigError(f"{dat}: reply_working_days must not be less than ack_working_days.")
    return deadlines


# ---------------------------------------------------------------------------- calendar


def parse_calendar(raw: Mapping[str, Any] | None, where: str) -> CalendarOverrides:
    """Validate the committee file's ``[calendar]`` table (``None`` when absent).

    ``where`` names the table itself, e.g. ``"COMMITTEE_CONFIG (committee.toml): calendar"``,
    so an operator sees one line naming the offending key and value
    ("...: calendar.2027.holidays[1]: '2027-02-30' is not a date ...").
    """
    if raw is None:
        return CalendarOverrides()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of years, e.g. [calendar.2027].")
    years: dict[int, YearSchedule] = {}
    for key, table in raw.items():
        year = _parse_year_key(key, where)
        if year in years:  # "2027" and 2027 given programmatically
            raise ConfigError(f"{where}.{year} is given twice.")
        years[year] = _parse_year(year, table, f"{where}.{key}")
    return CalendarOverrides(MappingProxyType(years))


def _parse_year_key(key: object, where: str) -> int:
    text = str(key)
    if not _YEAR_KEY_RE.match(text):
        raise ConfigError(f"{where}.{text} is not a year; use tables like [calendar.2027].")
    year = int(text)
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ConfigError(f"{where}.{year} is out of range ({_MIN_YEAR}–{_MAX_YEAR}).")
    return year


def _parse_year(year: int, table: object, at: str) -> YearSchedule:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{at} must be a table with holidays, workdays and official.")
    unknown = sorted(str(k) for k in table if k not in _ALLOWED_KEYS)
    if unknown:
        raise ConfigError(
            f"{at}: unknown key {unknown[0]!r} (allowed: {', '.join(_ALLOWED_KEYS)})."
        )
    official = table.get("official", True)
    if not isinstance(official, bool):
        raise ConfigError(f"{at}.official must be true or false, got {official!r}.")
    off = _parse_dates(year, table.get("holidays", []), f"{at}.holidays")
    on = _parse_dates(year, table.get("workdays", []), f"{at}.workdays", weekend_only=True)
    both = sorted(off & on)
    if both:
        raise ConfigError(
            f"{at}: {both[0].isoformat()} is listed both in holidays and in workdays."
        )
    if official and not off:
        # An empty official table would silently delete every holiday of the year.
        raise ConfigError(
            f"{at}.holidays is empty; an official schedule lists the year's holidays "
            "(or set official = false, or remove the table to use the library)."
        )
    return YearSchedule(year, frozenset(off), frozenset(on), official)


def _parse_dates(year: int, items: object, at: str, *, weekend_only: bool = False) -> set[date]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ConfigError(
            f'{at} must be a list of dates like "{year}-01-01" or "{year}-02-06..{year}-02-13".'
        )
    out: set[date] = set()
    for i, item in enumerate(items):
        item_at = f"{at}[{i}]"
        first, last = _parse_item(item, item_at)
        for d in (first, last):
            if d.year != year:
                raise ConfigError(f"{item_at}: {d.isoformat()} is not in {year}.")
        for d in _days(first, last):
            if weekend_only and d.weekday() < 5:
                # A weekday "make-up day" changes nothing, so it is surely a typo.
                raise ConfigError(
                    f"{item_at}: {d.isoformat()} is a {_DAY_NAMES[d.weekday()]}; "
                    "make-up working days (调休) fall on a Saturday or Sunday."
                )
            out.add(d)
    return out


def _parse_item(item: object, at: str) -> tuple[date, date]:
    """A date or an inclusive ``start..end`` range, as (first, last)."""
    if isinstance(item, datetime):  # a TOML date-time; datetime is a date subclass
        raise ConfigError(f"{at}: {item.isoformat()} has a time; give a date only.")
    if isinstance(item, date):
        return item, item
    if not isinstance(item, str):
        raise ConfigError(f"{at}: {item!r} is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).")
    start_text, sep, end_text = item.partition("..")
    first = _parse_date(start_text.strip(), item, at)
    last = _parse_date(end_text.strip(), item, at) if sep else first
    if last < first:
        raise ConfigError(
            f"{at}: range {item!r} ends ({last.isoformat()}) before it starts "
            f"({first.isoformat()})."
        )
    return first, last


def _parse_date(text: str, item: str, at: str) -> date:
    if _DATE_RE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # e.g. 2027-02-30
    raise ConfigError(f"{at}: {item!r} is not a date (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD).")


def _days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += _ONE_DAY
