"""Who plays in the sandbox: the people of the example committee and its group."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Role

# The committee group's chat id: a supergroup, as Telegram's groups are once they grow.
GROUP_ID = -1_001_234_567_890
GROUP_KEY = "group"


@dataclass(frozen=True, slots=True)
class Person:
    """One of the cast: ``key`` names their chat column in the web chat."""

    key: str
    user_id: int
    name: str
    org_code: str
    role: Role


# The office admin bootstraps the committee (the committee file's ``admins``) and invites the
# others, who join through their one-time links as everybody does.
OFFICE = Person("office", 1001, "王主任", "CBS-OFFICE", Role.OFFICE)
CAST: tuple[Person, ...] = (
    OFFICE,
    Person("dept", 2001, "李局长", "CBS-HOUSING", Role.DEPARTMENT_HEAD),
    Person("clerk", 3001, "赵书记员", "YB-IPC", Role.COURT_STAFF),
    Person("observer", 4001, "陈观察员", "CBS-ADMIN", Role.OBSERVER),
    Person("agency", 5001, "孙局长", "CBS-NR", Role.DEPARTMENT_HEAD),
)
