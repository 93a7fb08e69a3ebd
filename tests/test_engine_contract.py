"""The matter engine's contract: a mechanism is a declaration, nothing more.

Two kinds are declared here and nowhere else — one raised by a court to an agency, with a
hearing (a date and a time), an action that names the official who will appear, and a deadline
counted back from the hearing; one raised by a court to three agencies at once, each replying on
its own — and run through the real Application: raising, the notices, the actions, the alerts,
/case and the digest. No line of the bot knows about them.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from bot.domain.committee import Committee, OrgKind
from bot.domain.fields import (
    CHOICE,
    DATETIME,
    FILES,
    LONG_TEXT,
    ORGANISATION,
    ORGANISATIONS,
    TEXT,
    FieldSpec,
)
from bot.domain.kinds import Action, Closing, Deadline, KindRegistry, KindSpec, Side, State
from bot.domain.mechanisms import consultation, referral
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import (
    GROUP,
    LI,
    WANG,
    ZHAO,
    admin,
    alert_entries,
    bind_group,
    deadline_keys,
    member,
    on_button,
    rows,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


ZHOU = 2003
COURT = frozenset({Role.COURT_STAFF})
HEADS = frozenset({Role.DEPARTMENT_HEAD})
AGENCY_KINDS = (OrgKind.DEPARTMENT, OrgKind.ZONE)

HEARING = KindSpec(
    code="hearing",
    number_prefix="应诉",
    label="Hearing notice",
    raised_by=COURT,
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=HEADS,
    fields=(
        FieldSpec("docket", TEXT, "Court case number", "The court's case number?", max_length=40),
        FieldSpec("title", TEXT, "Cause", "The cause of action?", max_length=100),
        FieldSpec(
            "agency", ORGANISATION, "Defendant agency", "Which agency?", org_kinds=AGENCY_KINDS
        ),
        FieldSpec("hearing", DATETIME, "Hearing", "When is the hearing?"),
        FieldSpec("papers", FILES, "Documents", "Any documents?", required=False),
    ),
    addressee_field="agency",
    states=(
        State("submitted", "Waiting for the official"),
        State("named", "The official is named"),
        State("heard", "Hearing held", open=False),
    ),
    actions=(
        Action(
            "name_official",
            "🧑‍⚖️ Name the official",
            "The official is named",
            Side.ADDRESSEE,
            frozenset({"submitted"}),
            "named",
            inputs=(
                FieldSpec("official", TEXT, "Official", "Who will appear?", max_length=40),
                FieldSpec("post", TEXT, "Post", "Their post?", max_length=40),
            ),
            primary=True,
        ),
        Action(
            "record_hearing",
            "🏛 Record the hearing",
            "Hearing recorded",
            Side.RAISER,
            frozenset({"named"}),
            "heard",
            inputs=(
                FieldSpec(
                    "appearance",
                    CHOICE,
                    "Appearance",
                    "Who appeared?",
                    choices=(("head", "The head"), ("deputy", "A deputy"), ("none", "Nobody")),
                ),
            ),
            primary=True,
        ),
    ),
    deadlines=(
        Deadline(
            "name",
            frozenset({"submitted"}),
            "%(org)s should name its official by %(due)s.",
            working_days=3,
            before_field="hearing",
            before_working_days=2,
        ),
    ),
)

ASSISTANCE = KindSpec(
    code="assistance",
    number_prefix="协助",
    label="Assistance request",
    raised_by=COURT,
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=HEADS,
    fields=(
        FieldSpec("title", TEXT, "Subject", "What is it about?", max_length=100),
        FieldSpec("agencies", ORGANISATIONS, "Agencies", "Which agencies?", org_kinds=AGENCY_KINDS),
        FieldSpec("request", LONG_TEXT, "Request", "What is asked?", max_length=1000),
    ),
    addressee_field="agencies",
    closing=Closing.ALL_ANSWERED,
    states=(
        State("submitted", "Waiting for the reply"),
        State("replied", "Reply given", open=False),
    ),
    actions=(
        Action(
            "reply",
            "📮 Give the reply",
            "Reply given",
            Side.ADDRESSEE,
            frozenset({"submitted"}),
            "replied",
            inputs=(
                FieldSpec(
                    "result",
                    CHOICE,
                    "Result",
                    "What came of it?",
                    choices=(("done", "Done"), ("partly", "Partly"), ("cannot", "Cannot")),
                ),
                FieldSpec("remark", LONG_TEXT, "Remark", "Anything to add?", required=False),
            ),
            primary=True,
        ),
    ),
    deadlines=(
        Deadline(
            "reply", frozenset({"submitted"}), "%(org)s should reply by %(due)s.", working_days=5
        ),
    ),
)

KINDS = KindRegistry.of((consultation.KIND, referral.KIND, HEARING, ASSISTANCE))
HEARING_DAY = date(2026, 12, 9)  # a Wednesday; raised on Wednesday 25 November


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        "zhou": await member(bot, ZHOU, "周建", "CBS-HOUSING", Role.DEPARTMENT_HEAD),
    }


async def assignments(bot: Harness, case_id: int) -> list[tuple[str, str, str | None]]:
    found = await rows(bot, t.assignments, t.assignments.c.case_id == case_id)
    return sorted((r.addressee, r.state, r.stage) for r in found)


async def test_a_court_raises_a_hearing_and_the_agency_names_its_official(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url, kinds=KINDS) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)

        # The court clerk is offered the court's kinds only.
        await bot.say(zhao, "/new")
        assert bot.labels(bot.last_with_buttons(zhao)) == [
            "Hearing notice",
            "Assistance request",
            "✖ 取消",
        ]
        await bot.press(zhao, "Hearing notice")
        await bot.say(zhao, "（2026）吉24行初12号")
        await bot.say(zhao, "林地行政处罚")
        await bot.press(zhao, "自然资源局")
        await bot.say(zhao, "12月9日")
        assert "2026年12月9日（周三）" in bot.last_text(zhao)  # now asked for the time
        await bot.say(zhao, "9点半")
        await bot.press(zhao, "完成")
        summary = bot.last_text(zhao)
        assert "（2026）吉24行初12号" in summary and "2026年12月9日（周三）09:30" in summary
        await bot.press(zhao, "提请")
        assert "应诉〔2026〕1号" in bot.last_text(zhao)

        (case,) = await rows(bot, t.cases, t.cases.c.kind == "hearing")
        assert case.status == "submitted" and case.raiser_org == "YB-IPC"
        assert case.fields["hearing"].startswith("2026-12-09T09:30")
        # Due at the earlier of 3 working days after raising (Monday 30 November) and 2
        # working days before the hearing (Monday 7 December).
        (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        assert (row.addressee, row.state, row.stage, row.due) == (
            "CBS-NR",
            "submitted",
            "name",
            date(2026, 11, 30),
        )

        # The agency's head is told, with the button to name the official; the group sees it.
        notice = bot.last_with_buttons(li)
        assert "应诉〔2026〕1号" in notice["text"] and "林地行政处罚" in notice["text"]
        assert bot.labels(notice) == ["🧑‍⚖️ Name the official"]
        assert any("应诉〔2026〕1号" in text for text in bot.texts(group))

        # Another department cannot act on it.
        wang = people["wang"]
        await bot.press(wang, message=notice, data=f"v:name_official:{case.id}")
        assert bot.alerts(wang)[-1] == "仅接收单位可进行此操作。"

        await bot.press(li, "Name the official", message=notice)
        await bot.say(li, "李明")
        await bot.say(li, "局长")
        assert "The official is named" in bot.last_text(li)
        (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        assert row.state == "named" and row.stage is None and row.due is None
        assert row.answers == {"name_official": {"official": "李明", "post": "局长"}}
        told = [text for text in bot.texts(zhao) if "The official is named" in text]
        assert len(told) == 1 and "李明" in told[0] and "局长" in told[0]

        # After the hearing the court records it; /case shows the whole history.
        await bot.say(zhao, "/case 应诉〔2026〕1号")
        await bot.press(zhao, "Record the hearing")
        await bot.press(zhao, "The head")
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "hearing")
        assert case.status == "heard"
        await bot.say(zhao, "/case 应诉〔2026〕1号")
        shown = bot.last_text(zhao)
        for line in (
            "Hearing held",
            "The official is named",
            "Official：李明",
            "Appearance：The head",
        ):
            assert line in shown, shown
        events = await rows(bot, t.events, t.events.c.case_id == case.id)
        assert [e.action for e in events] == ["submitted", "name_official", "record_hearing"]


async def test_an_unanswered_hearing_notice_is_chased_before_the_hearing(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url, kinds=KINDS) as bot:
        people = await cast(bot)
        zhao, li = people["zhao"], people["li"]
        group = await bind_group(bot)
        viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
        hearing = datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI)  # next Wednesday
        outcome = await bot.svc.submit(
            viewer,
            "hearing",
            {
                "docket": "（2026）吉24行初13号",
                "title": "规划许可撤销",
                "agency": "CBS-NR",
                "hearing": hearing.isoformat(),
            },
            "contract-1",
        )
        await bot.flush_outbox()
        (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == outcome.case.id)
        # 2 working days before Wednesday 2 December is Monday 30 November: earlier than 3
        # working days after raising.
        assert row.due == date(2026, 11, 30)

        await bot.tick(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))  # Friday
        assert alert_entries(bot, li, "⏰")
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))  # Tuesday: late
        overdue = [x for x in alert_entries(bot, group, "🔴") if "应诉〔2026〕1号" in x]
        assert len(overdue) == 1
        assert "承办：长白山管委会自然资源局\n" in overdue[0]
        assert "期限：2026年11月30日（周一） · 已逾期1个工作日" in overdue[0]
        keys = await deadline_keys(bot)
        case_id = outcome.case.id
        assert keys == {
            f"case:{case_id}:name:due_soon:{LI}",
            f"case:{case_id}:name:overdue:{LI}",
            f"case:{case_id}:name:overdue:{GROUP}",
        }
        assert not alert_entries(bot, zhao)  # the court raised it

        # The digest counts it among the week's matters and as overdue for the agency.
        office = admin(bot)
        await bot.say(office, "/digest")
        digest = bot.last_text(office)
        assert "应诉〔2026〕1号" in digest and "长白山管委会自然资源局" in digest


async def test_one_request_to_three_agencies_each_answering(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url, kinds=KINDS) as bot:
        people = await cast(bot)
        zhao, li, wang, zhou = people["zhao"], people["li"], people["wang"], people["zhou"]
        group = await bind_group(bot)

        await bot.say(zhao, "/new")
        await bot.press(zhao, "Assistance request")
        await bot.say(zhao, "被执行人财产查询")
        for agency in ("长白山管委会自然资源局", "长白山管委会生态环境局"):
            await bot.press(zhao, f"☐ {on_button(bot, agency)}")
        await bot.press(zhao, "☐ 住建局")
        await bot.press(zhao, "☑ 生态环境局")  # a toggle undone...
        await bot.press(zhao, "☐ 生态环境局")  # ...and done again
        await bot.press(zhao, "完成")
        await bot.say(zhao, "请协助查询被执行人名下不动产登记情况。")
        assert "长白山管委会自然资源局、长白山管委会生态环境局、长白山管委会住房和城乡建设局" in (
            bot.last_text(zhao)
        )
        await bot.press(zhao, "提请")
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "assistance")
        assert case.number == "协助〔2026〕1号" and case.status == "open"
        assert await assignments(bot, case.id) == [
            ("CBS-ENV", "submitted", "reply"),
            ("CBS-HOUSING", "submitted", "reply"),
            ("CBS-NR", "submitted", "reply"),
        ]
        for head in (li, wang, zhou):
            # Each acts for its own agency alone: the button names none.
            assert bot.labels(bot.last_with_buttons(head))[0] == "📮 Give the reply"
        li_notice = bot.last_with_buttons(li)

        # Two agencies reply; the matter stays open for the third.
        for head, result in ((li, "Done"), (wang, "Partly")):
            await bot.press(head, bot.labels(bot.last_with_buttons(head))[0])
            await bot.press(head, result)
            if head is wang:
                await bot.say(head, "部分不动产已抵押，查封顺位在后。")
            else:
                await bot.press(head, "跳过")
        assert await assignments(bot, case.id) == [
            ("CBS-ENV", "replied", None),
            ("CBS-HOUSING", "submitted", "reply"),
            ("CBS-NR", "replied", None),
        ]
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "assistance")
        assert case.status == "open"
        # One agency sees where it stands, not another agency's reply.
        await bot.say(li, "/case 协助〔2026〕1号")
        own = bot.last_text(li)
        assert "• 长白山管委会自然资源局：Reply given" in own
        assert "• 长白山管委会生态环境局：" not in own and "部分不动产已抵押" not in own
        replies = [x for x in bot.texts(zhao) if "Reply given" in x]
        assert len(replies) == 2 and any("部分不动产已抵押" in x for x in replies)

        # The one agency that has not replied is chased, on its own.
        late = datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)  # 5 working days were Dec 2
        await bot.tick(late)
        assert alert_entries(bot, zhou, "🔴")
        assert not alert_entries(bot, li, "🔴")
        chased = [x for x in alert_entries(bot, group, "🔴") if "协助〔2026〕1号" in x]
        assert len(chased) == 1 and "长白山管委会住房和城乡建设局" in chased[0]

        # /case shows each agency where it stands; the last reply closes the matter.
        await bot.say(zhao, "/case 协助〔2026〕1号")
        shown = bot.last_text(zhao)
        assert "长白山管委会住房和城乡建设局：Waiting for the reply" in shown
        assert "长白山管委会自然资源局：Reply given" in shown
        await bot.press(zhou, bot.labels(bot.last_with_buttons(zhou))[0])
        await bot.press(zhou, "Cannot")
        await bot.say(zhou, "该被执行人名下无登记房产。")
        (case,) = await rows(bot, t.cases, t.cases.c.kind == "assistance")
        assert case.status == "closed"
        await bot.say(zhao, "/case 协助〔2026〕1号")
        assert "已办结" in bot.last_text(zhao)
        # The answered addressee's notice lost its button; one pressed on an old copy says
        # so and changes nothing.
        assert "reply_markup" not in bot.fake.message(li, li_notice["message_id"])
        before = await assignments(bot, case.id)
        await bot.press(li, message=li_notice, data=bot.fake.buttons(li_notice)[0][0][1])
        assert await assignments(bot, case.id) == before
        async with bot.svc.db.read() as conn:
            count = (
                await conn.execute(select(t.events.c.id).where(t.events.c.case_id == case.id))
            ).all()
        assert len(count) == 4  # submitted and three replies
