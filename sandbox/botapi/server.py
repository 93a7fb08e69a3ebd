"""``FakeBotApiServer``: FakeTelegram behind real HTTP, for a real ``telegram.Bot``.

Point the bot at ``base_url``/``base_file_url``. Requests run on handler threads, long
polls wait on FakeTelegram's condition variable, and injected timeouts stall the
response until the client gives up.

Webhook mode: once the bot has called setWebhook, a delivery thread posts pending updates to
it one at a time, oldest first, as JSON with the ``X-Telegram-Bot-Api-Secret-Token`` header,
and confirms each the bot answers with 2xx (others are posted again after ``retry_delay``).
Telegram posts to the public https URL; ``route_webhook`` says where that arrives locally,
which is what the reverse proxy in front of the bot does.
"""

import json
import re
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.botapi.telegram import FakeTelegram, InjectedTimeout, UploadedFile

__all__ = ["TEST_TOKEN", "FakeBotApiServer", "parse_multipart", "post_update"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

TEST_TOKEN = "777000111:fake-token-for-fuyuan-bot-tests-only"  # not a real token

_UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
_HEADER_PARAM = re.compile(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class _BodyError(Exception):
    """The request body cannot be decoded; answered with 400 like Telegram."""


def _header_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, raw in _HEADER_PARAM.findall(value):
        text = raw.strip()
        if text.startswith('"') and text.endswith('"'):
            text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        # httpx escapes quotes in file names the HTML5 way.
        params[name.lower()] = text.replace("%22", '"')
    return params


def parse_multipart(body: bytes, boundary: str) -> dict[str, Any]:
    """Decode multipart/form-data: text fields as str, file parts as UploadedFile."""
    params: dict[str, Any] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        data = data.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            params[name] = UploadedFile(
                file_name=disposition["filename"] or name,
                size=len(data),
                mime_type=headers.get("content-type"),
                content=data,
            )
        else:
            params[name] = data.decode("utf-8")
    return params


def post_update(
    url: str, update: dict[str, Any], secret: str | None, timeout: float = 10
) -> tuple[int, str]:
    """POST one update to a webhook as Telegram does: (HTTP status, body); 0 if unreachable."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    request = urllib.request.Request(
        url, data=json.dumps(update).encode(), headers=headers, method="POST"
    )
    # Straight to the address, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


class _HttpServer(ThreadingHTTPServer):
    # Non-daemon handler threads so server_close() joins them: nothing outlives stop().
    daemon_threads = False
    block_on_close = True
    # A bot sends many requests at once (replies to a batch of updates, the courier's
    # deliveries), each on a connection of its own: socketserver's backlog of 5 would drop
    # connections in such a burst (the client sees a reset).
    request_queue_size = 128
    api: "FakeBotApiServer"


class _Handler(BaseHTTPRequestHandler):
    # One request per connection keeps shutdown simple: no idle keep-alive threads.
    protocol_version = "HTTP/1.0"
    server_version = "FakeBotAPI/1.0"
    timeout = 5  # socket timeout, so a silent client cannot pin a handler thread
    server: _HttpServer

    def do_GET(self) -> None:
        self.server.api.serve(self)

    def do_POST(self) -> None:
        self.server.api.serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; FakeTelegram.calls is the log."""


class FakeBotApiServer:
    """An HTTP Bot API on 127.0.0.1 (ephemeral port) serving ``fake`` for ``token``."""

    def __init__(
        self,
        fake: FakeTelegram,
        token: str = TEST_TOKEN,
        *,
        max_stall: float = 30.0,
        port: int = 0,
        retry_delay: float = 0.2,
    ) -> None:
        self.fake = fake
        self.retry_delay = retry_delay
        self._routes: dict[str, str] = {}
        self._deliverer: threading.Thread | None = None
        self.token = token
        self.max_stall = max_stall
        self._port = port  # 0: any free port
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HttpServer(("127.0.0.1", self._port), _Handler)
        httpd.api = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeBotApiServer",
            daemon=True,
        )
        self._thread.start()
        self._deliverer = threading.Thread(
            target=self._deliver_webhooks, name="FakeBotApiWebhook", daemon=True
        )
        self._deliverer.start()
        return self

    def route_webhook(self, public_url: str, local_url: str) -> None:
        """Posts Telegram would make to ``public_url`` go to ``local_url`` (the reverse proxy)."""
        self._routes[public_url] = local_url
        self.fake.wake()

    def _deliver_webhooks(self) -> None:
        while not self._stopping.is_set():
            pending = self.fake.next_webhook_update()
            local = self._routes.get(pending[0]) if pending is not None else None
            if pending is None or local is None:
                self.fake.wait_change(0.1)
                continue
            _, secret, update = pending
            status, body = post_update(local, update, secret)
            self.fake.webhook_answered(update["update_id"], status, body[:200] or None)
            if not 200 <= status < 300:
                self._stopping.wait(self.retry_delay)

    def stop(self) -> None:
        """Stop serving; pending long polls answer at once and stalls are cut off."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        self.fake.wake()
        httpd.shutdown()
        httpd.server_close()  # joins the handler threads
        if thread is not None:
            thread.join()
        if self._deliverer is not None:
            self._deliverer.join(15)
        self._httpd = self._thread = self._deliverer = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeBotApiServer is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ requests

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        try:
            if split.path.startswith("/file/bot"):
                self._serve_file(handler, split.path.removeprefix("/file/bot"))
            elif split.path.startswith("/bot"):
                self._serve_api(handler, split.path.removeprefix("/bot"), split.query)
            else:
                self._reply_json(handler, 404, _NOT_FOUND)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its read timeout fired)

    def _serve_api(self, handler: BaseHTTPRequestHandler, rest: str, query: str) -> None:
        token, _, method = unquote(rest).partition("/")
        body = self._read_body(handler)
        if token != self.token:
            self._reply_json(handler, 401, _UNAUTHORIZED)
            return
        if not method or "/" in method:
            self._reply_json(handler, 404, _NOT_FOUND)
            return
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        try:
            params.update(self._decode_body(handler, body))
        except _BodyError as error:
            bad = {"ok": False, "error_code": 400, "description": f"Bad Request: {error}"}
            self._reply_json(handler, 400, bad)
            return
        if method.lower() == "getupdates":
            self._long_poll(params)
        try:
            status, envelope = self.fake.handle(method, params)
        except InjectedTimeout:
            self._stall(handler)
            return
        self._reply_json(handler, status, envelope)

    def _serve_file(self, handler: BaseHTTPRequestHandler, rest: str) -> None:
        # PTB percent-quotes the whole download path, so the token's ':' arrives as %3A.
        token, _, file_path = unquote(rest).partition("/")
        if token != self.token:
            self._reply_json(handler, 401, _UNAUTHORIZED)
            return
        content = self.fake.file_content(file_path)
        if content is None:
            self._reply_json(handler, 404, _NOT_FOUND)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    @staticmethod
    def _decode_body(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        content_type = handler.headers.get_content_type()
        if content_type == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                raise _BodyError("can't parse JSON encoded request body") from None
            if not isinstance(decoded, dict):
                raise _BodyError("JSON request body must be an Object")
            return decoded
        if content_type == "multipart/form-data":
            boundary = handler.headers.get_param("boundary")
            if not isinstance(boundary, str):
                raise _BodyError("multipart boundary is missing")
            return parse_multipart(body, boundary)
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise _BodyError("request body is not UTF-8") from None

    def _long_poll(self, params: dict[str, Any]) -> None:
        try:
            timeout = float(params.get("timeout") or 0)
            offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
        except (TypeError, ValueError):
            return
        self.fake.confirm_updates(offset)
        if timeout > 0:
            self.fake.wait_for_updates(offset, timeout, self._stopping.is_set)

    def _stall(self, handler: BaseHTTPRequestHandler) -> None:
        """Hold the request open without answering until the client hangs up."""
        deadline = time.monotonic() + self.max_stall
        while not self._stopping.wait(0.05):
            if time.monotonic() > deadline or self._client_gone(handler.connection):
                break
        handler.close_connection = True

    @staticmethod
    def _client_gone(connection: socket.socket) -> bool:
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    @staticmethod
    def _reply_json(handler: BaseHTTPRequestHandler, status: int, envelope: dict[str, Any]) -> None:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
