"""What the browser tests share: a tiny page server, waits on visible text, a glyph check."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
# What the page says after a time control moved the clock (its Chinese toolbar).
JUMPED = "时间已跳到"

# Draws each character alone on a canvas in the page's font and returns how many distinct
# bitmaps came out. Characters the fonts lack all come out as the same empty box ("tofu"), so
# n distinct CJK characters rendered as n distinct bitmaps means a CJK font drew them.
DISTINCT_GLYPHS_JS = """
const [chars, css] = arguments;
const canvas = document.createElement('canvas');
canvas.width = 64; canvas.height = 64;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
const seen = new Set();
for (const ch of chars) {
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 64, 64);
  ctx.fillStyle = '#000'; ctx.font = css; ctx.textBaseline = 'top';
  ctx.fillText(ch, 8, 8);
  const data = ctx.getImageData(0, 0, 64, 64).data;
  let key = 0, ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] < 128) { ink++; key = (key * 31 + i) >>> 0; }
  }
  seen.add(ink + ':' + key);
}
return seen.size;
"""


def distinct_glyphs(driver: Any, chars: str, element: Any | None = None) -> int:
    """How many of ``chars`` render as distinct glyphs in ``element``'s font (or the page's)."""
    css = driver.execute_script(
        "const s = getComputedStyle(arguments[0] || document.body);"
        "return s.fontSize + ' ' + s.fontFamily;",
        element,
    )
    count: int = driver.execute_script(DISTINCT_GLYPHS_JS, chars, css)
    return count


@contextmanager
def serve_page(html: str) -> Iterator[str]:
    """Serve one HTML page at every path of a free 127.0.0.1 port; yields its address."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class ChatPage:
    """The sandbox's web chat as a person uses it, through the page's DOM contract only
    (``[data-person]``, ``.chat[data-chat]``, ``.msg``, ``button.kb``, ``.compose``,
    ``button.send``, ``[data-time]``, ``#clock``). Every step waits for what a person would
    wait to see; elements re-rendered by a live update are looked up afresh."""

    def __init__(self, driver: Any, url: str, timeout: float) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.url = url
        self.wait = WebDriverWait(
            driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
        )

    def css(self, selector: str, root: Any = None) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list((root or self.driver).find_elements(By.CSS_SELECTOR, selector))

    def until(self, condition: Callable[[], T | None], message: str) -> T:
        """Wait until ``condition()`` is truthy (re-run on a stale element), return it."""
        result = self.wait.until(lambda _: condition(), message)
        assert result is not None  # WebDriverWait returns only a truthy result
        return result

    def open(self) -> None:
        self.driver.get(self.url)
        self.until(lambda: self.css('[data-person="dept"]'), "no people in the switcher")

    def show(self, key: str) -> Any:
        """Switch to ``key``'s chat; returns its column once it is on screen."""
        self.css(f'[data-person="{key}"]')[0].click()
        return self.until(lambda: self._shown(key), f"{key}'s column is not shown")

    def _shown(self, key: str) -> Any:
        found = self.css(f'.chat[data-chat="{key}"]')
        return found[0] if found and found[0].is_displayed() else None

    def shown_keys(self) -> list[str]:
        """The people whose columns are on screen."""
        return [c.get_attribute("data-chat") for c in self.css(".chat") if c.is_displayed()]

    def column(self, key: str) -> Any:
        found = self._shown(key)
        assert found is not None, f"{key}'s column is not on screen"
        return found

    def bot_texts(self, key: str) -> list[str]:
        """The visible text of the bot's messages in ``key``'s column, oldest first."""
        return [m.text for m in self.css(".msg.bot .text", self.column(key))]

    def _bot_view(self, key: str) -> list[str]:
        """The bot's messages as shown, buttons included: an edit in place changes it."""
        return [m.text for m in self.css(".msg.bot", self.column(key))]

    def wait_text(self, key: str, *parts: str, after: int = 0) -> str:
        """Wait for a bot message (from the ``after``-th on) that shows every one of ``parts``;
        returns its visible text."""

        def found() -> str | None:
            for text in reversed(self.bot_texts(key)[after:]):
                if all(part in text for part in parts):
                    return text
            return None

        return self.until(found, f"{key} never saw a message with {parts!r}")

    def say(self, key: str, text: str) -> None:
        """Type ``text`` into the column's box, press send, wait for the bot's answer."""
        column = self.column(key)
        before = self._bot_view(key)
        mine = len(self.css(".msg.me", column))
        box = self.css("textarea.compose, input.compose", column)[0]
        box.click()
        box.send_keys(text)
        self.css("button.send", column)[0].click()
        self.until(
            lambda: any(text in m.text for m in self.css(".msg.me", self.column(key))[mine:]),
            f"{text!r} did not show as {key}'s own message",
        )
        self.until(lambda: self._bot_view(key) != before, f"no answer to {text!r} for {key}")

    def attach(self, key: str, path: Path) -> None:
        """Choose ``path`` in the column's file picker (📎), as a person picks a file; waits
        until it shows as their own message and the bot answered."""
        before = self._bot_view(key)
        self.css("input[type=file].attach", self.column(key))[0].send_keys(str(path))
        self.until(
            lambda: any(path.name in m.text for m in self.css(".msg.me", self.column(key))),
            f"{path.name} did not show as {key}'s own message",
        )
        self.until(lambda: self._bot_view(key) != before, f"no answer to {path.name} for {key}")

    def file_link(self, key: str, name: str) -> Any:
        """The link to open a file the bot sent into the column, once it is there."""

        def found() -> Any:
            links = self.css(".msg.bot .file a", self.column(key))
            return next((a for a in reversed(links) if name in a.text), None)

        return self.until(found, f"{key} never got the file {name}")

    def download(self, link: Any) -> bytes:
        """What the page's link serves, fetched by the page itself."""
        data: list[int] = self.driver.execute_async_script(
            "const [href, done] = arguments;"
            "fetch(href).then((r) => r.arrayBuffer())"
            ".then((b) => done(Array.from(new Uint8Array(b))), () => done(null));",
            link.get_attribute("href"),
        )
        assert data is not None, "the file could not be fetched"
        return bytes(data)

    def button(self, key: str, label: str) -> Any:
        """The newest inline button reading ``label`` in the column, once it is there."""

        def newest() -> Any:
            buttons = self.css(".msg button.kb", self.column(key))
            # Exactly the label, else the label after a mark ("✔ 完成").
            for fits in (label.__eq__, lambda text: text.endswith(" " + label)):
                found = [b for b in buttons if fits(b.text)]
                if found:
                    return found[-1]
            return None

        return self.until(newest, f"{key} never saw a button {label!r}")

    def press(self, key: str, label: str) -> None:
        """Press the button once it shows, and wait for the bot to react (an edit or a new
        message)."""
        button = self.button(key, label)
        before = self._bot_view(key)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        self.until(lambda: self._bot_view(key) != before, f"{label!r} changed nothing for {key}")

    def clock(self) -> str:
        return str(self.css("#clock")[0].text)

    def jump(self, action: str, workdays: int | None = None) -> str:
        """Press a time control; returns the time the page says it jumped to, once the
        sandbox clock on the page shows that day."""
        before = self._status()
        self.time_controls()
        if workdays is not None:
            box = self.css('input[name="workdays"]')[0]
            box.clear()
            box.send_keys(str(workdays))
        self.css(f'button[data-time="{action}"]')[0].click()
        said = self.until(
            lambda: s if (s := self._status()) != before and s.startswith(JUMPED) else None,
            f"{action}: the page never said it jumped",
        )
        target = said.removeprefix(JUMPED).strip()
        day = target.split("）")[0]
        self.until(lambda: self.clock().startswith(day) or None, f"the clock never showed {target}")
        return target

    def time_controls(self) -> None:
        """Unfold the time controls where the page folds them away (on a phone)."""
        if not self.css('button[data-time="next-morning"]')[0].is_displayed():
            self.css('button[data-action="time-controls"]')[0].click()
            self.until(
                lambda: self.css('button[data-time="next-morning"]')[0].is_displayed() or None,
                "the time controls did not unfold",
            )

    def _status(self) -> str:
        found = self.css("#status")
        return str(found[0].text) if found and found[0].is_displayed() else ""
