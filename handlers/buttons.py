"""The one codec for the data every inline button carries.

Button data is a namespace and parts joined by ``:`` (Telegram allows 64 bytes): ``f:<token>:
<op>[:<arg>]`` for a step of a form conversation (the token names the conversation the button
belongs to, so a button of an earlier conversation never acts on a newer one), ``v:<action>:
<matter>[:<addressee>]`` for an action on a matter, ``mt:<op>[:<meeting>[:<answer>]]`` for a
joint meeting's buttons, ``c:``, ``my:``, ``fd:`` (a page of /find), ``i:``, ``iv:``, ``m:``,
``lang:`` for the rest. Every handler reads its buttons through ``unpack`` and ids through
``number``, so malformed or forged data is refused in one way everywhere.
"""

from __future__ import annotations

import re

MAX_BYTES = 64
FORM = "f"
ACTION = "v"
MEETING = "mt"

_ID_RE = re.compile(r"[0-9]{1,12}")


def pack(*parts: str | int) -> str:
    """Button data from its parts; refuses data Telegram would reject."""
    data = ":".join(str(p) for p in parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"button data over {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None, namespace: str, *, parts: tuple[int, ...]) -> list[str] | None:
    """The parts after ``namespace`` when their count is one of ``parts``; else None."""
    if not data:
        return None
    head, _, rest = data.partition(":")
    if head != namespace:
        return None
    found = rest.split(":") if rest else []
    return found if len(found) in parts else None


def number(text: str) -> int | None:
    """A row id as buttons carry it: ASCII digits of a sane length, or None (no sign, no
    superscript or full-width digits, nothing too large for the database)."""
    return int(text) if _ID_RE.fullmatch(text) else None


def documents(case_id: int) -> str:
    """A matter's documents, sent to the presser (under a notice, /case or /my)."""
    return pack("c", "files", case_id)


def form(token: str, op: str, arg: str | int | None = None) -> str:
    """A form step's button: its conversation's token, the operation, an argument."""
    return pack(FORM, token, op) if arg is None else pack(FORM, token, op, arg)


def parse_form(data: str | None) -> tuple[str, str, str] | None:
    """(token, op, arg) of a form button; arg is "" when the button has none."""
    found = unpack(data, FORM, parts=(2, 3))
    if found is None or not found[0] or not found[1]:
        return None
    return found[0], found[1], found[2] if len(found) == 3 else ""


def action(code: str, case_id: int, assignment_id: int | None = None) -> str:
    """An action on a matter (on one of its addressees, when it has several)."""
    if assignment_id is None:
        return pack(ACTION, code, case_id)
    return pack(ACTION, code, case_id, assignment_id)


# The action codes of release 0.1's buttons, still on notices sent before the upgrade.
LEGACY_ACTIONS = {"ack": "acknowledge", "ret": "return", "res": "resolve"}


def parse_action(data: str | None) -> tuple[str, int, int | None] | None:
    found = unpack(data, ACTION, parts=(2, 3))
    if found is None:
        return None
    if len(found) == 2:
        found[0] = LEGACY_ACTIONS.get(found[0], found[0])
    case_id = number(found[1])
    assignment_id = number(found[2]) if len(found) == 3 else None
    if case_id is None or (len(found) == 3 and assignment_id is None):
        return None
    return found[0], case_id, assignment_id


# A meeting button's operation → whether it names a meeting, and the answers it may carry
# (the answer buttons only). The data of posts sent long ago has the same shape.
MEETING_OPS: dict[str, tuple[bool, frozenset[str]]] = {
    "rsvp": (True, frozenset({"a", "d", "x"})),  # attend / send a deputy / cannot attend
    "rs": (True, frozenset()),  # reschedule (from /meetings)
    "cx": (True, frozenset()),  # cancel: asks to confirm
    "cxok": (True, frozenset()),  # cancel confirmed
    "cxno": (False, frozenset()),  # keep the meeting
    "noop": (False, frozenset()),  # a calendar's inert cell (conversations of release 0.1)
}


def meeting(op: str, meeting_id: int | None = None, answer: str | None = None) -> str:
    """A joint meeting's button: the operation, the meeting, and (answer buttons) the answer."""
    names, answers = MEETING_OPS[op]
    if names != (meeting_id is not None) or (answer or "") not in (answers or {""}):
        raise ValueError(f"malformed meeting button: {op} {meeting_id} {answer}")
    parts: list[str | int] = [MEETING, op]
    if meeting_id is not None:
        parts.append(meeting_id)
    if answer:
        parts.append(answer)
    return pack(*parts)


def parse_meeting(data: str | None) -> tuple[str, int | None, str] | None:
    """(op, meeting id, answer) of a meeting button — id None and answer "" where the button
    has none — or None for data that is malformed, forged or not a meeting button."""
    found = unpack(data, MEETING, parts=(1, 2, 3))
    if found is None or found[0] not in MEETING_OPS:
        return None
    names, answers = MEETING_OPS[found[0]]
    expected = 1 + int(names) + int(bool(answers))
    if len(found) != expected:
        return None
    meeting_id = number(found[1]) if names else None
    if names and meeting_id is None:
        return None
    answer = found[2] if answers else ""
    if answers and answer not in answers:
        return None
    return found[0], meeting_id, answer
