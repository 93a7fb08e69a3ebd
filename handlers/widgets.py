"""The keyboards each widget shows: choices, toggles, quick dates and a month calendar, times,
files. Pure functions from a field and the moment to rows of (label, data) buttons; the
conversation code decides when to show them."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.committee import Committee
from bot.domain.fields import MAX_DATE_AHEAD, FieldContext, FieldSpec, Option
from handlers.common import Button, chunk
from handlers.texts import Texts

# Makes the data of one button: (operation, argument) → callback data.
Data = Callable[[str, str], str]

QUICK_DAYS = (3, 7, 14, 30)
TIME_CHOICES = ("09:00", "10:00", "14:00", "15:00", "16:00")
# Filler for calendar cells that cannot be pressed. Telegram rejects a button whose text is
# blank (BUTTON_TEXT_INVALID), so a space would break the whole calendar.
NO_DAY = "·"


def option_label(texts: Texts, lang: str, option: Option) -> str:
    if option.shown == "org":
        return texts.committee.addressee_name(option.label, lang)
    if option.shown == "plain":
        return option.label
    return texts.t(lang, option.label)


def option_rows(
    texts: Texts, lang: str, spec: FieldSpec, options: Sequence[Option], data: Data
) -> list[list[Button]]:
    """One button per choice: long names one per row, organisations two per row, a few
    short choices (一般 / 紧急 / 特急) in one row."""
    buttons = [(option_label(texts, lang, o), data("opt", o.value)) for o in options]
    if spec.type.code == "organisation":
        return chunk(buttons, 2)
    short = len(buttons) <= 3 and all(len(label) <= 6 for label, _ in buttons)
    return [buttons] if short else chunk(buttons, 1)


def toggle_rows(
    texts: Texts,
    lang: str,
    options: Sequence[Option],
    selected: Sequence[str],
    data: Data,
) -> list[list[Button]]:
    """Toggles (☐ / ☑) two per row, then Done."""
    buttons = [
        (
            f"{'☑' if o.value in selected else '☐'} {option_label(texts, lang, o)}",
            data("tog", o.value),
        )
        for o in options
    ]
    rows = chunk(buttons, 2)
    rows.append([(texts.t(lang, "✔ Done"), data("tdone", ""))])
    return rows


def date_rows(
    texts: Texts, lang: str, today: date, required: bool, data: Data
) -> list[list[Button]]:
    quick = [
        (
            texts.t(lang, "In %(n)s days", n=n),
            data("date", (today + timedelta(days=n)).isoformat()),
        )
        for n in QUICK_DAYS
    ]
    rows = chunk(quick, 2)
    rows.append([(texts.t(lang, "📅 Pick a date"), data("cal", f"{today:%Y-%m}"))])
    if not required:
        rows.append([(texts.t(lang, "No specific date"), data("skip", ""))])
    return rows


def calendar_rows(
    texts: Texts, lang: str, today: date, year: int, month: int, data: Data
) -> list[list[Button]]:
    """A month as inline buttons; days before today are shown but cannot be chosen."""
    first = date(year, month, 1)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    title = texts.month_title(lang, first)
    noop = data("noop", "")
    nav: list[Button] = [
        ("◀", data("cal", f"{prev_month:%Y-%m}"))
        if prev_month >= today.replace(day=1)
        else (NO_DAY, noop),
        (title, noop),
        ("▶", data("cal", f"{next_month:%Y-%m}"))
        if next_month <= today + MAX_DATE_AHEAD
        else (NO_DAY, noop),
    ]
    rows: list[list[Button]] = [nav, [(d, noop) for d in texts.weekdays(lang)]]
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row: list[Button] = []
        for day in week:
            if day.month != month or day < today or day - today > MAX_DATE_AHEAD:
                row.append((NO_DAY, noop))
            else:
                row.append((str(day.day), data("date", day.isoformat())))
        rows.append(row)
    rows.append([(texts.t(lang, "↩ Back"), data("quick", ""))])
    return rows


def month_shown(text: str, today: date) -> date | None:
    """The first day of a calendar page (``2026-12``), if the calendar can show that month."""
    head, sep, tail = text.partition("-")
    if not sep or not head.isdigit() or not tail.isdigit() or len(head) != 4 or len(tail) > 2:
        return None
    if not 1 <= int(tail) <= 12:
        return None
    first = date(int(head), int(tail), 1)
    last = (today + MAX_DATE_AHEAD).replace(day=1)
    return first if today.replace(day=1) <= first <= last else None


def time_rows(
    texts: Texts, lang: str, day: date, now: datetime, tz: ZoneInfo, data: Data
) -> list[list[Button]]:
    """The usual starting times still ahead on ``day``, and a way back to the date."""
    future = [c for c in TIME_CHOICES if datetime.combine(day, time.fromisoformat(c), tz) > now]
    rows = chunk([(c, data("time", c.replace(":", ""))) for c in future], 3)
    rows.append([(texts.t(lang, "↩ Change the date"), data("redate", ""))])
    return rows


def field_context(
    committee: Committee, now: datetime, tz: ZoneInfo, **dynamic: Sequence[tuple[str, str]]
) -> FieldContext:
    return FieldContext(committee, now, tz, dynamic)
