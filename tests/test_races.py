"""Updates dispatched as the running bot dispatches them (each through the update processor,
different senders side by side): races between members, and between a member and the office."""

from __future__ import annotations

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Role
from tests.flows import LI, admin, member
from tests.scenario import running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


async def test_a_members_message_right_after_the_upgrade_makes_the_bot_leave_the_committee(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        group = bot.fake.group(-4001234567, "长白山府院联动群", add_bot=True)
        await bot.say(admin(bot), "/bindgroup", chat=group)
        supergroup = bot.fake.group_became_supergroup(group, -1004001234567)
        # A committee member writes a command in the (new) supergroup right after.
        bot.fake.send_text(li, "/help", supergroup)
        await bot.deliver_as_polling()
        assert await bot.svc.group_chat_id() == supergroup.id
        left = [int(c.params["chat_id"]) for c in bot.fake.calls_of("leaveChat")]
        assert left == [], f"the bot left {left} (the committee's supergroup is {supergroup.id})"


async def test_two_presses_of_read_on_the_group_post_strip_its_buttons(
    committee: Committee, db_url: str
) -> None:
    from tests.flows import bind_group
    from tests.test_mech_bulletin import cast, publish, read_label

    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li = people["li"]
        # A second head of the same bureau.
        li2 = await member(bot, 2011, "李二", "CBS-NR", Role.DEPARTMENT_HEAD)
        group = await bind_group(bot)
        await publish(bot, people["zhao"], None)
        post = bot.last_with_buttons(group)
        assert read_label(bot) in bot.labels(post)
        # Both press 已阅 for their bureau at the same moment.
        bot.fake.press(li, post, read_label(bot))
        bot.fake.press(li2, post, read_label(bot))
        await bot.deliver_as_polling()
        bot.check()
        now = bot.fake.message(group.id, post["message_id"])
        assert now.get("reply_markup"), "the group's post lost its buttons for everybody"


async def test_an_admin_revoked_a_moment_ago_still_revokes_someone(
    committee: Committee, db_url: str
) -> None:
    from sqlalchemy import select

    from bot.storage import schema as t
    from tests.flows import rows

    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        han = await member(bot, 1010, "韩主任", "CBS-OFFICE", Role.OFFICE)
        office = admin(bot)
        (li_row,) = await rows(bot, t.members, t.members.c.user_id == LI)
        (han_row,) = await rows(bot, t.members, t.members.c.user_id == han.id)
        # Each has the confirmation of a revocation open.
        await bot.say(office, "/members")
        bot.fake.press(office, bot.last_with_buttons(office), callback_data=f"m:rv:{han_row.id}")
        await bot.deliver()
        await bot.say(han, "/members")
        bot.fake.press(han, bot.last_with_buttons(han), callback_data=f"m:rv:{li_row.id}")
        await bot.deliver()
        # The office revokes HAN; HAN confirms revoking LI a moment later.
        bot.fake.press(office, bot.last_with_buttons(office), "确认撤销")
        bot.fake.press(han, bot.last_with_buttons(han), "确认撤销")
        await bot.deliver_as_polling()
        async with bot.svc.db.read() as conn:
            revoked = (
                await conn.execute(
                    select(t.members.c.user_id, t.members.c.revoked_by, t.members.c.revoked_at)
                    .where(t.members.c.revoked_at.is_not(None))
                    .order_by(t.members.c.id)
                )
            ).all()
            events = (
                await conn.execute(
                    select(t.events.c.id, t.events.c.actor_user_id, t.events.c.detail)
                    .where(t.events.c.action == "member_revoked")
                    .order_by(t.events.c.id)
                )
            ).all()
        # HAN's revocation was committed first; afterwards HAN still revoked LI.
        assert not any(r.revoked_by == han.id for r in revoked), events


async def test_moving_the_committee_a_members_word_first_makes_the_bot_leave_the_new_group(
    committee: Committee, db_url: str
) -> None:
    from tests.flows import bind_group

    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bind_group(bot)
        new = bot.fake.group(-1009876543210, "新工作群")
        bot.fake.bot_added_to_group(new, by=admin(bot))  # the office brings the bot along
        await bot.deliver()
        await bot.say(li, "/help", chat=new)  # a member speaks before the office binds it
        await bot.say(admin(bot), "/bindgroup", chat=new)
        assert new.bot_status != "left", "the bot left the group the office brought it to"
