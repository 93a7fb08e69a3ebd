"""Every text from outside passes the same cleaning rule before it is kept or shown: Telegram
display names, file names and the names in the committee file (typed answers have their own
corpus in test_bad_input_corpus.py)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_committee
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.domain.text import clean_name
from bot.storage import schema as t
from tests.flows import LI, ZHAO, admin, member, rows
from tests.scenario import running_bot
from tests.test_config import example

# A right-to-left override, a zero-width space and a line break: a name that reads as
# something else, or spills onto a line of its own in the bot's messages.
FORGED_NAME = "赵\u202e法官\u200b\n伪造通知"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("赵法官", "赵法官"),
        (FORGED_NAME, "赵法官 伪造通知"),
        ("  李\t明  ", "李 明"),
        ("\u200b\u200e\u2066", ""),
        ("\x00\x07报告", "报告"),
        ("家庭 👨\u200d👩\u200d👧", "家庭 👨\u200d👩\u200d👧"),  # an emoji's joiner stays
        ("长" * 300, "长" * 128),
    ],
)
def test_a_name_keeps_what_is_visible_on_one_line(raw: str, kept: str) -> None:
    assert clean_name(raw, limit=128) == kept


async def test_display_names_are_cleaned_before_they_are_stored_or_shown(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        zhao = bot.user(ZHAO, FORGED_NAME)
        await bot.join(zhao, "YB-IPC", Role.COURT_STAFF)
        (joined,) = await rows(bot, t.members, t.members.c.user_id == ZHAO)
        assert joined.display_name == "赵法官 伪造通知"
        (user,) = await rows(bot, t.users, t.users.c.user_id == ZHAO)
        assert user.first_name == "赵法官 伪造通知"
        await bot.say(admin(bot), "/members")
        listing = bot.last_text(admin(bot))
        assert "赵法官 伪造通知" in listing
        assert "\u202e" not in listing and "\u200b" not in listing
        # A name of nothing visible falls back to the user id.
        ghost = bot.user(LI, "\u200b\u2066")
        await bot.join(ghost, "CBS-NR", Role.DEPARTMENT_HEAD)
        (li,) = await rows(bot, t.members, t.members.c.user_id == LI)
        assert li.display_name == str(LI)


async def test_file_names_are_cleaned_before_they_are_stored(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目")
        await bot.say(li, "请研判。")
        await bot.press(li, "延边中院")
        await bot.press(li, "一般")
        await bot.press(li, "不指定日期")
        await bot.send_document(li, "报告\u202eFDP.exe\n.pdf", 1000)
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None
        (entry,) = draft.data["values"]["documents"]
        assert entry["file_name"] == "报告FDP.exe .pdf"


def test_names_in_the_committee_file_are_cleaned() -> None:
    data = example()
    data["organisations"][0]["name_zh"] = "长白山\u200b管委会\u202e"
    committee = parse_committee(data)
    code = data["organisations"][0]["code"]
    assert committee.organisations[code].name_zh == "长白山管委会"
    data["organisations"][0]["name_zh"] = "\u200b\u200e"
    with pytest.raises(ConfigError, match="name_zh must be a non-empty string"):
        parse_committee(data)
