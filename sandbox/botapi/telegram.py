"""An in-memory Telegram Bot API that answers like Telegram and lets tests (and the sandbox's web
chat) play users.

``FakeTelegram`` is pure Python with no I/O. Transports (``FakeRequest`` for in-process
tests, ``FakeBotApiServer`` for real HTTP) feed it ``(method, params)`` and ship back
the ``(status, envelope)`` it returns. Everything is guarded by one re-entrant lock
because the HTTP server calls in from its own threads.
"""

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sandbox.botapi._html import HtmlParseError, parse_html, trim_formatted, utf16_len

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "ApiCall",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "InjectedTimeout",
    "Sent",
    "UploadedFile",
]

JSON = dict[str, Any]

BOT_ID = 777000111
BOT_USERNAME = "fuyuan_test_bot"
BOT_FIRST_NAME = "府院通"

MAX_TEXT = 4096
# setWebhook: the ports Telegram posts to, and what a secret token may contain.
WEBHOOK_PORTS = (443, 80, 88, 8443)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current message content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
# Keys python-telegram-bot sends JSON-encoded (other transports may send them decoded).
_JSON_PARAMS = frozenset(
    {
        "reply_markup", "commands", "scope", "allowed_updates", "media", "entities",
        "caption_entities", "reply_parameters", "link_preview_options", "menu_button",
    }
)  # fmt: skip
_BUTTON_KINDS = (
    "callback_data", "url", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_SCOPE_TYPES = frozenset(
    {
        "default", "all_private_chats", "all_group_chats", "all_chat_administrators",
        "chat", "chat_administrators", "chat_member",
    }
)  # fmt: skip
# getUpdates' default when allowed_updates was never set (or set to []).
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_TOKEN = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


class _ApiError(Exception):
    """An error answer; raised inside method handlers and turned into an envelope."""

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def envelope(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


class InjectedTimeout(Exception):
    """Raised by ``FakeTelegram.handle`` for an injected timeout; transports stall on it.

    ``delivered`` tells whether the action happened before the stall ("after" timeout),
    and ``envelope`` is the answer the client never got.
    """

    def __init__(self, method: str, delivered: bool, envelope: JSON | None) -> None:
        super().__init__(f"injected timeout on {method} (delivered={delivered})")
        self.method = method
        self.delivered = delivered
        self.envelope = envelope


@dataclass
class ApiCall:
    """One Bot API call as the fake received and answered it."""

    method: str
    params: JSON
    response: JSON
    at: float
    status: int = 200
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (PTB InputFile), as transports hand it over."""

    file_name: str
    size: int
    mime_type: str | None = None
    content: bytes | None = field(default=None, repr=False)


@dataclass
class FakeUser:
    """A Telegram user the tests play; ``started``/``blocked`` decide if the bot may write."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "zh-hans"
    last_name: str | None = None
    started: bool = False
    blocked: bool = False
    seen: bool = False

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class FakeChat:
    """A chat; ``bot_status`` is the bot's membership: left, member, administrator, kicked."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    bot_status: str = "left"

    def to_api(self) -> JSON:
        data: JSON = {"id": self.id}
        if self.type == "private":
            data["first_name"] = self.first_name
            if self.last_name:
                data["last_name"] = self.last_name
        else:
            data["title"] = self.title
        if self.username:
            data["username"] = self.username
        data["type"] = self.type
        return data


@dataclass(frozen=True)
class Sent:
    """What a simulated user action produced; unpacks as ``update, message``.

    ``queued`` is False when Telegram would not deliver the update to the bot (privacy
    mode in groups, a group the bot is not in, or allowed_updates filtering).
    """

    update: JSON
    message: JSON | None
    queued: bool = True

    def __iter__(self) -> Iterator[Any]:
        return iter((self.update, self.message))


@dataclass
class _Injection:
    method: str | None
    times: int
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    timeout: bool = False
    deliver: bool = False


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "document" or "photo"
    file_size: int
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    content: bytes | None = None
    sizes: list[JSON] = field(default_factory=list)  # the photo set this size belongs to

    def document(self) -> JSON:
        data: JSON = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        data["file_size"] = self.file_size
        return data

    def photo_size(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "width": self.width,
            "height": self.height,
        }

    def path(self) -> str:
        return f"{'photos' if self.kind == 'photo' else 'documents'}/{self.file_id}"


def _utf8_len(text: str) -> int:
    return len(text.encode())


def _update_type(update: JSON) -> str:
    return next(key for key in update if key != "update_id")


class FakeTelegram:
    """The fake Bot API server state: bot identity, users, chats, messages, updates, calls."""

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        privacy_mode: bool = True,
        strict_html_entities: bool = True,
        first_update_id: int = 1,
    ) -> None:
        self._now = now
        self.privacy_mode = privacy_mode
        self.migrated: dict[int, int] = {}  # old group id -> its supergroup's id
        self.strict_html_entities = strict_html_entities
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._listeners: list[Callable[[], None]] = []
        self._waiting_polls = 0
        self.bot_user: JSON = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self._messages: dict[int, dict[int, JSON]] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[JSON] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] | None = None
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        # What Telegram last failed with posting to the webhook (getWebhookInfo shows it).
        self.webhook_last_error: str | None = None
        # Every post to the webhook: (update id, the HTTP status the bot answered).
        self.webhook_posts: list[tuple[int, int]] = []
        self.calls: list[ApiCall] = []
        self._queries: dict[str, JSON] = {}
        self._query_ids = itertools.count(4_200_000_000_000_000_001)
        self._answers: list[JSON] = []
        self.commands: dict[tuple[str, int | None, str], list[JSON]] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.reply_keyboards: dict[int, JSON] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_ids = itertools.count(1)
        self._media_groups = itertools.count(13_800_000_000_000_001)
        self._injections: list[_Injection] = []
        self._flood: JSON | None = None
        self._sends_overall: deque[float] = deque()
        self._sends_per_chat: dict[int, deque[float]] = {}
        self._default_actor: FakeUser | None = None
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "sendmediagroup": self._send_media_group,
            "sendchataction": self._send_chat_action,
            "getchat": self._get_chat,
            "leavechat": self._leave_chat,
            "getfile": self._get_file,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "close": lambda _params: True,
            "logout": lambda _params: True,
        }

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, params: Mapping[str, Any]) -> tuple[int, JSON]:
        """Answer one Bot API call: ``(http_status, envelope)``; may raise InjectedTimeout."""
        name = method.lower()
        with self.lock:
            decoded = self._decode_params(params)
            injection = self._take_injection(name)
            if injection is not None and injection.timeout and not injection.deliver:
                self._record(method, decoded, 0, {}, timed_out=True)
                raise InjectedTimeout(method, False, None)
            if injection is not None and not injection.timeout:
                error = _ApiError(injection.status, injection.description, injection.retry_after)
                return self._record(method, decoded, error.status, error.envelope())
            handler = self._methods.get(name)
            if handler is None:
                envelope: JSON = {"ok": False, "error_code": 404, "description": "Not Found"}
                return self._record(method, decoded, 404, envelope)
            try:
                result = handler(decoded)
            except _ApiError as error:
                status, envelope = error.status, error.envelope()
            else:
                status, envelope = 200, {"ok": True, "result": copy.deepcopy(result)}
            if injection is not None:  # a timeout injected "after" the action
                self._record(method, decoded, status, envelope, timed_out=True)
                raise InjectedTimeout(method, True, envelope)
            return self._record(method, decoded, status, envelope)

    def _record(
        self, method: str, params: JSON, status: int, envelope: JSON, *, timed_out: bool = False
    ) -> tuple[int, JSON]:
        self.calls.append(
            ApiCall(method, params, envelope, time.monotonic(), status, timed_out=timed_out)
        )
        self._notify()
        return status, envelope

    @staticmethod
    def _decode_params(params: Mapping[str, Any]) -> JSON:
        decoded = dict(params)
        for key in _JSON_PARAMS & decoded.keys():
            value = decoded[key]
            if isinstance(value, str):
                # Undecodable JSON stays a string; the handler reports it as Telegram would.
                with contextlib.suppress(ValueError):
                    decoded[key] = json.loads(value)
        return decoded

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        self._cond.notify_all()
        for listener in list(self._listeners):
            listener()

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (under the lock, from any thread) on every change; returns remover."""
        with self.lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self.lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    def wake(self) -> None:
        """Wake every waiter so it re-checks its condition (used on server shutdown)."""
        with self.lock:
            self._notify()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Block until ``predicate()`` holds (re-checked on every call/update) or fail.

        Do not call this on the event loop that runs an in-process bot: use ``until``.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"condition not met within {timeout}s; recent Bot API calls:\n"
                        + self.summary()
                    )
                self._cond.wait(remaining)

    async def until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
        """``wait_for`` for async tests: waits in a thread so the bot's loop keeps running.

        ``timeout`` is a parameter (not ``asyncio.timeout``) because the wait is in a thread.
        """
        await asyncio.to_thread(self.wait_for, predicate, timeout)

    def wait_for_updates(
        self, offset: int | None, timeout: float, cancelled: Callable[[], bool] = lambda: False
    ) -> None:
        """Long-poll helper: return once an update at or past ``offset`` exists, or on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond, self.long_poll_waiting():
            while not self.has_updates(offset) and not cancelled():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    @contextlib.contextmanager
    def long_poll_waiting(self) -> Iterator[None]:
        """Count a getUpdates that is parked waiting; see ``waiting_long_polls``."""
        with self.lock:
            self._waiting_polls += 1
            self._notify()
        try:
            yield
        finally:
            with self.lock:
                self._waiting_polls -= 1
                self._notify()

    @property
    def waiting_long_polls(self) -> int:
        """getUpdates calls parked with nothing to return: the bot has fetched everything."""
        with self.lock:
            return self._waiting_polls

    def summary(self, last: int = 15) -> str:
        """The last calls, one line each, for assertion messages."""
        with self.lock:
            lines = []
            for call in self.calls[-last:]:
                if call.timed_out:
                    outcome = "TIMED OUT"
                elif call.ok:
                    outcome = "ok"
                else:
                    outcome = f"{call.status} {call.response.get('description')}"
                params = json.dumps(call.params, default=str, ensure_ascii=False)[:160]
                lines.append(f"  {call.method} {params} -> {outcome}")
            return "\n".join(lines) or "  (no calls)"

    # ------------------------------------------------------------------ fault injection

    def inject(
        self,
        method: str | None,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Fail the next ``times`` calls of ``method`` (None: any method but getUpdates)."""
        with self.lock:
            self._injections.append(
                _Injection(
                    method.lower() if method else None,
                    times,
                    status=status,
                    description=description,
                    retry_after=retry_after,
                )
            )

    def inject_timeout(self, method: str | None, times: int = 1, *, deliver: bool = False) -> None:
        """Stall the next calls; with ``deliver`` the action happens first (message sent)."""
        with self.lock:
            self._injections.append(
                _Injection(method.lower() if method else None, times, timeout=True, deliver=deliver)
            )

    def _take_injection(self, name: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method == name or (injection.method is None and name != "getupdates"):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def flood_limits(
        self,
        per_second_overall: int | None = 30,
        per_minute_per_group: int | None = 20,
        per_second_per_chat: int | None = None,
    ) -> None:
        """Answer 429 like Telegram once message sends exceed these sliding windows."""
        with self.lock:
            self._flood = {
                "overall": per_second_overall,
                "group": per_minute_per_group,
                "chat": per_second_per_chat,
            }
            self._sends_overall.clear()
            self._sends_per_chat.clear()

    def disable_flood_limits(self) -> None:
        with self.lock:
            self._flood = None

    def _flood_check(self, chat: FakeChat, count: int = 1) -> None:
        if self._flood is None:
            return
        now = self._now()
        waits: list[float] = []
        overall = self._sends_overall
        while overall and overall[0] <= now - 1:
            overall.popleft()
        if self._flood["overall"] and len(overall) + count > self._flood["overall"]:
            waits.append(overall[0] + 1 - now)
        per_chat = self._sends_per_chat.setdefault(chat.id, deque())
        while per_chat and per_chat[0] <= now - 60:
            per_chat.popleft()
        group_limit = self._flood["group"] if chat.type != "private" else None
        if group_limit and len(per_chat) + count > group_limit:
            waits.append(per_chat[0] + 60 - now)
        if self._flood["chat"]:
            recent = [t for t in per_chat if t > now - 1]
            if len(recent) + count > self._flood["chat"]:
                waits.append(recent[0] + 1 - now)
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", retry)
        for _ in range(count):
            overall.append(now)
            per_chat.append(now)

    # ------------------------------------------------------------------ parameters

    @staticmethod
    def _int(params: JSON, key: str, missing: str | None = None) -> int | None:
        value = params.get(key)
        if value is None or value == "":
            if missing is not None:
                raise _bad(missing)
            return None
        if isinstance(value, bool):
            raise _bad(f"invalid {key} specified")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise _bad(f"invalid {key} specified") from None

    @staticmethod
    def _bool(params: JSON, key: str) -> bool:
        value = params.get(key)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    @staticmethod
    def _json(params: JSON, key: str, error: str) -> Any:
        value = params.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(error) from None
        return value

    def _chat(self, params: JSON, key: str = "chat_id") -> FakeChat:
        value = params.get(key)
        if value is None or value == "":
            raise _bad("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == value[1:].lower():
                    return chat
            raise _bad("chat not found")
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        found = self.chats.get(chat_id)
        if found is None:
            raise _bad("chat not found")
        return found

    def _reachable_chat(self, params: JSON) -> FakeChat:
        chat = self._chat(params)
        if chat.id in self.migrated:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat.id],
            )
        if chat.type == "private":
            user = self.users[chat.id]
            if user.blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        return chat

    def _formatted(
        self, params: JSON, key: str, entities_key: str, *, caption: bool = False
    ) -> tuple[str, list[JSON]]:
        raw = params.get(key)
        text = "" if raw is None else str(raw)
        parse_mode = str(params.get("parse_mode") or "").lower()
        explicit = self._json(params, entities_key, f"can't parse {entities_key} JSON object")
        if parse_mode == "html":
            try:
                text, entities = parse_html(text, strict_entities=self.strict_html_entities)
            except HtmlParseError as error:
                raise _bad(f"can't parse entities: {error}") from None
        elif parse_mode in ("markdown", "markdownv2"):
            raise _bad(
                f"can't parse entities: parse_mode {params['parse_mode']} is not emulated by "
                "the fake; the bot is expected to use HTML"
            )
        elif parse_mode:
            raise _bad("unsupported parse_mode")
        elif explicit:
            if not isinstance(explicit, list):
                raise _bad(f"can't parse {entities_key} JSON object")
            entities = [dict(e) for e in explicit]
            size = utf16_len(text)
            for entity in entities:
                offset, length = entity.get("offset"), entity.get("length")
                if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
                    raise _bad(f"can't parse {entities_key} JSON object")
                if offset < 0 or offset + length > size:
                    raise _bad("entity beginning out of bounds")
        else:
            entities = []
        text, entities = trim_formatted(text, entities)
        limit = MAX_CAPTION if caption else MAX_TEXT
        if caption:
            if utf16_len(text) > limit:
                raise _bad("message caption is too long")
        else:
            if not text:
                raise _bad("message text is empty")
            if utf16_len(text) > limit:
                raise _bad("message is too long")
        return text, entities

    def _markup(self, params: JSON, chat: FakeChat | None) -> JSON | None:
        """Validate reply_markup; return an inline keyboard to echo, or None."""
        markup = self._json(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if chat is not None and any(k in markup for k in ("keyboard", "remove_keyboard")):
                self.reply_keyboards[chat.id] = copy.deepcopy(markup)
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        if sum(len(row) for row in rows) > 100:
            raise _bad("reply markup is too long")
        for row in rows:
            for button in row:
                self._check_button(button, chat)
        return {"inline_keyboard": copy.deepcopy(rows)}

    @staticmethod
    def _check_button(button: Any, chat: FakeChat | None) -> None:
        prefix = "can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise _bad(prefix + "InlineKeyboardButton must be an Object")
        if "text" not in button:
            raise _bad(prefix + 'Can\'t find field "text"')
        if not isinstance(button["text"], str):
            raise _bad(prefix + 'Field "text" must be of type String')
        if not button["text"].strip():
            raise _bad("BUTTON_TEXT_INVALID")
        kinds = [kind for kind in _BUTTON_KINDS if button.get(kind) is not None]
        if not kinds:
            raise _bad(prefix + "Text buttons are unallowed in the inline keyboard")
        if len(kinds) > 1:
            raise _bad(prefix + f"exactly one optional field must be used, got {', '.join(kinds)}")
        if "callback_data" in kinds:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= _utf8_len(data) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
        if "url" in kinds:
            url = button["url"]
            if not isinstance(url, str):
                raise _bad(prefix + 'Field "url" must be of type String')
            match = re.match(r"(https?|tg)://(.*)", url, re.IGNORECASE)
            if match is None:
                raise _bad(
                    f"inline keyboard button URL '{url}' is invalid: Unsupported URL protocol"
                )
            if match.group(1).lower() != "tg" and not re.match(r"[^/\s?#]+\.[^/\s?#]", match[2]):
                raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
        if "web_app" in kinds:
            if chat is not None and chat.type != "private":
                raise _bad("BUTTON_TYPE_INVALID")
            web_app = button["web_app"]
            web_url = web_app.get("url", "") if isinstance(web_app, dict) else ""
            if not str(web_url).lower().startswith("https://"):
                raise _bad(
                    f"inline keyboard button Web App URL '{web_url}' is invalid: "
                    "Only HTTPS links are allowed"
                )

    def _reply_to(self, params: JSON, chat: FakeChat) -> JSON | None:
        reply = self._json(params, "reply_parameters", "can't parse reply parameters JSON object")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = self._int(params, "reply_to_message_id")
            allow = self._bool(params, "allow_sending_without_reply")
        if message_id is None:
            return None
        target = self._messages.get(chat.id, {}).get(int(message_id))
        if target is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        shown = copy.deepcopy(target)
        shown.pop("reply_to_message", None)
        return shown

    # ------------------------------------------------------------------ storage

    def _store(self, chat: FakeChat, sender: JSON, fields: JSON) -> JSON:
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        message: JSON = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": chat.to_api(),
            "date": int(self._now()),
        }
        message.update(fields)
        self._messages.setdefault(chat.id, {})[message_id] = message
        return message

    def _stored(self, chat_id: int, message_id: int) -> JSON | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def _queue(self, body: JSON) -> tuple[JSON, bool]:
        update = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        allowed = self._allowed_updates
        kind = _update_type(update)
        queued = kind in allowed if allowed else kind not in _DEFAULT_EXCLUDED_UPDATES
        if queued:
            self._updates.append(update)
        self._notify()
        return copy.deepcopy(update), queued

    def _new_file(self, kind: str, **fields: Any) -> _StoredFile:
        n = next(self._file_ids)
        prefix = "AgACAgUAAxkBAAI" if kind == "photo" else "BQACAgUAAxkBAAI"
        stored = _StoredFile(
            file_id=f"{prefix}{n:06d}FakeFileId{n * 7919 % 100000:05d}",
            file_unique_id=f"AQAD{n:06d}fk",
            kind=kind,
            **fields,
        )
        self._files[stored.file_id] = stored
        return stored

    def _new_photo_set(
        self, file_size: int, width: int, height: int, content: bytes | None = None
    ) -> list[JSON]:
        sizes: list[JSON] = []
        for side in (90, 320, 800, None):
            scale = 1.0 if side is None else min(1.0, side / max(width, height))
            if side is not None and scale >= 1.0:
                continue
            stored = self._new_file(
                "photo",
                file_size=max(1, int(file_size * scale * scale)) if side else file_size,
                width=max(1, round(width * scale)),
                height=max(1, round(height * scale)),
                content=content if side is None else None,
                sizes=sizes,
            )
            sizes.append(stored.photo_size())
        return sizes

    # ------------------------------------------------------------------ Bot API methods

    def _get_me(self, _params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        allowed = self._json(params, "allowed_updates", "can't parse allowed_updates JSON object")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) if allowed else None
        return self.take_updates(self._int(params, "offset"), self._int(params, "limit") or 100)

    def _set_webhook(self, params: JSON) -> bool:
        """As strict as Telegram: an https URL on a port it posts to, a secret token of the
        allowed characters, 1-100 connections; an empty URL removes the webhook."""
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if url:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in WEBHOOK_PORTS:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        if secret not in (None, "") and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise _bad("secret token contains unallowed characters")
        connections = self._int(params, "max_connections")
        if connections is not None and not 1 <= connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        allowed = self._json(params, "allowed_updates", "can't parse allowed_updates JSON object")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) if allowed else None
        self.webhook_url = url
        self.webhook_secret = str(secret) if url and secret not in (None, "") else None
        self.webhook_max_connections = connections or 40
        self.webhook_last_error = None
        if self._bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        self.webhook_last_error = None
        if self._bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, _params: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
        if self.webhook_last_error:
            info["last_error_message"] = self.webhook_last_error
        if self._allowed_updates:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _commands_key(self, params: JSON) -> tuple[str, int | None, str]:
        scope = self._json(params, "scope", "can't parse BotCommandScope JSON object")
        scope = scope or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise _bad("can't parse BotCommandScope JSON object")
        language = str(params.get("language_code") or "")
        if language and not _LANGUAGE_CODE.fullmatch(language):
            raise _bad("invalid language code specified")
        kind = scope["type"]
        chat_id = None
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat_id = self._chat(scope).id
        if kind == "chat_member":
            user_id = self._int(scope, "user_id", "user not found")
            kind = f"chat_member:{user_id}"
        return kind, chat_id, language

    def _set_my_commands(self, params: JSON) -> bool:
        commands = self._json(params, "commands", "can't parse commands JSON object")
        if commands is None:
            raise _bad('parameter "commands" is required')
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        key = self._commands_key(params)
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand: BotCommand must be an Object")
            for name in ("command", "description"):
                if name not in command:
                    raise _bad(f"can't parse BotCommand: Can't find field \"{name}\"")
            if not _BOT_COMMAND.fullmatch(str(command["command"])):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command["description"]).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: JSON) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _send_message(self, params: JSON) -> JSON:
        markup = self._markup(params, None)
        text, entities = self._formatted(params, "text", "entities")
        chat = self._reachable_chat(params)
        markup = self._markup(params, chat)
        reply_to = self._reply_to(params, chat)
        self._flood_check(chat)
        fields: JSON = {}
        if reply_to is not None:
            fields["reply_to_message"] = reply_to
        fields["text"] = text
        if entities:
            fields["entities"] = entities
        if markup is not None:
            fields["reply_markup"] = markup
        return self._store(chat, self.bot_user, fields)

    def _editable(self, params: JSON, missing_text_ok: bool) -> tuple[FakeChat, JSON]:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID (inline messages are not emulated by the fake)")
        chat = self._reachable_chat(params)
        message_id = self._int(params, "message_id", "message identifier is not specified")
        assert message_id is not None
        message = self._stored(chat.id, message_id)
        if message is None:
            raise _bad("message to edit not found")
        if message["from"]["id"] != BOT_ID:
            raise _bad("message can't be edited")
        if not missing_text_ok and "text" not in message:
            raise _bad("there is no text in the message to edit")
        return chat, message

    def _edit_message_text(self, params: JSON) -> JSON:
        self._markup(params, None)
        text, entities = self._formatted(params, "text", "entities")
        chat, message = self._editable(params, missing_text_ok=False)
        markup = self._markup(params, chat)
        if (
            message["text"] == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        # Like Telegram: an edit without reply_markup removes the inline keyboard.
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(self._now())
        return message

    def _edit_message_reply_markup(self, params: JSON) -> JSON:
        self._markup(params, None)
        chat, message = self._editable(params, missing_text_ok=True)
        markup = self._markup(params, chat)
        if message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(self._now())
        return message

    def _delete_message(self, params: JSON) -> bool:
        chat = self._reachable_chat(params)
        message_id = self._int(params, "message_id", "message identifier is not specified")
        assert message_id is not None
        message = self._stored(chat.id, message_id)
        if message is None:
            raise _bad("message to delete not found")
        if (
            message["from"]["id"] != BOT_ID
            and chat.type != "private"
            and chat.bot_status != "administrator"
        ):
            raise _bad("message can't be deleted")
        del self._messages[chat.id][message_id]
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        query = self._queries.get(query_id)
        if query is None or query["answered"]:
            raise _ApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and utf16_len(str(text)) > MAX_CALLBACK_ANSWER:
            raise _bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        self._answers.append(
            {
                "callback_query_id": query_id,
                "user_id": query["user_id"],
                "data": query["data"],
                "text": None if text is None else str(text),
                "show_alert": self._bool(params, "show_alert"),
                "url": params.get("url"),
                "cache_time": self._int(params, "cache_time"),
                "date": int(self._now()),
            }
        )
        return True

    def _resolve_file(self, params: JSON, value: Any, kind: str) -> _StoredFile:
        """Turn a document/photo parameter into a stored file (file_id, URL or upload)."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
            if value is None:
                raise _bad(f"{kind} not found in the multipart request")
        if isinstance(value, UploadedFile):
            if value.size == 0:
                raise _bad("file must be non-empty")
            if value.size > MAX_UPLOAD:
                raise _ApiError(413, "Request Entity Too Large")
            if kind == "photo":
                sizes = self._new_photo_set(value.size, 1280, 960, value.content)
                return self._files[sizes[-1]["file_id"]]
            return self._new_file(
                kind,
                file_size=value.size,
                file_name=value.file_name,
                mime_type=value.mime_type or "application/octet-stream",
                content=value.content,
            )
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {kind} in the request")
        if re.match(r"https?://", value, re.IGNORECASE):
            name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
            if kind == "photo":
                return self._files[self._new_photo_set(100_000, 1280, 960)[-1]["file_id"]]
            return self._new_file(kind, file_size=100_000, file_name=name, mime_type=None)
        stored = self._files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise _bad("type of file mismatch")
        return stored

    def _media_fields(self, stored: _StoredFile) -> JSON:
        if stored.kind == "photo":
            return {"photo": copy.deepcopy(stored.sizes)}
        return {"document": stored.document()}

    def _send_file(self, params: JSON, kind: str) -> JSON:
        self._markup(params, None)
        caption, entities = self._formatted(params, "caption", "caption_entities", caption=True)
        chat = self._reachable_chat(params)
        markup = self._markup(params, chat)
        reply_to = self._reply_to(params, chat)
        stored = self._resolve_file(params, params.get(kind), kind)
        self._flood_check(chat)
        fields: JSON = {}
        if reply_to is not None:
            fields["reply_to_message"] = reply_to
        fields.update(self._media_fields(stored))
        if caption:
            fields["caption"] = caption
            if entities:
                fields["caption_entities"] = entities
        if markup is not None:
            fields["reply_markup"] = markup
        return self._store(chat, self.bot_user, fields)

    def _send_document(self, params: JSON) -> JSON:
        return self._send_file(params, "document")

    def _send_photo(self, params: JSON) -> JSON:
        return self._send_file(params, "photo")

    def _send_media_group(self, params: JSON) -> list[JSON]:
        media = self._json(params, "media", "can't parse media JSON object")
        if media is None:
            raise _bad('parameter "media" is required')
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise _bad("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise _bad("wrong number of media specified: must include 2-10 items")
        kinds = {item.get("type") for item in media}
        if not kinds <= {"document", "photo"}:
            raise _bad(f"media types {sorted(map(str, kinds))} are not emulated by the fake")
        if len(kinds) > 1:
            raise _bad("document can't be mixed with other media types")
        captions = [
            self._formatted(
                {**item, "parse_mode": item.get("parse_mode", params.get("parse_mode"))},
                "caption",
                "caption_entities",
                caption=True,
            )
            for item in media
        ]
        chat = self._reachable_chat(params)
        reply_to = self._reply_to(params, chat)
        files = []
        for number, item in enumerate(media, start=1):
            try:
                files.append(self._resolve_file(params, item.get("media"), item["type"]))
            except _ApiError as error:
                reason = error.description.removeprefix("Bad Request: ")
                raise _bad(
                    f'failed to send message #{number} with the error message "{reason}"'
                ) from None
        self._flood_check(chat, len(files))
        group_id = str(next(self._media_groups))
        messages = []
        for stored, (caption, entities) in zip(files, captions, strict=True):
            fields: JSON = {"media_group_id": group_id}
            if reply_to is not None:
                fields["reply_to_message"] = reply_to
            fields.update(self._media_fields(stored))
            if caption:
                fields["caption"] = caption
                if entities:
                    fields["caption_entities"] = entities
            messages.append(self._store(chat, self.bot_user, fields))
        return messages

    def _send_chat_action(self, params: JSON) -> bool:
        chat = self._reachable_chat(params)
        action = str(params.get("action") or "")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True

    def _get_chat(self, params: JSON) -> JSON:
        chat = self._chat(params)
        if chat.type == "private" and not self.users[chat.id].seen:
            raise _bad("chat not found")
        if chat.type != "private" and chat.bot_status in ("left", "kicked"):
            raise _bad("chat not found")
        return {
            **chat.to_api(),
            "accent_color_id": chat.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _leave_chat(self, params: JSON) -> bool:
        """The bot leaves a group: a my_chat_member update follows, sends there then fail."""
        chat = self._chat(params)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        if chat.bot_status not in ("member", "administrator"):
            raise _ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        old, chat.bot_status = chat.bot_status, "left"
        self._member_change(chat, self._actor(None), old, "left")
        return True

    def _get_file(self, params: JSON) -> JSON:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _bad("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.path(),
        }

    def _set_chat_menu_button(self, params: JSON) -> bool:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        button = self._json(params, "menu_button", "can't parse menu button JSON object")
        button = button or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, params: JSON) -> JSON:
        chat_id = self._chat(params).id if params.get("chat_id") not in (None, "") else None
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}

    # ------------------------------------------------------------------ updates

    def has_updates(self, offset: int | None) -> bool:
        """Whether getUpdates with this offset would return something right now."""
        with self.lock:
            if offset is None or offset <= 0:
                return bool(self._updates)
            return any(update["update_id"] >= offset for update in self._updates)

    def confirm_updates(self, offset: int | None) -> None:
        """Drop updates below ``offset`` the moment a getUpdates carrying it arrives, as
        Telegram does: a bot killed during the following long poll does not get them again."""
        with self.lock:
            if offset is not None and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def take_updates(
        self, offset: int | None = None, limit: int = 100, allowed_updates: list[str] | None = None
    ) -> list[JSON]:
        """getUpdates semantics: ids below ``offset`` are confirmed and dropped for good."""
        with self.lock:
            if allowed_updates is not None:
                self._allowed_updates = frozenset(allowed_updates) or None
            if offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            limit = min(max(limit, 1), 100)
            return copy.deepcopy(self._updates[:limit])

    # ------------------------------------------------------------------ webhook delivery

    def next_webhook_update(self) -> tuple[str, str | None, JSON] | None:
        """What Telegram would post now: (webhook URL, secret token, the oldest pending
        update), or None (no webhook set, or nothing pending)."""
        with self.lock:
            if not self.webhook_url or not self._updates:
                return None
            return self.webhook_url, self.webhook_secret, copy.deepcopy(self._updates[0])

    def webhook_answered(self, update_id: int, status: int, error: str | None = None) -> None:
        """The bot answered the post of ``update_id``: a 2xx confirms it (gone for good), any
        other answer leaves it pending, to be posted again, as Telegram does."""
        with self.lock:
            self.webhook_posts.append((update_id, status))
            if 200 <= status < 300:
                self._updates = [u for u in self._updates if u["update_id"] != update_id]
            else:
                self.webhook_last_error = error or f"Wrong response from the webhook: {status}"
            self._notify()

    def deliver_again(self, update: JSON) -> None:
        """Queue an update already delivered once, with its update id: Telegram repeats an
        update whose delivery it could not see confirmed."""
        with self.lock:
            self._updates.append(copy.deepcopy(update))
            self._notify()

    def wait_change(self, timeout: float) -> None:
        """Block until anything changes (a call, an update) or ``timeout`` passes."""
        with self._cond:
            self._cond.wait(timeout)

    @property
    def pending_update_count(self) -> int:
        with self.lock:
            return len(self._updates)

    # ------------------------------------------------------------------ playing users

    def user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        last_name: str | None = None,
    ) -> FakeUser:
        """Register (or return) a user and their private chat with the bot."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        with self.lock:
            existing = self.users.get(user_id)
            if existing is not None:
                return existing
            user = FakeUser(user_id, first_name, username, language_code, last_name)
            self.users[user_id] = user
            self.chats[user_id] = FakeChat(
                user_id,
                "private",
                username=username,
                first_name=first_name,
                last_name=last_name,
            )
            return user

    def group(
        self, chat_id: int, title: str, *, username: str | None = None, add_bot: bool = False
    ) -> FakeChat:
        """Register a group (id <= -1e12 makes it a supergroup); the bot is not in it yet."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        with self.lock:
            chat = self.chats.get(chat_id)
            if chat is None:
                kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
                chat = FakeChat(chat_id, kind, title=title, username=username)
                self.chats[chat_id] = chat
        if add_bot:
            self.bot_added_to_group(chat)
        return chat

    def _actor(self, by: FakeUser | None) -> FakeUser:
        if by is not None:
            return by
        if self._default_actor is None:
            self._default_actor = self.user(100_000_001, "Group Admin", "group_admin")
        return self._default_actor

    def _member_change(
        self, chat: FakeChat, actor: FakeUser, old: str, new: str
    ) -> tuple[JSON, bool]:
        def member(status: str) -> JSON:
            data: JSON = {"user": copy.deepcopy(self.bot_user), "status": status}
            if status == "kicked":
                data["until_date"] = 0
            if status == "administrator":
                rights = (
                    "can_manage_chat can_delete_messages can_manage_video_chats "
                    "can_restrict_members can_change_info can_invite_users can_pin_messages "
                    "can_post_stories can_edit_stories can_delete_stories"
                )
                data.update(dict.fromkeys(rights.split(), True))
                data.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
            return data

        actor.seen = True
        return self._queue(
            {
                "my_chat_member": {
                    "chat": chat.to_api(),
                    "from": actor.to_api(),
                    "date": int(self._now()),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    def bot_added_to_group(
        self, group: FakeChat, by: FakeUser | None = None, *, admin: bool = False
    ) -> Sent:
        """Someone adds the bot: a my_chat_member update plus the new_chat_members message."""
        with self.lock:
            actor = self._actor(by)
            old = group.bot_status if group.bot_status != "kicked" else "left"
            group.bot_status = "administrator" if admin else "member"
            update, queued = self._member_change(group, actor, old, group.bot_status)
            message = self._store(
                group, actor.to_api(), {"new_chat_members": [copy.deepcopy(self.bot_user)]}
            )
            self._queue({"message": copy.deepcopy(message)})
            return Sent(update, copy.deepcopy(message), queued)

    def group_became_supergroup(self, group: FakeChat, new_id: int) -> FakeChat:
        """Telegram moves a group to a supergroup with a new id: a service message in each
        chat says so, and the old id then answers 400 with ``migrate_to_chat_id``."""
        with self.lock:
            new = FakeChat(new_id, "supergroup", title=group.title, bot_status=group.bot_status)
            self.chats[new_id] = new
            actor = self._actor(None)
            old_message = self._store(group, actor.to_api(), {"migrate_to_chat_id": new_id})
            self._queue({"message": copy.deepcopy(old_message)})
            new_message = self._store(new, actor.to_api(), {"migrate_from_chat_id": group.id})
            self._queue({"message": copy.deepcopy(new_message)})
            self.migrated[group.id] = new_id
            return new

    def bot_removed_from_group(self, group: FakeChat, by: FakeUser | None = None) -> Sent:
        """An admin removes the bot; later sends there answer 403 "bot was kicked"."""
        with self.lock:
            old = group.bot_status
            group.bot_status = "kicked"
            update, queued = self._member_change(group, self._actor(by), old, "kicked")
            return Sent(update, None, queued)

    def block_bot(self, user: FakeUser) -> Sent:
        """The user blocks the bot; later sends answer 403 "bot was blocked by the user"."""
        with self.lock:
            user.blocked = True
            update, queued = self._member_change(self.chats[user.id], user, "member", "kicked")
            return Sent(update, None, queued)

    def unblock_bot(self, user: FakeUser) -> Sent:
        with self.lock:
            user.blocked = False
            user.started = True
            update, queued = self._member_change(self.chats[user.id], user, "kicked", "member")
            return Sent(update, None, queued)

    def _chat_for(self, user: FakeUser, chat: FakeChat | int | None) -> FakeChat:
        if chat is None:
            return self.chats[user.id]
        chat_id = chat if isinstance(chat, int) else chat.id
        found = self.chats.get(chat_id)
        if found is None:
            raise AssertionError(f"unknown chat {chat_id}; register it with fake.group()")
        return found

    def _user_message(
        self,
        user: FakeUser,
        chat: FakeChat | int | None,
        fields: JSON,
        command_text: str | None,
        reply_to: JSON | int | None,
    ) -> Sent:
        with self.lock:
            if user.id not in self.users:
                raise AssertionError(f"user {user.id} is not registered; use fake.user()")
            target = self._chat_for(user, chat)
            if target.type == "private":
                if user.blocked:
                    self.unblock_bot(user)
                user.started = True
            user.seen = True
            replied: JSON | None = None
            if reply_to is not None:
                reply_id = reply_to if isinstance(reply_to, int) else reply_to["message_id"]
                replied = self._stored(target.id, reply_id)
                if replied is None:
                    raise AssertionError(f"no message {reply_id} in chat {target.id} to reply to")
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                fields = {"reply_to_message": replied, **fields}
            message = self._store(target, user.to_api(), fields)
            deliver = True
            if target.type != "private":
                deliver = target.bot_status in ("member", "administrator")
                if deliver and self.privacy_mode and target.bot_status != "administrator":
                    to_bot = replied is not None and replied["from"]["id"] == BOT_ID
                    deliver = to_bot or self._command_for_bot(command_text)
            if not deliver:
                update = {"update_id": 0, "message": copy.deepcopy(message)}
                return Sent(update, copy.deepcopy(message), False)
            update, queued = self._queue({"message": copy.deepcopy(message)})
            return Sent(update, copy.deepcopy(message), queued)

    @staticmethod
    def _command_for_bot(text: str | None) -> bool:
        match = _COMMAND_TOKEN.match(text or "")
        if match is None:
            return False
        _, _, addressee = match.group(0).partition("@")
        return not addressee or addressee.lower() == BOT_USERNAME.lower()

    @staticmethod
    def _command_entities(text: str) -> list[JSON]:
        match = _COMMAND_TOKEN.match(text)
        if match is None:
            return []
        return [{"offset": 0, "length": utf16_len(match.group(0)), "type": "bot_command"}]

    def send_text(
        self,
        user: FakeUser,
        text: str,
        chat: FakeChat | int | None = None,
        *,
        reply_to: JSON | int | None = None,
    ) -> Sent:
        """The user writes ``text`` in their private chat (or ``chat``); "/cmd" gets an entity."""
        fields: JSON = {"text": text}
        entities = self._command_entities(text)
        if entities:
            fields["entities"] = entities
        return self._user_message(user, chat, fields, text, reply_to)

    def send_document(
        self,
        user: FakeUser,
        file_name: str,
        file_size: int | None = None,
        mime_type: str = "application/pdf",
        chat: FakeChat | int | None = None,
        caption: str | None = None,
        *,
        content: bytes | None = None,
        reply_to: JSON | int | None = None,
    ) -> Sent:
        """The user sends a file; its file_id can be fetched with getFile and re-sent."""
        if file_size is None:
            if content is None:
                raise ValueError("give file_size or content")
            file_size = len(content)
        with self.lock:
            stored = self._new_file(
                "document",
                file_size=file_size,
                file_name=file_name,
                mime_type=mime_type,
                content=content,
            )
            fields: JSON = {"document": stored.document()}
            fields.update(self._caption_fields(caption))
            return self._user_message(user, chat, fields, caption, reply_to)

    def send_photo(
        self,
        user: FakeUser,
        file_size: int = 180_000,
        chat: FakeChat | int | None = None,
        caption: str | None = None,
        *,
        width: int = 1280,
        height: int = 960,
        content: bytes | None = None,
        reply_to: JSON | int | None = None,
    ) -> Sent:
        """The user sends a photo; the message carries the usual list of PhotoSizes (the
        largest holds ``content``, when given)."""
        with self.lock:
            fields: JSON = {"photo": self._new_photo_set(file_size, width, height, content)}
            fields.update(self._caption_fields(caption))
            return self._user_message(user, chat, fields, caption, reply_to)

    def _caption_fields(self, caption: str | None) -> JSON:
        if not caption:
            return {}
        fields: JSON = {"caption": caption}
        entities = self._command_entities(caption)
        if entities:
            fields["caption_entities"] = entities
        return fields

    def press(
        self,
        user: FakeUser,
        message: JSON | int,
        button_text: str | None = None,
        *,
        callback_data: str | None = None,
        chat_id: int | None = None,
    ) -> Sent:
        """The user taps an inline button of a bot message (``callback_data=`` forges data)."""
        with self.lock:
            if isinstance(message, dict):
                message_id = int(message["message_id"])
                chat_id = chat_id if chat_id is not None else int(message["chat"]["id"])
            else:
                message_id = int(message)
                chat_id = chat_id if chat_id is not None else user.id
            stored = self._stored(chat_id, message_id)
            if stored is None:
                raise AssertionError(
                    f"no message {message_id} in chat {chat_id} (never sent, or deleted)"
                )
            if stored["from"]["id"] != BOT_ID:
                raise AssertionError(f"message {message_id} was not sent by the bot")
            chat = self.chats[chat_id]
            if chat.type == "private" and user.blocked:
                raise AssertionError(f"user {user.id} blocked the bot; unblock_bot() first")
            if chat.type != "private" and chat.bot_status not in ("member", "administrator"):
                raise AssertionError(f"the bot is not in chat {chat_id}")
            data = callback_data
            if button_text is not None:
                button = self._find_button(stored, button_text)
                if data is None:
                    if button.get("callback_data") is None:
                        raise AssertionError(
                            f"button {button['text']!r} is not a callback button ({button}); "
                            "tapping it sends the bot no update"
                        )
                    data = button["callback_data"]
            if data is None:
                raise AssertionError("press() needs button_text or callback_data")
            query_id = str(next(self._query_ids))
            chat_instance = str((chat_id * 2_654_435_761) & 0x7FFF_FFFF_FFFF_FFFF)
            self._queries[query_id] = {"user_id": user.id, "data": data, "answered": False}
            user.seen = True
            update, queued = self._queue(
                {
                    "callback_query": {
                        "id": query_id,
                        "from": user.to_api(),
                        "message": copy.deepcopy(stored),
                        "chat_instance": chat_instance,
                        "data": data,
                    }
                }
            )
            return Sent(update, copy.deepcopy(stored), queued)

    def _find_button(self, message: JSON, text: str) -> JSON:
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        flat = [button for row in rows for button in row]
        exact = [b for b in flat if b["text"] == text]
        matches = exact or [b for b in flat if text in b["text"]]
        if len(matches) == 1:
            found: JSON = matches[0]
            return found
        listing = "\n".join(
            f"  row {n}: " + " | ".join(f"{b['text']!r} -> {self._button_value(b)}" for b in row)
            for n, row in enumerate(rows, start=1)
        )
        problem = "no button matches" if not matches else "several buttons match"
        raise AssertionError(
            f"{problem} {text!r} on message {message['message_id']} in chat "
            f"{message['chat']['id']}; available buttons:\n{listing or '  (no inline keyboard)'}"
        )

    @staticmethod
    def _button_value(button: JSON) -> str:
        for kind in _BUTTON_KINDS:
            value = button.get(kind)
            if value is None:
                continue
            if kind == "web_app" and isinstance(value, dict):
                return str(value.get("url"))
            if kind == "copy_text" and isinstance(value, dict):
                return str(value.get("text"))
            return value if isinstance(value, str) else json.dumps(value)
        return ""

    def user_deletes(self, chat: FakeUser | FakeChat | int, message_id: int) -> None:
        """The user deletes a message from their private chat: the bot can no longer edit it."""
        with self.lock:
            del self._messages[self._id_of(chat)][message_id]

    # ------------------------------------------------------------------ what users see

    @staticmethod
    def _id_of(target: FakeUser | FakeChat | int) -> int:
        return target if isinstance(target, int) else target.id

    def messages_to(self, chat: FakeUser | FakeChat | int) -> list[JSON]:
        """The bot's messages in a chat as they look now (edits applied, deletions gone)."""
        with self.lock:
            stored = self._messages.get(self._id_of(chat), {})
            return [copy.deepcopy(m) for m in stored.values() if m["from"]["id"] == BOT_ID]

    def last_message_to(self, chat: FakeUser | FakeChat | int) -> JSON:
        messages = self.messages_to(chat)
        if not messages:
            raise AssertionError(
                f"the bot sent nothing to chat {self._id_of(chat)}; recent calls:\n"
                + self.summary()
            )
        return messages[-1]

    def texts_to(self, chat: FakeUser | FakeChat | int) -> list[str]:
        """Plain texts (captions for media) the user sees, oldest first."""
        return [str(m.get("text", m.get("caption", ""))) for m in self.messages_to(chat)]

    def message(self, chat: FakeUser | FakeChat | int, message_id: int) -> JSON:
        """The current state of any stored message (bot's or user's)."""
        with self.lock:
            stored = self._stored(self._id_of(chat), message_id)
            if stored is None:
                raise AssertionError(f"no message {message_id} in chat {self._id_of(chat)}")
            return copy.deepcopy(stored)

    def buttons(
        self, message: JSON | int, chat: FakeUser | FakeChat | int | None = None
    ) -> list[list[tuple[str, str]]]:
        """Inline keyboard rows as ``(text, callback_data or url)``; int ids need ``chat``."""
        if isinstance(message, int):
            if chat is None:
                raise ValueError("buttons(message_id) needs chat=")
            message = self.message(chat, message)
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        return [[(b["text"], self._button_value(b)) for b in row] for row in rows]

    def callback_answers(self, user: FakeUser | int | None = None) -> list[JSON]:
        """answerCallbackQuery results (text, show_alert, ...) a user saw, oldest first."""
        with self.lock:
            user_id = None if user is None else self._id_of(user)
            return [dict(a) for a in self._answers if user_id is None or a["user_id"] == user_id]

    def unanswered_callback_queries(self) -> list[str]:
        """Query ids the bot never answered (the user's button keeps spinning)."""
        with self.lock:
            return [qid for qid, q in self._queries.items() if not q["answered"]]

    def calls_of(self, method: str) -> list[ApiCall]:
        with self.lock:
            name = method.lower()
            return [call for call in self.calls if call.method.lower() == name]

    def clear_log(self) -> None:
        with self.lock:
            self.calls.clear()

    def my_commands(
        self, scope_type: str = "default", chat_id: int | None = None, language_code: str = ""
    ) -> list[JSON]:
        with self.lock:
            return copy.deepcopy(self.commands.get((scope_type, chat_id, language_code), []))

    def history(self, chat: FakeUser | FakeChat | int) -> list[JSON]:
        """Every message in a chat as it looks now, the users' and the bot's, oldest first."""
        with self.lock:
            return [copy.deepcopy(m) for m in self._messages.get(self._id_of(chat), {}).values()]

    def stored_file(self, file_id: str) -> tuple[bytes, str | None, str | None] | None:
        """A file's bytes, name and MIME type, as a client would download it; None if unknown."""
        with self.lock:
            stored = self._files.get(file_id)
            if stored is None:
                return None
            content = self.file_content(stored.path())
            if content is None:
                return None
            return content, stored.file_name, stored.mime_type

    def file_content(self, file_path: str) -> bytes | None:
        """Bytes served for ``<base_file_url>/<file_path>``: uploaded content or filler."""
        with self.lock:
            file_id = file_path.rsplit("/", 1)[-1]
            stored = self._files.get(file_id)
            if stored is None or stored.path() != file_path.lstrip("/"):
                return None
            if stored.content is not None:
                return stored.content
            if stored.kind == "photo":
                head = b"\xff\xd8\xff\xe0fake-jpeg"
            elif stored.mime_type == "application/pdf":
                head = b"%PDF-1.4\n% fake\n"
            else:
                head = b"fake file\n"
            return (head + b"0" * stored.file_size)[: stored.file_size]
