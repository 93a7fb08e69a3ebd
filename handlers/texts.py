"""Message texts: Jinja2 templates rendered per language, and splitting for Telegram's limit.

Templates are HTML with autoescape on, so user text can never break or forge markup.
Short plain strings (button labels, button-press answers) come from ``Texts.t``; everything
longer is a template under ``templates/``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from bot.domain import rules
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.domain.mechanisms import default_registry
from bot.domain.models import ROLE_LABELS
from bot.i18n import LANGS, N_, normalise_lang, translations

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TELEGRAM_TEXT_LIMIT = 4096

# The few calendar names the bot writes, as CLDR has them for zh_Hans_CN and en_GB (the
# locales these formats once came from; tests/test_texts.py compares them with Babel's):
# loading Babel's locale data for the two would keep several MiB for the process's life.
_ZH_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_NARROW_WEEKDAYS = {
    "zh_CN": ["一", "二", "三", "四", "五", "六", "日"],
    "en": ["M", "T", "W", "T", "F", "S", "S"],
}
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_EN_SHORT_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
)


def short_day(lang: str, day: date) -> str:
    """A day without its year: 12月2日（周三）/ Wed 2 Dec."""
    if normalise_lang(lang) == "zh_CN":
        return f"{day.month}月{day.day}日（{_ZH_WEEKDAYS[day.weekday()]}）"
    return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_SHORT_MONTHS[day.month - 1]}"


_AFTER_FULLWIDTH_COLON = re.compile(r"(：(?:</b>|</i>|</code>)?) +")


class Texts:
    """One compiled Jinja2 environment per language, each built when first used: the bot's
    first answer needs only its own language's. Dates are written without Babel (see
    ``short_day``)."""

    def __init__(
        self, committee: Committee, tz: ZoneInfo, kinds: KindRegistry | None = None
    ) -> None:
        self.committee = committee
        self.tz = tz
        self.kinds = kinds if kinds is not None else default_registry()
        self._envs: dict[str, Environment] = {}
        # (language, template name) -> compiled template: a plain dict lookup per message,
        # not Jinja's locked LRU cache and loader checks (``warm_up`` fills it at start-up).
        self._templates: dict[tuple[str, str], Template] = {}

    def _env(self, lang: str) -> Environment:
        env = self._envs.get(lang)
        if env is None:
            env = self._envs[lang] = self._make_env(lang)
        return env

    def _make_env(self, lang: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        # A label's colon: full-width in Chinese ("标题："), ": " in English; the same for a
        # comma between two clauses.
        zh = lang == "zh_CN"
        env.globals.update(
            lang=lang,
            committee=self.committee,
            colon="：" if zh else ": ",
            comma="，" if zh else ", ",
            # Between two words: a space in English, nothing in Chinese; and a span of days.
            sp="" if zh else " ",
            to="至" if zh else " – ",
        )
        env.filters.update(
            date=lambda d: self.format_date(lang, d),
            day=lambda d: self.format_day(lang, d),
            datetime=lambda d: self.format_datetime(lang, d),
            org=lambda code: self.committee.addressee_name(code, lang),
            # A list of names (organisations, days, kinds): 、 in Chinese, ", " in English.
            # Markup's join escapes each plain name and keeps an already safe one.
            names=lambda items: Markup("、" if zh else ", ").join(items),
            tr=lambda msgid: translations(lang).gettext(str(msgid)),
            role_label=lambda role: translations(lang).gettext(ROLE_LABELS.get(role) or str(role)),
            outcome=lambda code, kind: (
                "" if not code else translations(lang).gettext(self.outcome_label(kind, code))
            ),
            field=lambda value, spec: spec.show(value, self.labels(lang)),
            state=lambda code, kind: translations(lang).gettext(self.state_label(kind, code)),
            action_done=lambda code, kind: translations(lang).gettext(self.action_done(kind, code)),
            # A name or title set off from what precedes it: 「…」 and （…） hug Chinese text,
            # English puts a space before.
            paren=lambda value: Markup("（{}）" if zh else " ({})").format(value),
            quoted=lambda value: Markup("「{}」" if zh else " “{}”").format(value),
        )
        env.globals.update(
            kinds=self.kinds,
            raisable=lambda member: rules.raisable_kinds(member, self.kinds, self.committee),
        )
        return env

    def labels(self, lang: str) -> FieldLabels:
        """How field values read in one language (``bot.domain.fields.Labels``)."""
        return FieldLabels(self, normalise_lang(lang))

    def outcome_label(self, kind_code: str, outcome: str | None) -> str:
        kind = self.kinds.get(kind_code)
        for code, label in kind.outcomes if kind else ():
            if code == outcome:
                return label
        return outcome or ""

    def state_label(self, kind_code: str, state: str) -> str:
        """A status as /case and /my show it (a matter with several addressees is open or
        closed as a whole)."""
        kind = self.kinds.get(kind_code)
        if kind is not None:
            for candidate in kind.states:
                if candidate.code == state:
                    return candidate.label
        return {"open": N_("In progress"), "closed": N_("Closed")}.get(state, state)

    def action_done(self, kind_code: str, action: str) -> str:
        """An action as the history line names it."""
        kind = self.kinds.get(kind_code)
        if action == "submitted":
            return N_("Submitted")
        if kind is not None and kind.has_action(action):
            return kind.action(action).done
        return action

    async def warm_up(self) -> int:
        """Compile every template in every language now, yielding to the event loop between
        two, so that updates find them compiled (Jinja keeps them; the first render of each
        would otherwise compile it on an update's time). Returns how many were compiled."""
        compiled = 0
        for lang in LANGS:
            env = self._env(lang)
            for name in env.list_templates(extensions=["html"]):
                self._templates[lang, name.removesuffix(".html")] = env.get_template(name)
                compiled += 1
                await asyncio.sleep(0)
        return compiled

    def render(self, lang: str, name: str, **context: Any) -> str:
        """Render ``templates/<name>.html`` in a language; returns Telegram HTML."""
        lang = normalise_lang(lang)
        template = self._templates.get((lang, name))
        if template is None:
            template = self._templates[lang, name] = self._env(lang).get_template(f"{name}.html")
        html = template.render(**context).strip()
        if lang == "zh_CN" and "：" in html:
            # Chinese typography: nothing after a full-width colon ("所属单位：长白山…"), where
            # the templates put a label and its value side by side for every language.
            html = _AFTER_FULLWIDTH_COLON.sub(r"\1", html)
        return html

    @staticmethod
    def join(lang: str, items: Iterable[Any]) -> str:
        """A list of names as one language writes it: 「自然资源局、住建局」 but
        "Natural Resources Bureau, Housing Bureau" — the one place that decides it."""
        sep = "、" if normalise_lang(lang) == "zh_CN" else ", "
        return sep.join(str(item) for item in items)

    def zone_name(self, lang: str) -> str:
        """The committee's time zone as its people say it: 北京时间 / Beijing time for
        Asia/Shanghai (the name every Chinese reader knows), else the zone's own name."""
        if str(self.tz) in ("Asia/Shanghai", "PRC"):
            return self.t(lang, "Beijing time")
        return self.t(lang, "%(zone)s time", zone=str(self.tz))

    def t(self, lang: str, msgid: str, **params: Any) -> str:
        """A short plain-text string (no HTML): button labels and button-press answers."""
        text = translations(normalise_lang(lang)).gettext(msgid)
        return text % params if params else text

    def tn(self, lang: str, singular: str, plural: str, n: int, **params: Any) -> str:
        """A count in plain text, with the catalog's plural forms; ``%(n)s`` is the count."""
        text = translations(normalise_lang(lang)).ngettext(singular, plural, n)
        return text % {"n": n, **params}

    def format_date(self, lang: str, value: date | str | None) -> str:
        """A day as the house style writes it: 2026年12月2日（周三） / 2 December 2026."""
        day = self._day_of(value)
        if day is None:
            return ""
        lang = normalise_lang(lang)
        if lang == "zh_CN":
            return f"{day.year}年{day.month}月{day.day}日（{_ZH_WEEKDAYS[day.weekday()]}）"
        return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year:04d}"

    def format_day(self, lang: str, value: date | str | None) -> str:
        """A date with its weekday, as deadlines are read: 2026年12月2日（周三）, Wed 2 Dec 2026."""
        if normalise_lang(lang) == "zh_CN":
            return self.format_date(lang, value)  # the house style's date carries the weekday
        day = self._day_of(value)
        return "" if day is None else f"{short_day('en', day)} {day.year:04d}"

    def _day_of(self, value: date | str | None) -> date | None:
        """The local day a stored value stands for (an ISO date, a date or a moment)."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(self.tz).date()
        return value

    def month_title(self, lang: str, first: date) -> str:
        if normalise_lang(lang) == "zh_CN":
            return f"{first.year:04d}年{first.month}月"
        return f"{_EN_MONTHS[first.month - 1]} {first.year:04d}"

    def weekdays(self, lang: str) -> list[str]:
        """Monday-first narrow weekday names for the calendar header."""
        return list(_NARROW_WEEKDAYS[normalise_lang(lang)])

    def format_datetime(self, lang: str, value: datetime | None) -> str:
        if value is None:
            return ""
        # The house style writes a moment as its day, weekday included, then the time:
        # 2026年12月14日（周一）09:30, Mon 14 Dec 2026 09:30.
        if value.tzinfo is None:  # stored as UTC
            value = value.replace(tzinfo=UTC)
        local = value.astimezone(self.tz)
        day = self.format_day(lang, local.date())
        return f"{day}{'' if normalise_lang(lang) == 'zh_CN' else ' '}{local:%H:%M}"


class FieldLabels:
    """Field values in one language: names of organisations, dates, translated choices."""

    def __init__(self, texts: Texts, lang: str) -> None:
        self._texts = texts
        self._lang = lang

    def tr(self, msgid: str) -> str:
        return translations(self._lang).gettext(msgid)

    def org(self, code: str) -> str:
        return self._texts.committee.addressee_name(code, self._lang)

    def date(self, value: date) -> str:
        return self._texts.format_date(self._lang, value)

    def datetime(self, value: datetime) -> str:
        return self._texts.format_datetime(self._lang, value)

    def join(self, items: Sequence[str]) -> str:
        return self._texts.join(self._lang, items)

    def files(self, count: int) -> str:
        return self._texts.tn(self._lang, "%(n)s file", "%(n)s files", count)

    def count(self, singular: str, plural: str, n: int) -> str:
        return self._texts.tn(self._lang, singular, plural, n)


# ---------------------------------------------------------------------------- splitting

_TOKEN_RE = re.compile(r"<[^>]*>|&[#\w]+;|[^<&]+|[<&]")
_TAG_NAME_RE = re.compile(r"</?\s*([a-zA-Z][\w-]*)")
_TAGS_ONLY_RE = re.compile(r"(?:<[^>]*>)*")  # markup without a visible character


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_html(html: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into messages whose visible text fits ``limit`` UTF-16 units.

    Prefers to cut at a blank line, then at a line break, then at a space; never inside a
    tag or an entity. Tags open at a cut are closed and reopened in the next part, so every
    part is valid markup on its own.
    """
    if len(html) <= limit // 2 or _utf16_len(html) <= limit:
        # Nearly every message: the whole markup fits, so its visible text does; one part,
        # as the walk below makes it, without tokenising it first.
        stripped = html.strip("\n")
        if stripped.strip() and not _TAGS_ONLY_RE.fullmatch(html):
            return [stripped]
    tokens = _TOKEN_RE.findall(html)
    parts: list[str] = []
    current: list[str] = []
    visible = 0
    stack: list[tuple[str, str]] = []  # (name, opening tag)

    def flush(reopen: list[tuple[str, str]]) -> None:
        nonlocal current, visible
        closing = "".join(f"</{name}>" for name, _ in reversed(reopen))
        body = "".join(current) + closing
        if visible > 0 and body.strip():
            parts.append(body.strip("\n"))
        current = [opening for _, opening in reopen]
        visible = 0

    def emit_text(text: str) -> None:
        nonlocal visible
        while text:
            room = limit - visible
            if _utf16_len(text) <= room:
                current.append(text)
                visible += _utf16_len(text)
                return
            # Find the best cut in the first `room` characters of this text run.
            head = text[: max(room, 0)]
            while _utf16_len(head) > room and head:
                head = head[:-1]
            cut = max(head.rfind("\n\n"), -1)
            if cut <= 0:
                cut = head.rfind("\n")
            if cut <= 0:
                cut = head.rfind(" ")
            if cut <= 0:
                cut = len(head)
            if cut == 0 and visible > 0:
                flush(list(stack))
                continue
            if cut == 0:  # a single character wider than the room: cannot happen for limit>=2
                cut = 1
            current.append(text[:cut])
            visible += _utf16_len(text[:cut])
            text = text[cut:].lstrip("\n")
            flush(list(stack))

    for token in tokens:
        if token.startswith("<") and len(token) > 1 and token.endswith(">"):
            match = _TAG_NAME_RE.match(token)
            name = match.group(1).lower() if match else ""
            if token.startswith("</"):
                if stack and stack[-1][0] == name:
                    stack.pop()
            elif not token.endswith("/>"):
                stack.append((name, token))
            current.append(token)
        elif token.startswith("&") and token.endswith(";"):
            if visible + 1 > limit:
                flush(list(stack))
            current.append(token)
            visible += 1
        else:
            emit_text(token)
    flush([])
    return parts or [""]
