"""执行联动 — enforcement assistance, as its users meet it.

A clerk of the Yanbian court asks three agencies at once for a property inquiry; each agency's
head replies on their own (done, partly, cannot, with details and documents); the one that does
not reply in time is chased on its own; the court and the office see where each agency stands;
the last reply closes the matter. The court may withdraw a request. Nobody else may act on it,
and the person concerned never reaches the committee group.

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
from bot.domain.mechanisms import assistance
from bot.domain.models import Role
from bot.storage import schema as t
from handlers import buttons
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


ZHOU, LIU, SUN_KE = 2003, 2004, 2005
NR, ENV, HOUSING = (
    "长白山管委会自然资源局",
    "长白山管委会生态环境局",
    "长白山管委会住房和城乡建设局",
)
COURT = "延边州中级人民法院"
NUMBER = "协助〔2026〕1号"
DOCKET = "（2026）吉24执12号"
PARTY = "张某某"
REQUEST = "请协助查询被执行人名下不动产及车辆登记情况。"
CANNOT_VIEW = "⚠ 您无权查看该事项。"
# Raised on Wednesday 25 November 2026: five working days run to Wednesday 2 December.
DUE = date(2026, 12, 2)


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


async def raise_request(bot: Harness, zhao: FakeUser, agencies: tuple[str, ...]) -> str:
    """The clerk's whole /new conversation; returns the summary the clerk checked."""
    await bot.say(zhao, "/new")
    await bot.press(zhao, bot.shown("Enforcement assistance"))
    await bot.press(zhao, bot.shown("Property inquiry"))
    await bot.say(zhao, DOCKET)
    await bot.say(zhao, PARTY)
    await bot.say(zhao, REQUEST)
    for agency in agencies:
        await bot.press(zhao, f"☐ {on_button(bot, agency)}")
    await bot.press(zhao, "完成")
    await bot.press(zhao, "不指定日期")
    await bot.send_document(zhao, "协助执行通知书.pdf", 80_000)
    await bot.press(zhao, "完成")
    summary = bot.last_text(zhao)
    await bot.press(zhao, "提请")
    return summary


async def seed(bot: Harness, agencies: list[str], **extra: Any) -> int:
    """A request recorded through the service, as a finished /new would; returns its id."""
    viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
    values = {
        "measure": "freeze",
        "docket": DOCKET,
        "party": PARTY,
        "request": "请协助冻结被执行人名下股权登记。",
        "agencies": agencies,
        "reply_by": None,
        "documents": [],
        **extra,
    }
    outcome = await bot.svc.submit(viewer, "assistance", values, f"seed-{len(agencies)}")
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
    """An agency's head replies from the notice's button: result, details, documents."""
    await bot.press(head, reply_label(bot, org), message=notice_of(bot, head, org))
    await bot.press(head, bot.shown(result))
    await bot.say(head, details)
    await bot.press(head, "完成")


async def states(bot: Harness, case_id: int) -> dict[str, tuple[str, str | None]]:
    found = await rows(bot, t.assignments, t.assignments.c.case_id == case_id)
    return {r.addressee: (r.state, r.outcome) for r in found}


def agency_line(text: str, org: str) -> str:
    """The line of /case (or a notice) that tells where one agency stands."""
    (line,) = [x for x in text.splitlines() if x.startswith(f"• {org}：")]
    return line


def red(bot: Harness, chat: FakeUser | FakeChat) -> list[str]:
    """The overdue matters' entries in the morning summaries the chat got."""
    return alert_entries(bot, chat, "🔴")


# ---------------------------------------------------------------------------- the whole flow


async def test_a_court_asks_three_agencies_and_each_replies_on_its_own(
    committee: Committee, db_url: str
) -> None:
    # Even with the group set to see everything, the person concerned never reaches it.
    full = dataclasses.replace(committee, group_detail=GroupDetail.FULL)
    async with running_bot(full, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang, zhou = people["zhao"], people["li"], people["wang"], people["zhou"]
        office = people["office"]
        group = await bind_group(bot)

        # The clerk is offered the court-side kinds, not the departments' ones.
        await bot.say(zhao, "/new")
        offered = bot.labels(bot.last_with_buttons(zhao))
        assert bot.shown("Enforcement assistance") in offered
        assert "重大事项研判" not in offered and "行政争议协调化解" not in offered
        await bot.say(zhao, "/cancel")

        summary = await raise_request(bot, zhao, (NR, ENV, HOUSING))
        for value in (DOCKET, PARTY, REQUEST, f"{NR}、{ENV}、{HOUSING}"):
            assert value in summary
        assert NUMBER in bot.last_text(zhao)

        # What the database holds: one matter, open, one row per agency with its deadline.
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "assistance")
        assert (case.number, case.status, case.title, case.raiser_org) == (
            NUMBER,
            "open",
            DOCKET,
            "YB-IPC",
        )
        assert case.fields["measure"] == "property_inquiry" and case.fields["party"] == PARTY
        assert case.fields["agencies"] == ["CBS-NR", "CBS-ENV", "CBS-HOUSING"]
        assignments = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        assert sorted((a.addressee, a.state, a.stage, a.due) for a in assignments) == [
            ("CBS-ENV", "submitted", "reply", DUE),
            ("CBS-HOUSING", "submitted", "reply", DUE),
            ("CBS-NR", "submitted", "reply", DUE),
        ]
        ids = {a.addressee: a.id for a in assignments}
        (document,) = await rows(bot, t.case_files, t.case_files.c.case_id == case.id)
        assert document.file_name == "协助执行通知书.pdf"
        new = await rows(bot, t.outbox, t.outbox.c.kind == "case_new")
        assert sorted(r.chat_id for r in new) == [LI, WANG, ZHOU]
        assert all(r.status == "sent" for r in new)

        # Each head gets the request for their own agency, with its due date and one button.
        notices = {}
        for head, org in ((li, NR), (wang, ENV), (zhou, HOUSING)):
            notice = notices[org] = bot.last_with_buttons(head)
            text = notice["text"]
            assert NUMBER in text and DOCKET in text and REQUEST in text and PARTY in text
            assert org in text.splitlines()[0]
            assert "2026年12月2日（周三）" in text
            assert bot.shown("Property inquiry") in text
            assert bot.labels(notice)[0] == reply_label(bot, org)
            assert not [x for x in bot.labels(notice) if x.startswith(bot.shown("📮 Reply"))][1:]

        # The group sees that the court asked whom; never the person concerned or the request.
        (post,) = [x for x in bot.texts(group) if NUMBER in x]
        assert COURT in post and NR in post and HOUSING in post
        assert PARTY not in post and REQUEST not in post
        assert PARTY not in "\n".join(bot.texts(group))

        # Two agencies reply; the matter stays open for the third.
        await reply(bot, li, NR, "Assisted as asked", "名下登记住宅一套，登记信息见附件。")
        assert NUMBER in bot.last_text(li)
        told = bot.last_text(zhao)
        assert "名下登记住宅一套" in told and NR in told.splitlines()[1]
        assert bot.shown("Assisted as asked") in told
        assert agency_line(told, NR).startswith(f"• {NR}：{bot.shown('Replied')}")
        assert agency_line(told, HOUSING).startswith(f"• {HOUSING}：{bot.shown('Awaiting reply')}")
        await reply(bot, wang, ENV, "Partly assisted", "车辆已登记抵押，已办理查询。")
        assert await states(bot, case.id) == {
            "CBS-NR": ("replied", "done"),
            "CBS-ENV": ("replied", "partly"),
            "CBS-HOUSING": ("submitted", None),
        }
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "open"
        nr = next(a for a in await rows(bot, t.assignments) if a.addressee == "CBS-NR")
        assert (nr.acted_by, nr.note, nr.stage, nr.due) == (
            LI,
            "名下登记住宅一套，登记信息见附件。",
            None,
            None,
        )
        assert nr.answers == {
            "reply": {"outcome": "done", "reason": "名下登记住宅一套，登记信息见附件。"}
        }
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [(e.action, e.actor_user_id, e.assignment_id) for e in events] == [
            ("submitted", ZHAO, None),
            ("reply", LI, ids["CBS-NR"]),
            ("reply", WANG, ids["CBS-ENV"]),
        ]
        assert events[1].detail == {
            "outcome": "done",
            "reason": "名下登记住宅一套，登记信息见附件。",
        }

        # Thursday 3 December: only the agency that did not reply is overdue, and chased.
        await bot.tick(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
        keys = await deadline_keys(bot)
        late = f"case:{case.id}:a{ids['CBS-HOUSING']}:reply:overdue"
        assert keys == {f"{late}:{ZHOU}", f"{late}:{GROUP}"}
        (alert,) = red(bot, zhou)
        assert NUMBER in alert and HOUSING in alert and "2026年12月2日（周三）" in alert
        assert red(bot, li) == [] and red(bot, wang) == [] and red(bot, zhao) == []
        (chased,) = [x for x in red(bot, group) if NUMBER in x]
        assert HOUSING in chased and NR not in chased and PARTY not in chased

        # The court and the office see each agency where it stands.
        for viewer in (zhao, office):
            await bot.say(viewer, f"/case {NUMBER}")
            text = bot.last_text(viewer)
            assert agency_line(text, NR).startswith(f"• {NR}：{bot.shown('Replied')}")
            assert agency_line(text, ENV).startswith(f"• {ENV}：{bot.shown('Replied')}")
            waiting = agency_line(text, HOUSING)
            assert waiting.startswith(f"• {HOUSING}：{bot.shown('Awaiting reply')}")
            assert "2026年12月2日（周三）" in waiting
            assert PARTY in text and "车辆已登记抵押" in text

        # The last reply closes the matter; the court is told so.
        await reply(bot, zhou, HOUSING, "Could not assist", "该被执行人名下无登记房产。")
        (case,) = await rows(bot, t.cases, t.cases.c.id == case.id)
        assert case.status == "closed"
        assert await states(bot, case.id) == {
            "CBS-NR": ("replied", "done"),
            "CBS-ENV": ("replied", "partly"),
            "CBS-HOUSING": ("replied", "cannot"),
        }
        assert bot.shown("Every agency has replied; the matter is closed.") in bot.last_text(zhao)
        await bot.say(zhao, f"/case {NUMBER}")
        assert f"状态：{bot.shown('Closed')}" in bot.last_text(zhao)
        # Nothing is left to do, only the documents to open.
        assert bot.labels(bot.fake.last_message_to(zhao)) == [
            bot.shown("📎 Documents (%(n)s)", n=1)
        ]

        # A press on a replied agency's old button says who replied and changes nothing.
        before = await states(bot, case.id)
        # (The notice itself lost the button when she replied: this is a client's old copy.)
        updated = bot.fake.message(li, notices[NR]["message_id"])
        assert bot.labels(updated) == [bot.shown("📎 Documents (%(n)s)", n=1)]
        stale = buttons.action("reply", case.id, ids["CBS-NR"])
        await bot.press(li, message=notices[NR], data=stale)
        assert "李明" in bot.alerts(li)[-1] and bot.shown("Replied") in bot.alerts(li)[-1]
        assert await states(bot, case.id) == before
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [e.action for e in events] == ["submitted", "reply", "reply", "reply"]
        # No new alert for a closed matter.
        await bot.tick(datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI))
        assert await deadline_keys(bot) == keys


# ---------------------------------------------------------------------------- refusals


async def test_only_the_addressed_agencies_may_reply_and_only_courts_may_raise(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li, liu, stranger = people["li"], people["liu"], people["stranger"]
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        ids = {a.addressee: a.id for a in await rows(bot, t.assignments)}
        notice = bot.last_with_buttons(li)
        # The engine's refusal (its wording for agencies is being changed from the courts' one).
        refusals = {
            bot.shown("Only staff of the addressed court can answer this."),
            bot.shown("Only the addressed organisations can do this."),
        }

        attempts = [
            (liu, ids["CBS-NR"]),  # an agency not addressed
            (li, ids["CBS-ENV"]),  # an addressed agency, for another one
            (people["zhao"], ids["CBS-NR"]),  # the court that asked
            (people["office"], ids["CBS-NR"]),
            (stranger, ids["CBS-NR"]),
        ]
        for user, assignment_id in attempts:
            await bot.press(user, message=notice, data=f"v:reply:{case_id}:{assignment_id}")
            assert bot.alerts(user)[-1] in refusals, user.first_name
            assert await rows(bot, t.drafts, t.drafts.c.user_id == user.id) == [], user.first_name
        assert await states(bot, case_id) == {
            "CBS-NR": ("submitted", None),
            "CBS-ENV": ("submitted", None),
        }
        assert [e.action for e in await rows(bot, t.events, t.events.c.case_id == case_id)] == [
            "submitted"
        ]

        # The agency not addressed cannot look at it either; a stranger is told how to join.
        await bot.say(liu, f"/case {NUMBER}")
        assert bot.last_text(liu) == CANNOT_VIEW
        assert PARTY not in all_seen(bot, liu)
        await bot.say(stranger, f"/case {NUMBER}")
        assert bot.last_text(stranger) == not_member_text(STRANGER)
        await bot.say(stranger, "/new")
        assert bot.last_text(stranger) == not_member_text(STRANGER)
        assert PARTY not in all_seen(bot, stranger)

        # A department head is not offered the kind, and a forged choice of it is refused.
        await bot.say(li, "/new")
        menu = bot.last_with_buttons(li)
        assert bot.shown("Enforcement assistance") not in bot.labels(menu)
        data = bot.fake.buttons(menu)[0][0][1]
        token = data.split(":")[1]
        await bot.press(li, message=menu, data=f"f:{token}:kind:assistance")
        assert bot.alerts(li)[-1] == bot.shown("This button is no longer active.")
        assert bot.shown("Assistance requested") not in bot.last_text(li)
        await bot.say(li, "/cancel")
        viewer = await bot.svc.viewer(LI, "李明", None)
        with pytest.raises(NotAllowed):
            await bot.svc.submit(
                viewer,
                "assistance",
                {
                    "measure": "other",
                    "docket": DOCKET,
                    "party": PARTY,
                    "request": "伪造的请求。",
                    "agencies": ["CBS-ENV"],
                },
                "forged",
            )
        assert len(await rows(bot, t.cases)) == 1


async def test_the_court_withdraws_a_request_and_the_others_are_released(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        await reply(bot, li, NR, "Assisted as asked", "已查询。")
        notice = notice_of(bot, wang, ENV)

        await bot.say(zhao, f"/case {NUMBER}")
        await bot.press(zhao, bot.shown("✖ Withdraw"))
        await bot.say(zhao, "被执行人已自动履行完毕。")
        (case,) = await rows(bot, t.cases, t.cases.c.id == case_id)
        assert case.status == "withdrawn"
        assert await states(bot, case_id) == {
            "CBS-NR": ("replied", "done"),
            "CBS-ENV": ("withdrawn", None),
        }
        told = bot.last_text(wang)
        assert NUMBER in told and "被执行人已自动履行完毕。" in told
        assert agency_line(told, ENV) == f"• {ENV}：{bot.shown('Withdrawn')}"
        # The agency's notice lost its button; an old copy's press no longer acts, and says why.
        assert reply_label(bot, ENV) not in bot.labels(bot.fake.message(wang, notice["message_id"]))
        ids = {a.addressee: a.id for a in await rows(bot, t.assignments)}
        stale = buttons.action("reply", case_id, ids["CBS-ENV"])
        await bot.press(wang, message=notice, data=stale)
        assert bot.alerts(wang)[-1] == bot.shown("The matter was withdrawn.")
        assert (await states(bot, case_id))["CBS-ENV"] == ("withdrawn", None)
        # Nothing is chased any more.
        await bot.tick(datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI))
        assert await deadline_keys(bot) == set()
        events = await rows(bot, t.events, t.events.c.case_id == case_id)
        assert [(e.action, e.actor_user_id) for e in events] == [
            ("submitted", ZHAO),
            ("reply", LI),
            ("withdraw", ZHAO),
        ]


async def test_an_agency_names_its_handler_and_notes_its_progress(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        sun = await member(bot, SUN_KE, "孙科长", "CBS-NR", Role.DEPARTMENT_HEAD)
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        ids = {a.addressee: a.id for a in await rows(bot, t.assignments)}

        # The bureau's head makes 孙科长 the handler of the bureau's part only.
        await bot.say(li, f"/case {NUMBER}")
        await bot.press(li, bot.shown("👤 Assign a handler"))
        await bot.press(li, "孙科长")
        found = {a.addressee: a.handler_user_id for a in await rows(bot, t.assignments)}
        assert found == {"CBS-NR": SUN_KE, "CBS-ENV": None}
        assert any(NUMBER in x for x in bot.texts(sun))

        # A progress note reaches the court and stays in the history, under the bureau.
        before = len(bot.texts(zhao))
        await bot.say(sun, f"/case {NUMBER}")
        await bot.press(sun, bot.shown("📝 Add a note"))
        await bot.say(sun, "已向不动产登记中心调取档案，预计周五答复。")
        await bot.press(sun, "完成")
        (note,) = bot.new_texts(zhao, before)
        assert "预计周五答复" in note and NR in note
        assert (await states(bot, case_id))["CBS-NR"] == ("submitted", None)

        # Overdue: the handler is chased for the bureau, the whole other agency for its part.
        await bot.tick(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
        keys = await deadline_keys(bot)
        nr, env = (f"case:{case_id}:a{ids[org]}:reply:overdue" for org in ("CBS-NR", "CBS-ENV"))
        assert keys == {f"{nr}:{SUN_KE}", f"{env}:{WANG}"}  # no group is bound here
        assert len(red(bot, sun)) == 1 and red(bot, li) == [] and len(red(bot, wang)) == 1
        events = await rows(bot, t.events, t.events.c.case_id == case_id)
        assert [(e.action, e.actor_user_id, e.assignment_id) for e in events] == [
            ("submitted", ZHAO, None),
            ("assign", LI, ids["CBS-NR"]),
            ("note", SUN_KE, ids["CBS-NR"]),
        ]


# ---------------------------------------------------------------------------- the declaration


async def test_a_requested_date_shortens_the_five_working_days_but_never_lengthens_them(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        sooner = await seed(bot, ["CBS-NR"], reply_by="2026-11-27")
        later = await seed(bot, ["CBS-NR", "CBS-ENV"], reply_by="2026-12-31")
        (first,) = await rows(bot, t.assignments, t.assignments.c.case_id == sooner)
        assert first.due == date(2026, 11, 27)
        assert {
            a.due for a in await rows(bot, t.assignments, t.assignments.c.case_id == later)
        } == {DUE}


def test_the_declaration() -> None:
    kind = assistance.KIND
    assert (kind.code, kind.number_prefix, kind.several_addressees) == ("assistance", "协助", True)
    assert [f.name for f in kind.fields if f.personal] == ["party"]
    assert kind.deadline_days("reply") == 5
    reply_action = kind.action("reply")
    assert [i.name for i in reply_action.inputs] == ["outcome", "reason", "files"]
    assert [code for code, _ in kind.outcomes] == ["done", "partly", "cannot"]
    assert {c for c, _ in reply_action.inputs[0].choices} == {c for c, _ in kind.outcomes}
    assert not kind.is_open("replied") and kind.is_open("submitted")
