"""Templates: both languages render, user text is escaped, long texts split cleanly."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Member, Role, Viewer
from handlers.texts import TEMPLATES_DIR, Texts, split_html
from tests.conftest import ROOT, SHANGHAI

TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")


def visible(html: str) -> str:
    text = TAG.sub("", html)
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
    )


def balanced(html: str) -> bool:
    stack: list[str] = []
    for closing, name in TAG.findall(html):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


def test_user_text_cannot_forge_markup(committee: Committee) -> None:
    texts = Texts(committee, SHANGHAI)
    html = texts.render("zh_CN", "plain", text='<a href="tg://x">click</a> & {{ 1 }}')
    assert html == "&lt;a href=&#34;tg://x&#34;&gt;click&lt;/a&gt; &amp; {{ 1 }}"


def test_both_languages(committee: Committee) -> None:
    texts = Texts(committee, SHANGHAI)
    zh = texts.render("zh_CN", "cancelled")
    en = texts.render("en", "cancelled")
    assert en == "Cancelled. Nothing was submitted."
    assert zh != en and re.search(r"[\u4e00-\u9fff]", zh)
    assert texts.t("en", "✅ Acknowledge") == "✅ Acknowledge"
    assert "受理" in texts.t("zh_CN", "✅ Acknowledge")
    assert texts.format_date("zh_CN", date(2026, 12, 3)) == "2026年12月3日（周四）"
    assert texts.format_date("en", date(2026, 12, 3)) == "3 December 2026"


def test_short_text_is_one_part() -> None:
    assert split_html("<b>hi</b> there") == ["<b>hi</b> there"]


def test_a_text_that_fits_is_one_part_without_its_outer_line_breaks() -> None:
    """What fits at once is taken as it is (no walk), with the walk's edges: outer line
    breaks dropped, and markup with nothing visible in it is an empty message."""
    assert split_html("\n<b>你好</b>\n\n") == ["<b>你好</b>"]
    assert split_html("😀" * 2048) == ["😀" * 2048]  # exactly the limit in UTF-16 units
    assert len(split_html("😀" * 2049)) == 2
    assert split_html("<b></b>") == [""]
    assert split_html(" \n ") == [""]
    assert split_html("a < b & c") == ["a < b & c"]


@pytest.mark.parametrize("limit", [50, 200, 4096])
def test_long_text_splits_at_lines_with_balanced_tags(limit: int) -> None:
    lines = [f"<b>第{i}行</b> " + "字" * (i % 37) + " &lt;x&gt;" for i in range(600)]
    html = "\n".join(lines)
    parts = split_html(html, limit)
    assert len(parts) > 1
    for part in parts:
        assert len(visible(part).encode("utf-16-le")) // 2 <= limit
        assert balanced(part)
        assert "&lt" not in part.replace("&lt;", "")  # no entity cut in half
    assert "".join(visible(p).replace("\n", "") for p in parts) == visible(html).replace("\n", "")


def test_a_tag_spanning_the_cut_is_closed_and_reopened() -> None:
    html = "<i>" + "a " * 100 + "</i>"
    parts = split_html(html, 30)
    assert all(p.startswith("<i>") and p.endswith("</i>") for p in parts)
    assert sum(visible(p).count("a") for p in parts) == 100


def test_one_huge_word_and_emoji() -> None:
    html = "😀" * 5000  # two UTF-16 units each
    parts = split_html(html, 4096)
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "".join(parts) == html


def test_nothing_follows_a_full_width_colon_in_chinese(committee: Committee) -> None:
    """Templates put a label and its value side by side for both languages; Chinese wants no
    space after the full-width colon (English keeps its space)."""
    texts = Texts(committee, SHANGHAI)
    member = Member(
        id=1,
        user_id=2001,
        org_code="CBS-NR",
        role=Role.DEPARTMENT_HEAD,
        display_name="李明",
        joined_at=datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI),
    )
    viewer = Viewer(2001, "zh_CN", member, "李明")
    zh = visible(texts.render("zh_CN", "whoami", viewer=viewer))
    assert "所属单位：长白山管委会自然资源局" in zh
    assert "： " not in zh
    en = visible(texts.render("en", "whoami", viewer=viewer))
    assert "Organisation: Natural Resources Bureau" in en


async def test_templates_are_compiled_ahead_of_the_first_update(
    committee: Committee, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up (a job soon after start) compiles every template in every language, so an
    update's first render of one compiles nothing."""
    texts = Texts(committee, SHANGHAI)
    names = sorted(p.name for p in TEMPLATES_DIR.glob("*.html"))
    assert await texts.warm_up() == 2 * len(names)

    def compile_again(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a template was compiled while rendering")

    for lang in ("zh_CN", "en"):
        env = texts._envs[lang]
        monkeypatch.setattr(env, "compile", compile_again)
        assert texts.render(lang, "cancelled")
        assert all(env.get_template(name) for name in names)


def test_dates_are_written_as_the_cldr_formats_write_them(committee: Committee) -> None:
    """The bot writes dates itself (Babel's locale data would stay loaded for the process's
    life): every day of a leap year and a common one reads as Babel writes it for zh_Hans_CN
    and en_GB, in each of the formats the bot uses."""
    from babel.dates import format_date, get_day_names

    from handlers.widgets import short_day

    texts = Texts(committee, SHANGHAI)
    locale = {"zh_CN": "zh_Hans_CN", "en": "en_GB"}
    day = date(2027, 1, 1)
    while day < date(2029, 1, 1):
        assert texts.format_date("en", day) == format_date(day, "long", locale="en_GB")
        assert texts.format_day("en", day) == format_date(day, "EEE d MMM yyyy", locale="en_GB")
        for lang, pattern in (("zh_CN", "M月d日（EEE）"), ("en", "EEE d MMM")):
            assert short_day(lang, day) == format_date(day, pattern, locale=locale[lang])
        assert texts.format_date("zh_CN", day) == format_date(
            day, "yyyy年M月d日（EEE）", locale="zh_Hans_CN"
        )
        if day.day == 1:
            for lang, pattern in (("zh_CN", "yyyy年M月"), ("en", "LLLL yyyy")):
                assert texts.month_title(lang, day) == format_date(
                    day, pattern, locale=locale[lang]
                )
        day = date.fromordinal(day.toordinal() + 1)
    for lang in ("zh_CN", "en"):
        names = get_day_names("narrow", context="stand-alone", locale=locale[lang])
        assert texts.weekdays(lang) == [names[i] for i in range(7)]


def test_writing_dates_loads_no_locale_data() -> None:
    """Formatting every kind of date leaves Babel unimported (its locale data is several MiB)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from datetime import date, datetime, UTC\n"
        "from zoneinfo import ZoneInfo\nfrom pathlib import Path\n"
        "from bot.config import load_committee\n"
        "from handlers.texts import Texts\n"
        "from handlers.widgets import short_day\n"
        "t = Texts(load_committee(Path('committee.example.toml')), ZoneInfo('Asia/Shanghai'))\n"
        "d = date(2026, 12, 2)\n"
        "for lang in ('zh_CN', 'en'):\n"
        "    t.format_date(lang, d); t.format_day(lang, d); t.month_title(lang, d)\n"
        "    t.weekdays(lang); short_day(lang, d)\n"
        "    t.format_datetime(lang, datetime(2026, 12, 2, 1, 30, tzinfo=UTC))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'babel'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"
