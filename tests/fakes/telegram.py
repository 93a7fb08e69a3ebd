"""Re-exported from the sandbox's local Bot API, where it lives (``sandbox.botapi``)."""

from sandbox.botapi._html import utf16_len
from sandbox.botapi.telegram import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    ApiCall,
    FakeChat,
    FakeTelegram,
    FakeUser,
    InjectedTimeout,
    Sent,
    UploadedFile,
)

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "ApiCall",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "InjectedTimeout",
    "Sent",
    "UploadedFile",
    "utf16_len",
]
