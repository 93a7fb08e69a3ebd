"""破产府院联动 — bankruptcy coordination, as its users meet it.

A clerk of the Yanbian court raises the issues of a bankruptcy case to three agencies; each
agency's head replies on their own; the one late is chased on its own; the court and the office
see where each agency stands; the office puts the open matter on a joint meeting's agenda; the
court closes it before the last agency replied (that agency is told, and its button no longer
acts) — or the last reply closes it. Nobody else may act on it, and the administrator's contact
never reaches the committee group.

Labels are looked up through the bot's own catalog (``shown``), so the assertions hold before
and after the Chinese translation of the new message ids.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

import pytest

from bot.domain.committee import Committee, GroupDetail
from bot.domain.errors import NotAllowed
from bot.domain.mechanisms import bankruptcy
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeChat, FakeUser
from tests.flows import (
    GROUP,
    LI,
    STRANGER,
    WANG,
    ZHAO,
    admin,
    alert_entries,
    all_seen,
    bind_group,
    deadline_keys,
    member,
    not_member_text,
    on_button,
    rows,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


ZHOU, LIU = 2003, 2004
NR, ENV, HOUSING = (
    "长白山管委会自然资源局",
    "长白山管委会生态环境局",
    "长白山管委会住房和城乡建设局",
)
COURT = "延边州中级人民法院"
NUMBER = "破产〔2026〕1号"
DOCKET = "（2026）吉24破1号"
DEBTOR = "长白山某旅游开发有限公司"
ISSUES = "职工工资拖欠约120万元；名下土地使用权抵押待解除；企业注销登记需协调。"
ADMINISTRATOR = "吉林某律师事务所 王律师 13800000000"
CANNOT_VIEW = "⚠ 您无权查看该事项。"
# Raised on Wednesday 25 November 2026: fifteen working days run to Wednesday 16 December.
DUE = date(2026, 12, 16)


def reply_label(bot: Harness, org: str) -> str:
    """The reply button of a member of ``org``: it acts for their own organisation alone, so
    it names none (a phone's row would cut the name)."""
    return bot.shown("📮 Reply")


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        "zhou": await member(bot, ZHOU, "周建", "CBS-HOUSING", Role.DEPARTMENT_HEAD),
        "liu": await member(bot, LIU, "刘芳", "CBS-MARKET", Role.DEPARTMENT_HEAD),
        "office": admin(bot),
        "stranger": bot.user(STRANGER, "路人甲"),
    }


async def raise_issues(bot: Harness, zhao: FakeUser) -> str:
    """The clerk's whole /new conversation, to NR, ENV and HOUSING; returns the summary."""
    await bot.say(zhao, "/new")
    await bot.press(zhao, bot.shown("Bankruptcy coordination"))
    await bot.say(zhao, DOCKET)
    await bot.say(zhao, DEBTOR)
    await bot.press(zhao, bot.shown("Unpaid wages"))
    await bot.say(zhao, ISSUES)
    # Everyone at once, and off again; then the three agencies one by one.
    everyone = bot.shown("All departments and zones")
    await bot.press(zhao, everyone)
    assert bot.labels(bot.last_with_buttons(zhao)).count(f"☑ {on_button(bot, NR)}") == 1
    await bot.press(zhao, everyone)
    for agency in (HOUSING, NR, ENV):
        await bot.press(zhao, f"☐ {on_button(bot, agency)}")
    await bot.press(zhao, "完成")
    await bot.say(zhao, ADMINISTRATOR)
    await bot.press(zhao, "不指定日期")
    await bot.press(zhao, "完成")
    summary = bot.last_text(zhao)
    await bot.press(zhao, "提请")
    return summary


async def seed(bot: Harness, agencies: list[str], token: str = "seed") -> int:
    """Issues raised through the service, as a finished /new would; returns the matter's id."""
    viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
    values = {
        "docket": DOCKET,
        "debtor": DEBTOR,
        "issue": "tax",
        "description": ISSUES,
        "agencies": agencies,
        "administrator": ADMINISTRATOR,
        "reply_by": None,
        "documents": [],
    }
    outcome = await bot.svc.submit(viewer, "bankruptcy", values, token)
    await bot.flush_outbox()
    return outcome.case.id


def notice_of(bot: Harness, head: FakeUser, org: str) -> dict[str, Any]:
    """The latest message to an agency's head with its Reply button."""
    return next(
        m
        for m in reversed(bot.fake.messages_to(head))
        if m.get("reply_markup") and reply_label(bot, org) in bot.labels(m)
    )


async def reply(bot: Harness, head: FakeUser, org: str, result: str, details: str) -> None:
    """An agency's head replies from the notice's button: result, details, no documents."""
    await bot.press(head, reply_label(bot, org), message=notice_of(bot, head, org))
    await bot.press(head, bot.shown(result))
    await bot.say(head, details)
    await bot.press(head, "完成")


async def states(bot: Harness, case_id: int) -> dict[str, tuple[str, str | None]]:
    found = await rows(bot, t.assignments, t.assignments.c.case_id == case_id)
    return {r.addressee: (r.state, r.outcome) for r in found}


async def status(bot: Harness, case_id: int) -> str:
    (case,) = await rows(bot, t.cases, t.cases.c.id == case_id)
    return str(case.status)


def agency_line(text: str, org: str) -> str:
    """The line of /case (or a notice) that tells where one agency stands."""
    (line,) = [x for x in text.splitlines() if x.startswith(f"• {org}：")]
    return line


def red(bot: Harness, chat: FakeUser | FakeChat) -> list[str]:
    """The overdue matters' entries in the morning summaries the chat got."""
    return alert_entries(bot, chat, "🔴")


async def agenda_offers(bot: Harness, office: FakeUser) -> list[str]:
    """The open matters the joint-meeting form offers for its agenda (then cancelled)."""
    await bot.say(office, "/meeting")
    await bot.say(office, "年度破产案件府院联席会议")
    await bot.press(office, "后天")
    await bot.press(office, "15:00")
    await bot.say(office, "管委会三楼第一会议室")
    await bot.press(office, f"☐ {on_button(bot, COURT)}")
    await bot.press(office, "完成")
    offered = bot.labels(bot.last_with_buttons(office))
    await bot.say(office, "/cancel")
    return offered


# ---------------------------------------------------------------------------- the whole flow


async def test_issues_to_three_agencies_a_meeting_and_the_court_closing_early(
    committee: Committee, db_url: str
) -> None:
    # Even with the group set to see everything, the administrator's contact never reaches it.
    full = dataclasses.replace(committee, group_detail=GroupDetail.FULL)
    async with running_bot(full, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang, zhou = people["zhao"], people["li"], people["wang"], people["zhou"]
        office = people["office"]
        group = await bind_group(bot)

        summary = await raise_issues(bot, zhao)
        for value in (DOCKET, DEBTOR, ISSUES, ADMINISTRATOR, f"{NR}、{ENV}、{HOUSING}"):
            assert value in summary
        assert NUMBER in bot.last_text(zhao)

        # One open matter; a row per agency, in the committee's order, with its deadline.
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "bankruptcy")
        assert (case.number, case.status, case.title, case.raiser_org) == (
            NUMBER,
            "open",
            DEBTOR,
            "YB-IPC",
        )
        assert case.fields["issue"] == "wages" and case.fields["docket"] == DOCKET
        assert case.fields["agencies"] == ["CBS-NR", "CBS-ENV", "CBS-HOUSING"]
        assignments = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        assert [(a.addressee, a.state, a.stage, a.due) for a in assignments] == [
            ("CBS-NR", "submitted", "reply", DUE),
            ("CBS-ENV", "submitted", "reply", DUE),
            ("CBS-HOUSING", "submitted", "reply", DUE),
        ]
        ids = {a.addressee: a.id for a in assignments}

        # Each head reads the issues and the administrator's contact, with its own button.
        for head, org in ((li, NR), (wang, ENV), (zhou, HOUSING)):
            notice = notice_of(bot, head, org)
            text = notice["text"]
            assert org in text.splitlines()[0]
            for value in (NUMBER, DEBTOR, DOCKET, ISSUES, ADMINISTRATOR, "2026年12月16日（周三）"):
                assert value in text
            assert bot.shown("Unpaid wages") in text
        # The group sees the debtor and the agencies; never the administrator's contact.
        (post,) = [x for x in bot.texts(group) if NUMBER in x]
        assert DEBTOR in post and COURT in post and ENV in post
        assert "13800000000" not in "\n".join(bot.texts(group))

        await reply(bot, li, NR, "Issues handled", "土地使用权抵押已协调解除。")
        await reply(bot, wang, ENV, "Partly handled", "环保处罚款项已申报债权，其余待核。")
        assert await states(bot, case.id) == {
            "CBS-NR": ("replied", "handled"),
            "CBS-ENV": ("replied", "partly"),
            "CBS-HOUSING": ("submitted", None),
        }
        assert await status(bot, case.id) == "open"
        told = bot.last_text(zhao)
        assert "环保处罚款项已申报债权" in told and ENV in told.splitlines()[1]
        assert agency_line(told, ENV) == (
            f"• {ENV}：{bot.shown('Replied')} · {bot.shown('Partly handled')}"
        )
        assert agency_line(told, HOUSING).startswith(f"• {HOUSING}：{bot.shown('Awaiting reply')}")

        # Thursday 17 December: only the agency that did not reply is overdue.
        await bot.tick(datetime(2026, 12, 17, 9, 0, tzinfo=SHANGHAI))
        keys = await deadline_keys(bot)
        late = f"case:{case.id}:a{ids['CBS-HOUSING']}:reply"
        assert f"{late}:overdue:{ZHOU}" in keys and f"{late}:overdue:{GROUP}" in keys
        assert all(k.startswith(late) for k in keys), keys
        (alert,) = red(bot, zhou)
        assert NUMBER in alert and HOUSING in alert and "2026年12月16日（周三）" in alert
        assert red(bot, li) == [] and red(bot, wang) == [] and red(bot, zhao) == []

        # The court and the office see each agency where it stands.
        for viewer in (zhao, office):
            await bot.say(viewer, f"/case {NUMBER}")
            text = bot.last_text(viewer)
            assert agency_line(text, NR) == f"• {NR}：{bot.shown('Replied')}"
            assert agency_line(text, ENV) == f"• {ENV}：{bot.shown('Replied')}"
            assert agency_line(text, HOUSING).startswith(
                f"• {HOUSING}：{bot.shown('Awaiting reply')}"
            )
            assert ADMINISTRATOR in text and "土地使用权抵押已协调解除" in text
        # Only the court may close it; the office has no button for it.
        assert bot.shown("🏁 Close the matter") not in bot.labels(bot.fake.last_message_to(office))

        # The office puts the open matter on a joint meeting's agenda.
        offered = await agenda_offers(bot, office)
        # Its number and as much of the debtor as fits a phone's row.
        assert f"☐ {NUMBER}「长白山某…」" in offered
        await bot.say(office, "/meeting")
        await bot.say(office, "破产案件府院联席会议")
        await bot.press(office, "后天")
        await bot.press(office, "15:00")
        await bot.say(office, "管委会三楼第一会议室")
        for name in (COURT, HOUSING):
            await bot.press(office, f"☐ {on_button(bot, name)}")
        await bot.press(office, "完成")
        await bot.press(office, f"☐ {NUMBER}")
        await bot.press(office, "完成")
        await bot.press(office, "确认安排")
        (meeting,) = await rows(bot, t.meetings)
        (item,) = await rows(bot, t.meeting_agenda)
        assert (item.meeting_id, item.case_id) == (meeting.id, case.id)
        assert NUMBER in item.text and DEBTOR in item.text

        # The court closes the matter before the last agency replied.
        zhou_before = len(bot.texts(zhou))
        await bot.say(zhao, f"/case {NUMBER}")
        await bot.press(zhao, bot.shown("🏁 Close the matter"))
        await bot.press(zhao, bot.shown("The bankruptcy proceedings have ended."))
        assert await status(bot, case.id) == "closed_by_court"
        assert await states(bot, case.id) == {
            "CBS-NR": ("replied", "handled"),
            "CBS-ENV": ("replied", "partly"),
            "CBS-HOUSING": ("closed_by_court", None),
        }
        (housing,) = await rows(bot, t.assignments, t.assignments.c.id == ids["CBS-HOUSING"])
        assert (housing.stage, housing.due, housing.note) == (
            None,
            None,
            bot.shown("The bankruptcy proceedings have ended."),
        )
        (told,) = bot.new_texts(zhou, zhou_before)
        assert NUMBER in told and DEBTOR in told and COURT in told
        assert bot.shown("The bankruptcy proceedings have ended.") in told
        assert agency_line(told, HOUSING) == f"• {HOUSING}：{bot.shown('Closed by the court')}"
        # The agencies that replied and the office hear of it too.
        for user in (li, wang, office):
            assert bot.shown("The bankruptcy proceedings have ended.") in bot.last_text(user)
        close_rows = await rows(bot, t.outbox, t.outbox.c.kind == "case_action")
        closing = [r for r in close_rows if r.payload.get("template") == "agency_request_closed"]
        assert sorted(r.chat_id for r in closing) == sorted([LI, WANG, ZHOU, office.id])

        # The agency's old button no longer acts, and says why.
        await bot.press(zhou, reply_label(bot, HOUSING), message=notice_of(bot, zhou, HOUSING))
        assert bot.shown("Closed by the court") in bot.alerts(zhou)[-1]
        assert (await states(bot, case.id))["CBS-HOUSING"] == ("closed_by_court", None)
        assert await rows(bot, t.drafts, t.drafts.c.user_id == ZHOU) == []
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [(e.action, e.actor_user_id) for e in events] == [
            ("submitted", ZHAO),
            ("reply", LI),
            ("reply", WANG),
            ("close", ZHAO),
        ]
        assert events[-1].detail == {"reason": bot.shown("The bankruptcy proceedings have ended.")}

        # Closed: no escalation any more, no Close button, and not offered for a meeting.
        await bot.tick(datetime(2026, 12, 21, 9, 0, tzinfo=SHANGHAI))
        after = await deadline_keys(bot)
        assert after == keys
        await bot.say(zhao, f"/case {NUMBER}")
        assert f"状态：{bot.shown('Closed by the court')}" in bot.last_text(zhao)
        assert "reply_markup" not in bot.fake.last_message_to(zhao)
        assert not [o for o in await agenda_offers(bot, office) if NUMBER in o]


async def test_the_last_reply_closes_the_matter(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        await reply(bot, li, NR, "Issues handled", "已处理。")
        await bot.say(zhao, f"/case {NUMBER}")
        assert bot.labels(bot.fake.last_message_to(zhao)) == [bot.shown("🏁 Close the matter")]
        await reply(bot, wang, ENV, "Could not be handled", "该事项不属于本局职权。")
        assert await status(bot, case_id) == "closed"
        assert await states(bot, case_id) == {
            "CBS-NR": ("replied", "handled"),
            "CBS-ENV": ("replied", "cannot"),
        }
        told = bot.last_text(zhao)
        assert "该事项不属于本局职权。" in told
        assert bot.shown("Every agency has replied; the matter is closed.") in told
        await bot.say(zhao, f"/case {NUMBER}")
        assert f"状态：{bot.shown('Closed')}" in bot.last_text(zhao)
        assert "reply_markup" not in bot.fake.last_message_to(zhao)  # nothing left to close
        # A Close press from before the last reply no longer acts.
        await bot.press(zhao, message=bot.fake.last_message_to(zhao), data=f"v:close:{case_id}")
        assert await status(bot, case_id) == "closed"
        assert [e.action for e in await rows(bot, t.events, t.events.c.case_id == case_id)] == [
            "submitted",
            "reply",
            "reply",
        ]


# ---------------------------------------------------------------------------- refusals


async def test_who_may_not_act_on_a_bankruptcy_matter(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li, liu, stranger = people["li"], people["liu"], people["stranger"]
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        ids = {a.addressee: a.id for a in await rows(bot, t.assignments)}
        notice = notice_of(bot, li, NR)
        # The engine's refusal (its wording for agencies is being changed from the courts' one).
        refusals = {
            bot.shown("Only staff of the addressed court can answer this."),
            bot.shown("Only the addressed organisations can do this."),
        }

        attempts = [
            (liu, f"v:reply:{case_id}:{ids['CBS-NR']}"),  # an agency not addressed
            (li, f"v:reply:{case_id}:{ids['CBS-ENV']}"),  # for another agency
            (people["zhao"], f"v:reply:{case_id}:{ids['CBS-NR']}"),  # the court itself
            (stranger, f"v:reply:{case_id}:{ids['CBS-NR']}"),
            # Closing is the court's: not an agency's, not the office's.
            (li, f"v:close:{case_id}:{ids['CBS-NR']}"),
            (people["office"], f"v:close:{case_id}:{ids['CBS-NR']}"),
        ]
        for user, data in attempts:
            await bot.press(user, message=notice, data=data)
            assert bot.alerts(user)[-1] in refusals, (user.first_name, data)
            assert await rows(bot, t.drafts, t.drafts.c.user_id == user.id) == [], data
        assert await states(bot, case_id) == {
            "CBS-NR": ("submitted", None),
            "CBS-ENV": ("submitted", None),
        }
        assert await status(bot, case_id) == "open"
        assert [e.action for e in await rows(bot, t.events, t.events.c.case_id == case_id)] == [
            "submitted"
        ]

        # The agency not addressed cannot see it; a stranger is told how to join.
        await bot.say(liu, f"/case {NUMBER}")
        assert bot.last_text(liu) == CANNOT_VIEW
        assert ADMINISTRATOR not in all_seen(bot, liu)
        await bot.say(stranger, f"/case {NUMBER}")
        assert bot.last_text(stranger) == not_member_text(STRANGER)
        assert DEBTOR not in all_seen(bot, stranger)

        # A department head is not offered the kind, and cannot record one.
        await bot.say(li, "/new")
        labels = bot.labels(bot.last_with_buttons(li))
        assert bot.shown("Bankruptcy coordination") not in labels
        assert bot.shown("Enforcement assistance") not in labels
        await bot.say(li, "/cancel")
        viewer = await bot.svc.viewer(LI, "李明", None)
        with pytest.raises(NotAllowed):
            await bot.svc.submit(
                viewer,
                "bankruptcy",
                {
                    "docket": DOCKET,
                    "debtor": DEBTOR,
                    "issue": "tax",
                    "description": ISSUES,
                    "agencies": ["CBS-ENV"],
                },
                "forged",
            )
        assert len(await rows(bot, t.cases)) == 1


def test_the_declaration() -> None:
    kind = bankruptcy.KIND
    assert (kind.code, kind.number_prefix, kind.several_addressees) == ("bankruptcy", "破产", True)
    assert kind.title_field == "debtor"
    assert [f.name for f in kind.fields if f.personal] == ["administrator"]
    assert kind.deadline_days("reply") == 15
    close = kind.action("close")
    assert close.by.value == "raiser" and [i.name for i in close.inputs] == ["reason"]
    assert not kind.is_open("closed_by_court") and not kind.is_open("replied")
    assert [c for c, _ in kind.field("issue").choices] == [
        "wages",
        "tax",
        "social_insurance",
        "registration",
        "land_property",
        "credit",
        "other",
    ]
