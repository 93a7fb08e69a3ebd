"""The sandbox in a real browser: ``python -m sandbox`` as a person starts it, its web chat in
headless Chromium, played by typing and pressing as people do, in Chinese. Screenshots of
each step go to ``test-output/screenshots/<test>/``."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from bot.config import load_committee
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from tests.browser.conftest import ROOT, WAIT, SandboxProcess, Screenshots
from tests.browser.helpers import ChatPage, distinct_glyphs

CLERK_ID = 3001
NUMBER = re.compile(r"协调〔\d{4}〕\d+号")


def day_of(shown: str) -> date:
    """The day of a time as the page shows it: 2026年12月7日（周一）09:00."""
    found = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日", shown)
    assert found is not None, shown
    return date(*map(int, found.groups()))


def is_working_day(day: date) -> bool:
    """As the sandbox's committee (the example one) counts working days."""
    committee = load_committee(ROOT / "committee.example.toml")
    return WorkingCalendar(committee.calendar or CalendarOverrides()).is_working_day(day)


def cjk(text: str, n: int) -> str:
    """The first ``n`` different Chinese characters of ``text``."""
    seen = dict.fromkeys(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "".join(list(seen)[:n])


def test_a_referral_raised_in_the_page_is_acknowledged_by_the_clerk_and_posted_to_the_group(
    sandbox: SandboxProcess, driver: Any, screenshots: Screenshots, tmp_path: Path
) -> None:
    agreement = tmp_path / "征收补偿协议.pdf"
    agreement.write_bytes(b"%PDF-1.4\n% the agreement the applicant disputes\n")
    page = ChatPage(driver, sandbox.url, WAIT)
    page.open()
    assert "沙盒 · SANDBOX" in driver.find_element(By.TAG_NAME, "body").text

    # The department head's chat: the cast joined before anyone came, the page is in Chinese.
    dept = page.show("dept")
    page.wait_text("dept", "欢迎")
    assert page.css("button.send", dept)[0].text == "发送"
    screenshots("dept-joined")
    # The story starts on a Monday morning, whatever the day and hour the tests run at: its
    # week's digest counts the acknowledgement, and at night "+3 working days" then "next
    # morning" would land on the deadline's own morning.
    page.jump("monday-9")

    # The referral, through /new: typed answers, pressed buttons, a document picked.
    page.say("dept", "/new")
    page.press("dept", "行政争议协调化解")
    page.say("dept", "某村土地征收补偿争议")
    page.say("dept", "申请人对征收补偿标准有异议。")
    page.say("dept", "张三")
    screenshots("dept-form-typed")
    page.press("dept", "自然资源局")
    page.press("dept", "池北行政争议协调化解中心")
    page.press("dept", "一般")
    page.press("dept", "不指定日期")
    page.attach("dept", agreement)
    page.wait_text("dept", "已收到1个文件")
    page.press("dept", "完成")
    page.button("dept", "提请")
    screenshots("dept-form-summary")
    page.press("dept", "提请")
    receipt = page.wait_text("dept", "协调〔")
    shown = NUMBER.search(receipt)
    assert shown is not None, receipt
    number = shown.group(0)
    assert sandbox.rows("select number, status, title from cases") == [
        (number, "submitted", "某村土地征收补偿争议")
    ]
    assert sandbox.rows("select media, file_name, file_size from case_files") == [
        ("document", agreement.name, agreement.stat().st_size)
    ]
    screenshots("dept-submitted")

    # The court clerk has the notice with its buttons, drawn in a CJK font.
    page.show("clerk")
    notice = page.wait_text("clerk", number, "某村土地征收补偿争议")
    page.button("clerk", "受理")
    message = page.css(".msg.bot .text", page.column("clerk"))[-1]
    chars = cjk(notice, 8)
    assert distinct_glyphs(driver, chars, message) == len(chars) == 8
    screenshots("clerk-notice")

    # The attached document comes to the clerk on request, and opens from the page.
    page.press("clerk", "附件（1）")
    link = page.file_link("clerk", agreement.name)
    assert page.download(link) == agreement.read_bytes()
    screenshots("clerk-document")

    # Nobody acknowledges; three working days and a morning later the clerk's summary of
    # deadlines lists the matter as overdue.
    seen = len(page.bot_texts("clerk"))
    page.jump("workdays", 3)
    morning = page.jump("next-morning")
    assert morning.endswith("08:30"), morning
    summary = page.wait_text("clerk", "今日期限提醒", number, after=seen)
    assert "已逾期" in summary
    assert sandbox.rows(
        "select status from outbox where kind = 'deadline_summary' "
        f"and chat_id = {CLERK_ID} order by id desc limit 1"
    ) == [("sent",)]
    screenshots("clerk-morning-summary")

    # The clerk acknowledges (受理); the department head is told.
    page.press("clerk", "受理")
    assert sandbox.rows(
        "select c.status, a.acted_by from cases c join assignments a on a.case_id = c.id"
    ) == [("acknowledged", CLERK_ID)]
    screenshots("clerk-acknowledged")
    page.show("dept")
    page.wait_text("dept", number, "受理")
    screenshots("dept-told")

    # The committee group shows the post, without the applicant's name.
    page.show("group")
    post = page.wait_text("group", number)
    assert all("张三" not in text for text in page.bot_texts("group")), post
    screenshots("group-post")

    # Monday 09:00: the weekly digest comes to the group (on a working Monday; after a day
    # off it comes on the next working day instead).
    seen = len(page.bot_texts("group"))
    monday = page.jump("monday-9")
    assert "（周一）09:00" in monday, monday
    if is_working_day(day_of(monday)):
        digest = page.wait_text("group", "府院联动周报", number, after=seen)
        assert "已受理：1" in digest, digest
        screenshots("group-weekly-digest")

    # Not one of the page's requests failed on the way.
    assert not sandbox.failed_requests()


@pytest.mark.viewport(1280, 900)
def test_side_by_side_each_column_speaks_its_persons_language_until_a_reset(
    sandbox: SandboxProcess, driver: Any, screenshots: Screenshots
) -> None:
    page = ChatPage(driver, sandbox.url, WAIT)
    page.open()
    page.show("dept")
    driver.find_element(By.XPATH, '//button[normalize-space()="并排"]').click()
    page.show("observer")
    # Two columns on screen, beside each other: the observer's and the one shown before.
    shown = page.until(lambda: page.shown_keys() if len(page.shown_keys()) == 2 else None, "")
    assert "observer" in shown
    other = next(key for key in shown if key != "observer")
    assert page.column(other).location["x"] != page.column("observer").location["x"]

    # The observer switches to English: their column follows, the other not, and the page's
    # own toolbar stays in the sandbox's language whoever was chosen last.
    page.say("observer", "/lang")
    page.press("observer", "English")
    page.wait_text("observer", "Language set to English.")
    page.until(lambda: page.css("button.send", page.column("observer"))[0].text == "Send", "")
    assert page.css("button.send", page.column(other))[0].text == "发送"
    reset = page.css('button[data-action="reset"]')[0]
    assert reset.text == "重置"
    assert sandbox.rows("select lang from users where user_id = 4001") == [("en",)]
    screenshots("observer-in-english")

    # Reset: the committee starts afresh, everyone joined again, in Chinese.
    reset.click()
    # The button rests while the committee is rebuilt, and is back (in Chinese) once it is.
    page.until(lambda: page.css('button[data-action="reset"]')[0].is_enabled() or None, "")
    page.until(lambda: page.css('button[data-action="reset"]')[0].text == "重置", "no reset")
    page.until(
        lambda: (
            (texts := page.bot_texts("observer"))
            and any("欢迎" in text for text in texts)
            and not any("English" in text for text in texts)
        ),
        "the observer's chat did not start afresh",
    )
    assert page.css("button.send", page.column("observer"))[0].text == "发送"
    assert sandbox.rows("select count(*) from members where revoked_at is null") == [(5,)]
    assert sandbox.rows("select lang from users where user_id = 4001") != [("en",)]
    screenshots("after-reset")
    # The page kept asking for news through the reset: every answer was a good one.
    assert not sandbox.failed_requests()
