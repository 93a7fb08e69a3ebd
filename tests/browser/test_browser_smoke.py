"""The browser itself: Chromium starts headless, runs a page's script, types, clicks, draws
Chinese with a CJK font and takes screenshots. If this fails, the sandbox test cannot pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import PHONE, WAIT, Screenshots
from tests.browser.helpers import distinct_glyphs, serve_page

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>府院联动</title>
<style>body { font: 20px sans-serif; margin: 16px; }</style></head>
<body>
<h1 id="title">府院联动办公室</h1>
<input class="compose" placeholder="输入消息">
<button class="send">发送</button>
<div id="log"></div>
<script>
document.querySelector('button.send').addEventListener('click', () => {
  const box = document.querySelector('.compose');
  // Answered later, as a chat's reply is: the test has to wait for it, not find it at once.
  setTimeout(() => {
    const p = document.createElement('p');
    p.className = 'reply';
    p.textContent = '已收到：' + box.value;
    document.getElementById('log').appendChild(p);
  }, 300);
});
</script></body></html>
"""


def test_chromium_types_clicks_and_renders_chinese(driver: Any, screenshots: Screenshots) -> None:
    with serve_page(PAGE) as url:
        driver.get(url)
        wait = WebDriverWait(driver, WAIT)
        title = wait.until(ec.visibility_of_element_located((By.ID, "title")))
        assert title.text == "府院联动办公室"
        assert driver.title == "府院联动"
        # Phone-sized, as a member holds it.
        assert driver.execute_script("return window.innerWidth") <= PHONE[0]

        driver.find_element(By.CSS_SELECTOR, ".compose").send_keys("提请协调")
        driver.find_element(By.CSS_SELECTOR, "button.send").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "log"), "已收到：提请协调"))

        # Six different characters drawn as six different glyphs: a CJK font is there
        # (without one, every character is the same empty box).
        assert distinct_glyphs(driver, "府院联动办公", title) == 6
        # The check itself tells boxes apart from glyphs: characters no font has (private
        # use) all come out as one and the same box.
        assert distinct_glyphs(driver, "\ue000\ue001\ue002\ue003", title) == 1
        shot = screenshots("reply-shown")

    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(shot).parent.name == "test_chromium_types_clicks_and_renders_chinese"
