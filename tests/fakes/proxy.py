"""``RelayProxy``: a SOCKS5 or HTTP proxy on 127.0.0.1 for the bot to reach the fake Bot API
through, recording where each connection went. Nothing here reaches beyond 127.0.0.1."""

import selectors
import socket
import struct
import threading
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

__all__ = ["RelayProxy"]


class RelayProxy:
    """``mode="socks5"`` answers the SOCKS5 handshake (no authentication, CONNECT only);
    ``mode="http"`` takes forward-proxy requests (``POST http://host:port/path``), which the
    fake Bot API parses as it does plain ones. Either way the bytes are then relayed as they
    are. ``targets`` lists each connection's (host, port); ``request_lines`` the HTTP mode's
    first request line of each."""

    def __init__(self, mode: Literal["socks5", "http"]) -> None:
        self.mode = mode
        self.targets: list[tuple[str, int]] = []
        self.request_lines: list[str] = []
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"{self.mode}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for sock in self._sockets:
                sock.close()
        for thread in list(self._threads):
            thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.mode == "socks5":
                host, port, first = self._socks5(client)
            else:
                host, port, first = self._http(client)
            upstream = socket.create_connection((host, port), timeout=5)
            self._track(upstream)
            if self.mode == "socks5":
                client.sendall(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
            upstream.sendall(first)
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            client.close()

    def _socks5(self, client: socket.socket) -> tuple[str, int, bytes]:
        version, count = _read(client, 2)
        if version != 5:
            raise OSError("not SOCKS5")
        _read(client, count)
        client.sendall(b"\x05\x00")  # no authentication
        _, command, _, kind = _read(client, 4)
        if command != 1:
            raise OSError("only CONNECT")
        if kind == 1:
            host = socket.inet_ntoa(_read(client, 4))
        elif kind == 3:
            host = _read(client, _read(client, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, _read(client, 16))
        (port,) = struct.unpack("!H", _read(client, 2))
        self.targets.append((host, port))
        return host, port, b""

    def _http(self, client: socket.socket) -> tuple[str, int, bytes]:
        head = b""
        while b"\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                raise OSError("closed")
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.request_lines.append(line)
        url = urlsplit(line.split(" ")[1])
        host, port = url.hostname or "", url.port or 80
        self.targets.append((host, port))
        return host, port, head

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stopping.is_set():
                for key, _ in selector.select(0.1):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        finally:
            selector.close()
            upstream.close()


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data
