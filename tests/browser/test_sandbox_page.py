"""The sandbox page's own chrome in headless Chromium: on a phone the banner and the toolbar
leave the screen to the chat, the page stays in its language (Chinese, English by its toggle)
whoever is chosen, it follows its address when that changes, and file sizes read naturally
in each language."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import WAIT, SandboxProcess, Screenshots
from tests.browser.helpers import ChatPage

# The banner and the toolbar together, as a share of a phone's screen height.
MOST_CHROME_ON_A_PHONE = 0.15


def chrome_share(driver: Any) -> float:
    """How much of the screen's height the banner and the toolbar take."""
    share: float = driver.execute_script(
        "const h = (s) => document.querySelector(s).getBoundingClientRect().height;"
        "return (h('.banner') + h('.toolbar')) / window.innerHeight;"
    )
    return share


def test_on_a_phone_the_chat_keeps_the_screen_and_files_say_their_size_in_chinese(
    sandbox: SandboxProcess, driver: Any, screenshots: Screenshots, tmp_path: Path
) -> None:
    page = ChatPage(driver, sandbox.url, WAIT)
    page.open()
    page.show("dept")
    page.wait_text("dept", "欢迎")
    assert driver.execute_script("return window.innerWidth") <= 420
    screenshots("phone")
    share = chrome_share(driver)
    assert share <= MOST_CHROME_ON_A_PHONE, f"banner and toolbar take {share:.0%}"
    # The clock stays in sight; the time controls unfold when wanted and still work.
    assert page.clock().startswith("20")
    assert not page.css('button[data-time="next-morning"]')[0].is_displayed()
    page.time_controls()
    screenshots("time-controls")
    assert page.jump("next-morning").endswith("08:30")

    # A file the department head picks shows its size as Chinese reads it.
    note = tmp_path / "情况说明.txt"
    note.write_bytes(b"0123456789")
    page.css("input[type=file].attach", page.column("dept"))[0].send_keys(str(note))
    link = page.until(
        lambda: next(
            (a for a in page.css(".msg.me .file a", page.column("dept")) if note.name in a.text),
            None,
        ),
        "the file did not show",
    )
    assert link.text == "📄 情况说明.txt（10字节）"
    screenshots("file")
    assert not sandbox.failed_requests()


@pytest.mark.viewport(1280, 900)
def test_the_page_keeps_its_language_and_follows_its_address(
    sandbox: SandboxProcess, driver: Any, screenshots: Screenshots
) -> None:
    page = ChatPage(driver, sandbox.url, WAIT)
    page.open()
    page.show("dept")
    reset = page.css('button[data-action="reset"]')[0]
    assert reset.text == "重置"

    # The address names two people: the page shows them side by side, and follows when it
    # changes again (a link, the history), not only when the page loads.
    driver.execute_script("location.hash = '#clerk,agency'")
    page.until(lambda: page.shown_keys() == ["clerk", "agency"] or None, "#clerk,agency")
    driver.execute_script("location.hash = '#group'")
    page.until(lambda: page.shown_keys() == ["group"] or None, "#group not followed")
    driver.back()
    page.until(lambda: page.shown_keys() == ["clerk", "agency"] or None, "back not followed")
    screenshots("address-followed")

    # The agency head switches to English: their column speaks English, the page does not.
    page.say("agency", "/lang")
    page.press("agency", "English")
    page.wait_text("agency", "Language set to English.")
    page.until(lambda: page.css("button.send", page.column("agency"))[0].text == "Send", "")
    page.show("agency")
    assert page.css('button[data-action="reset"]')[0].text == "重置"
    assert re.match(r"\d{4}年", page.clock())

    # The page's own toggle turns its chrome to English (the columns keep their people's
    # languages), and back; the choice outlives a reload.
    page.css('button[data-action="ui-lang"]')[0].click()
    page.until(lambda: page.css('button[data-action="reset"]')[0].text == "Reset" or None, "")
    assert page.css('button[data-time="next-morning"]')[0].text == "Next working day 08:30"
    screenshots("page-in-english")
    driver.refresh()
    page.until(lambda: page.css('[data-person="dept"]') or None, "no people after a reload")
    page.until(lambda: page.css('button[data-action="reset"]')[0].text == "Reset" or None, "")
    assert page.shown_keys() == ["clerk", "agency"]
    page.css('button[data-action="ui-lang"]')[0].click()
    page.until(lambda: page.css('button[data-action="reset"]')[0].text == "重置" or None, "")
    assert not sandbox.failed_requests()
