"""Texts and buttons as a person reads them in the sandbox's web chat: English lists, buttons
that fit a phone, dates with their weekday, prompts stating a limit once. Each is played
through the page's HTTP API as in ``tests/test_sandbox.py``."""

from __future__ import annotations

import re
import unicodedata

from sandbox.world import Sandbox
from tests import test_sandbox
from tests.house_style import english_slips
from tests.test_sandbox import Page, raise_assistance, raise_hearing_and_name_a_deputy, rows

# The sandbox, its web chat and a page driving it, as in tests/test_sandbox.py.
sandbox = test_sandbox.sandbox

Box = tuple[Sandbox, Page, int]


# A full-width inline button in a phone's chat (the web chat's column is phone-sized) shows
# about 30 columns (a Latin letter one, a Han character two) before it is cut with "…".
PHONE_BUTTON_COLUMNS = 30


def columns(label: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in label)


async def test_english_lists_of_organisations_use_an_english_comma(sandbox: Box) -> None:
    """孙局长 in English: /my joins the agencies with the Chinese 、 ("Natural Resources
    Bureau、Ecology and Environment Bureau")."""
    _, page, _ = sandbox
    await raise_assistance(page, "自然资源局", "生态环境局")
    await page.say("agency", "/lang")
    await page.press("agency", "English")
    await page.say("agency", "/my")
    listing = page.texts("agency")[-1]
    assert "Open matters" in listing
    # The title keeps its own Chinese marks; the list of organisations is English.
    assert [s for s in english_slips(listing) if "、" in s[1]] == [], listing
    assert "Natural Resources Bureau, Ecology and Environment Bureau" in listing, listing


async def test_hearing_texts_follow_the_house_style(sandbox: Box) -> None:
    """The hearing's date has no weekday (开庭时间：2026年12月14日 09:30), and the deputy's
    reason prompt says its limit twice ("（最多500字）" then "最多500字。")."""
    _, page, _ = sandbox
    await raise_hearing_and_name_a_deputy(page)
    notice = next(t for t in page.texts("agency") if "出庭应诉通知" in t)
    assert re.search(r"开庭时间：\d{4}年\d{1,2}月\d{1,2}日（周.）", notice), notice
    twice = [t for t in page.texts("agency") if "（最多500字）" in t and "最多500字。" in t]
    assert twice == []


async def test_a_meeting_s_date_is_echoed_and_written_with_its_weekday(sandbox: Box) -> None:
    """/meeting: the date typed (12月3日), then 14:00: the form echoes only "✔ 日期和时间：14:00"
    (with a button for the date it echoes two lines both labelled 日期和时间), and the group
    post reads "时间：2026年12月3日 14:00" without the weekday the house style asks for."""
    _, page, _ = sandbox
    await page.say("office", "/meeting")
    await page.say("office", "2026年第四季度府院联席会议")
    await page.say("office", "12月3日")
    await page.press("office", "14:00")
    await page.until(lambda s: any("会议地点" in t for t in page.texts("office")))
    echo = next(t for t in page.texts("office") if "会议地点" in t)
    assert re.search(r"日期和时间：\d{4}年12月3日（周.）\s*14:00", echo), echo
    await page.say("office", "管委会三楼第一会议室")
    await page.press("office", "☐ 住建局")
    await page.press("office", "完成")
    await page.press("office", "完成")
    await page.press("office", "确认安排")
    await page.until(lambda s: any("府院联席会议" in t for t in page.texts("group")))
    post = next(t for t in page.texts("group") if "府院联席会议" in t)
    assert re.search(r"时间：\d{4}年\d{1,2}月\d{1,2}日（周.）", post), post


async def test_answer_buttons_fit_a_phone(sandbox: Box) -> None:
    """The agency's 📮 button carries its organisation's full name (the only one they can
    answer for): in English "📮 Reply · Natural Resources Bureau"-style labels, and in /case
    "👤 Assign a handler · Natural Resources Bureau", cut off on the page."""
    _, page, _ = sandbox
    await raise_assistance(page, "自然资源局", "住建局")
    await page.say("dept", "/lang")
    await page.press("dept", "English")
    await page.say("dept", "/case 协助〔2026〕1号")
    case = page.messages("dept")[-1]
    labels = [b["text"] for row in case.get("keyboard") or [] for b in row]
    assert labels
    too_long = [label for label in labels if columns(label) > PHONE_BUTTON_COLUMNS]
    assert too_long == [], too_long


async def test_an_agenda_toggle_fits_a_phone(sandbox: Box) -> None:
    """The meeting form offers the office's open matters as agenda toggles: a matter's
    number and its whole title ("☐ 研判〔2026〕1号「长白山保护开发区集体土地征收方案研判」")
    ran past a phone's width; the button keeps the number and as much title as fits, and
    the agenda keeps the whole title."""
    box, page, _ = sandbox
    title = "长白山保护开发区集体土地征收方案研判"
    await page.say("dept", "/new")
    await page.press("dept", "重大事项研判")
    await page.say("dept", title)
    await page.say("dept", "请求就征收程序合法性进行研判。")
    await page.press("dept", "延边中院")
    await page.press("dept", "一般")
    await page.press("dept", "不指定日期")
    await page.press("dept", "完成")
    await page.press("dept", "提请")
    await page.say("office", "/meeting")
    await page.say("office", "2026年第四季度府院联席会议")
    await page.say("office", "12月3日")
    await page.press("office", "14:00")
    await page.say("office", "管委会三楼第一会议室")
    await page.press("office", "☐ 住建局")
    await page.press("office", "完成")
    agenda = page.messages("office")[-1]
    labels = [b["text"] for row in agenda.get("keyboard") or [] for b in row]
    [toggle] = [label for label in labels if "研判〔2026〕1号" in label]
    assert toggle.startswith("☐ 研判〔2026〕1号「长白山") and toggle.endswith("…」"), toggle
    assert [label for label in labels if columns(label) > PHONE_BUTTON_COLUMNS] == []
    await page.press("office", "☐ 研判〔2026〕1号")
    await page.press("office", "完成")
    await page.press("office", "确认安排")
    [(item,)] = rows(box, "select text from meeting_agenda")
    assert item.startswith("研判〔2026〕1号") and item.endswith(title), item


async def test_the_time_zone_reads_as_people_say_it(sandbox: Box) -> None:
    """The committee keeps Asia/Shanghai time: the time questions said "（Asia/Shanghai）" and
    "（Asia/Shanghai时间）" in Chinese where people say 北京时间."""
    _, page, _ = sandbox
    await page.say("office", "/meeting")
    await page.say("office", "2026年第四季度府院联席会议")
    await page.say("office", "12月3日")
    # The bot first takes the buttons off the date question, then asks for the time.
    await page.until(lambda s: "几点" in page.texts("office")[-1])
    assert "（北京时间）" in page.texts("office")[-1], page.texts("office")[-1]
    await page.say("clerk", "/new")
    await page.press("clerk", "出庭应诉")
    await page.say("clerk", "（2026）吉24行初15号")
    await page.say("clerk", "土地行政征收")
    await page.press("clerk", "自然资源局")
    await page.say("clerk", "第三审判庭")
    await page.press("clerk", "10个工作日")
    await page.until(lambda s: "几点" in page.texts("clerk")[-1])
    asked = page.texts("clerk")[-1]
    assert "（北京时间）" in asked and "Asia/Shanghai" not in asked, asked
