"""The web chat: static pages from ``sandbox/web/`` and a small JSON API over the sandbox,
served by Tornado on 127.0.0.1 only.

The page long-polls ``GET /api/state?since=<digest>``: the answer comes as soon as what it
shows changed (a message, an edit, a button's answer, the clock jumped), or after a while
with nothing new. Everything a person does is a POST that the local Bot API turns into the
update Telegram would send the bot:

- ``POST /api/send`` ``{"person", "text", "as"?}``: a message (``as``: who speaks in the group);
- ``POST /api/press`` ``{"person", "message_id", "row", "column", "as"?}``: a callback button;
- ``POST /api/upload`` (multipart ``person``, ``file``, ``caption``, ``as``): a document, or a
  photo when it is an image;
- ``POST /api/time`` ``{"action": "next-morning" | "monday-9" | "workdays" | "meeting-1h",
  "workdays"?}`` (``meeting-1h``: an hour before the next meeting);
- ``POST /api/reset``;
- ``GET /files/<file_id>``: a file sent in a chat (``?inline=1`` to open rather than save).

Refusals are 400 with ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from sandbox.world import Sandbox, SandboxError

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
LONG_POLL_SECONDS = 25.0
# Changes come in bursts (a reply is several Bot API calls); one answer for the burst.
SETTLE_SECONDS = 0.05
MAX_UPLOAD = 20 * 1024 * 1024
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


class Refused(tornado.web.HTTPError):
    """An HTTP error with a code the page turns into its person's language."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(status, message)
        self.code = code


class _Handler(tornado.web.RequestHandler):
    """Base: the sandbox, JSON in and out, and only requests addressed to this machine."""

    sandbox: Sandbox

    def initialize(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def prepare(self) -> None:
        # A page elsewhere cannot drive the sandbox through a name that resolves to 127.0.0.1.
        host = self.request.host_name.lower()
        if host not in LOCAL_HOSTS:
            raise tornado.web.HTTPError(403)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def body(self) -> dict[str, Any]:
        try:
            decoded = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "not JSON") from None
        if not isinstance(decoded, dict):
            raise tornado.web.HTTPError(400, "not a JSON object")
        return decoded

    def reply(self, value: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        reason, code = self._reason, "bad_request"
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and isinstance(exc_info[1], tornado.web.HTTPError):
            reason = exc_info[1].log_message or reason
            code = getattr(exc_info[1], "code", code)
        self.finish(json.dumps({"ok": False, "error": reason, "code": code}, ensure_ascii=False))

    async def act(self, action: Any) -> None:
        """Run a person's action; a refusal is a 400 with the reason and its code."""
        try:
            result = action()
            if asyncio.iscoroutine(result):
                result = await result
        except SandboxError as exc:
            raise Refused(400, str(exc), exc.code) from None
        self.reply({"ok": True, **(result if isinstance(result, dict) else {})})


class StateHandler(_Handler):
    async def get(self) -> None:
        since = self.get_argument("since", "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LONG_POLL_SECONDS
        while True:
            changed = self.sandbox.changed()
            state = await self.sandbox.state()
            remaining = deadline - loop.time()
            if state["digest"] != since or remaining <= 0 or self.sandbox.closed:
                self.reply(state)
                return
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue
            await asyncio.sleep(SETTLE_SECONDS)


class SendHandler(_Handler):
    async def post(self) -> None:
        body = self.body()
        await self.act(
            lambda: self.sandbox.send_text(
                str(body.get("person", "")), str(body.get("text", "")), as_key=body.get("as")
            )
        )


class PressHandler(_Handler):
    async def post(self) -> None:
        body = self.body()
        try:
            message_id, row, column = (int(body[k]) for k in ("message_id", "row", "column"))
        except (KeyError, TypeError, ValueError):
            raise tornado.web.HTTPError(400, "message_id, row and column") from None
        await self.act(
            lambda: self.sandbox.press(
                str(body.get("person", "")), message_id, row, column, as_key=body.get("as")
            )
        )


class UploadHandler(_Handler):
    async def post(self) -> None:
        files = self.request.files.get("file")
        if not files:
            raise tornado.web.HTTPError(400, "no file")
        upload = files[0]
        if len(upload.body) > MAX_UPLOAD:
            raise Refused(413, "the file is too large", "too_large")
        person = self.get_body_argument("person", "")
        caption = self.get_body_argument("caption", "")
        as_key = self.get_body_argument("as", None)
        await self.act(
            lambda: self.sandbox.send_file(
                person,
                Path(upload.filename or "file").name,
                upload.body,
                upload.content_type or "application/octet-stream",
                caption,
                as_key=as_key,
            )
        )


class FileHandler(_Handler):
    def get(self, file_id: str) -> None:
        try:
            content, name, mime = self.sandbox.file(file_id)
        except SandboxError:
            raise tornado.web.HTTPError(404, "no such file") from None
        inline = mime.startswith("image/") or self.get_argument("inline", "") == "1"
        disposition = "inline" if inline else "attachment"
        self.set_header("Content-Type", mime)
        self.set_header("Content-Disposition", f"{disposition}; filename*=UTF-8''{quote(name)}")
        self.finish(content)


class TimeHandler(_Handler):
    async def post(self) -> None:
        body = self.body()
        try:
            raw = body.get("workdays")
            workdays = 1 if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            raise tornado.web.HTTPError(400, "workdays must be a number") from None

        async def jump() -> dict[str, Any]:
            moment = await self.sandbox.jump(str(body.get("action", "")), workdays)
            return {"now": moment.isoformat(timespec="minutes")}

        await self.act(jump)


class ResetHandler(_Handler):
    async def post(self) -> None:
        await self.act(self.sandbox.reset)


class PageHandler(_Handler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((WEB_DIR / "index.html").read_bytes())


class StaticHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")


def make_app(sandbox: Sandbox) -> tornado.web.Application:
    args = {"sandbox": sandbox}
    return tornado.web.Application(
        [
            (r"/", PageHandler, args),
            (r"/api/state", StateHandler, args),
            (r"/api/send", SendHandler, args),
            (r"/api/press", PressHandler, args),
            (r"/api/upload", UploadHandler, args),
            (r"/api/time", TimeHandler, args),
            (r"/api/reset", ResetHandler, args),
            (r"/files/([A-Za-z0-9_-]+)", FileHandler, args),
            (r"/static/(.*)", StaticHandler, {"path": str(WEB_DIR)}),
        ],
        compress_response=False,
    )


def listen(sandbox: Sandbox, port: int) -> tuple[HTTPServer, int]:
    """Serve the web chat on 127.0.0.1:``port``, or on a free port if that one is taken;
    the server and the port it listens on."""
    try:
        sockets = bind_sockets(port, address="127.0.0.1")
    except OSError as exc:
        if port == 0:
            raise
        logger.warning("port %s is taken (%s): the sandbox takes a free one", port, exc)
        sockets = bind_sockets(0, address="127.0.0.1")
    server = HTTPServer(make_app(sandbox), max_body_size=MAX_UPLOAD + 1024 * 1024)
    server.add_sockets(sockets)
    return server, int(sockets[0].getsockname()[1])
