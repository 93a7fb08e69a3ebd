"""``FakeRequest``: python-telegram-bot's transport replaced by direct calls into FakeTelegram.

It decodes ``RequestData`` the way ``HTTPXRequest`` puts it on the wire (every value a
string from ``json_parameters``, files from ``multipart_data``), so in-process tests see
the same parameter shapes as the HTTP server does.
"""

import asyncio
import contextlib
import json
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from sandbox.botapi.telegram import FakeTelegram, InjectedTimeout, UploadedFile

__all__ = ["FakeRequest", "decode_request_data"]


def _read_content(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes):
        return content
    data = content.read()
    with contextlib.suppress(OSError, ValueError):  # not seekable: PTB won't re-read it
        content.seek(0)
    return data if isinstance(data, bytes) else str(data).encode()


def decode_request_data(request_data: RequestData | None) -> dict[str, Any]:
    """Parameters as HTTPXRequest would send them: JSON-encoded strings plus file parts."""
    if request_data is None:
        return {}
    params: dict[str, Any] = dict(request_data.json_parameters)
    for part_name, field_tuple in request_data.multipart_data.items():
        file_name, content, mime_type = field_tuple
        data = _read_content(content)
        params[part_name] = UploadedFile(
            file_name=file_name or part_name, size=len(data), mime_type=mime_type, content=data
        )
    return params


class FakeRequest(BaseRequest):
    """A ``BaseRequest`` for ``ApplicationBuilder().request(...)`` / ``.get_updates_request``.

    getUpdates with ``timeout`` > 0 long-polls without blocking the event loop, so a
    polling ``Application`` idles instead of spinning.
    """

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        path = urlsplit(url).path
        if "/file/bot" in path:
            return self._download(path)
        api_method = path.rstrip("/").rsplit("/", 1)[-1]
        params = decode_request_data(request_data)
        if api_method.lower() == "getupdates":
            await self._long_poll(params)
        try:
            status, envelope = self.fake.handle(api_method, params)
        except InjectedTimeout as timeout:
            raise TimedOut(f"Timed out (injected by FakeTelegram on {timeout.method})") from None
        return status, json.dumps(envelope, ensure_ascii=False).encode()

    def _download(self, path: str) -> tuple[int, bytes]:
        # /file/bot<token>/<file_path>
        _, _, rest = path.partition("/file/bot")
        _, _, file_path = rest.partition("/")
        content = self.fake.file_content(unquote(file_path))
        if content is None:
            body = {"ok": False, "error_code": 404, "description": "Not Found"}
            return 404, json.dumps(body).encode()
        return 200, content

    async def _long_poll(self, params: dict[str, Any]) -> None:
        try:
            timeout = float(params.get("timeout") or 0)
            offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
        except (TypeError, ValueError):
            return  # let handle() answer the malformed request
        self.fake.confirm_updates(offset)
        if timeout <= 0 or self.fake.has_updates(offset):
            return
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def on_change() -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nobody waits any more
                loop.call_soon_threadsafe(changed.set)

        remove = self.fake.add_listener(on_change)
        try:
            with self.fake.long_poll_waiting(), contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wait_for_updates(offset, changed)
        finally:
            remove()

    async def _wait_for_updates(self, offset: int | None, changed: asyncio.Event) -> None:
        while True:
            changed.clear()
            if self.fake.has_updates(offset):
                return
            await changed.wait()
