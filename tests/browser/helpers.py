"""What the browser tests share: a tiny page server, waits on visible text, a glyph check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
