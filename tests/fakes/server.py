"""Re-exported from the sandbox's local Bot API, where it lives (``sandbox.botapi``)."""

from sandbox.botapi.server import TEST_TOKEN, FakeBotApiServer, parse_multipart, post_update

__all__ = ["TEST_TOKEN", "FakeBotApiServer", "parse_multipart", "post_update"]
