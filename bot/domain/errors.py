"""Refusals the user should see: each carries a code that selects the message and the
parameters that fill it."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the user should see; ``code`` selects the message, ``params`` fill it."""

    code = "error"

    def __init__(self, code: str | None = None, **params: Any) -> None:
        super().__init__(code or self.code)
        if code:
            self.code = code
        self.params = params


class NotAllowed(DomainError):
    code = "not_allowed"


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid"
