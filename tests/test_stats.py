"""/stats: the office and observers read each organisation's evaluation figures (绩效考核)
for a period as a table and a chart, and the matters behind them; everyone else is refused.

The seeded quarter has known answers, counted by hand on the working-day calendar: the
National Day holidays (1–7 October 2026, make-up working day Saturday 10 October) and a
clock paused for more information fall inside it."""

from __future__ import annotations

import dataclasses
import io
import secrets
import struct
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from matplotlib import get_data_path

from bot.domain.committee import Committee, GroupDetail, Reports
from bot.domain.models import Role
from bot.storage import schema as t
from handlers import charts
from tests.conftest import SHANGHAI
from tests.flows import LI, QIAN, STRANGER, WANG, ZHAO, admin, bind_group, member, rows
from tests.scenario import Harness, running_bot

SEP29 = datetime(2026, 9, 29, 10, 0, tzinfo=SHANGHAI)  # Tuesday, before National Day


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


async def act(
    bot: Harness,
    user_id: int,
    name: str,
    case_id: int,
    code: str,
    inputs: dict[str, Any] | None = None,
    assignment_id: int | None = None,
) -> None:
    viewer = await bot.svc.viewer(user_id, name, None)
    outcome = await bot.svc.act(viewer, case_id, assignment_id, code, inputs or {})
    assert outcome.changed, code


async def raise_(bot: Harness, user_id: int, name: str, kind: str, values: dict[str, Any]) -> int:
    viewer = await bot.svc.viewer(user_id, name, None)
    base: dict[str, Any] = {"documents": []}
    if kind in ("referral", "consultation"):
        base.update(description="情况说明。", urgency="normal", reply_by=None)
    if kind == "referral":
        base.update(applicant="张三", respondent="CBS-NR")
    outcome = await bot.svc.submit(viewer, kind, {**base, **values}, secrets.token_hex(8))
    assert outcome.changed
    return outcome.case.id


async def assignment_of(bot: Harness, case_id: int, org: str) -> Any:
    (row,) = await rows(
        bot, t.assignments, t.assignments.c.case_id == case_id, t.assignments.c.addressee == org
    )
    return row


async def seed(bot: Harness) -> dict[str, int]:
    """The quarter's matters (numbers in brackets are what the figures should find):

    A referral of 自然资源局 to the Chibei center (延边中院 acts): acknowledged on 8 October,
      two working days (30 Sep, 8 Oct) — on time (due 9 Oct); resolved by agreement on
      13 October, six working days — on time.
    B consultation of 自然资源局 to 延边中院: more information asked on 30 September, given on
      9 October (paused: 8, 9 Oct), acknowledged on 12 October: five working days less two
      paused = three — on time (due 12 Oct); never answered: late (due 21 Oct).
    C referral of 生态环境局 to the Chibei center: never acknowledged — late.
    D hearing of 延边中院, 自然资源局 the defendant: its head appeared.
    E assistance of 延边中院 to 自然资源局 (replied 8 Oct: two working days, on time) and
      生态环境局 (never: late).
    F bulletin of 延边中院 to 自然资源局 (read) and 生态环境局 (not read).
    G a referral raised on 8 October: in the next quarter, not counted.
    """
    bot.clock.set(SEP29)
    ids = {
        "A": await raise_(
            bot, LI, "李明", "referral", {"title": "林地征收补偿争议", "addressee": "CHIBEI-CENTER"}
        ),
        "B": await raise_(
            bot, LI, "李明", "consultation", {"title": "采砂许可法律风险", "addressee": "YB-IPC"}
        ),
        "C": await raise_(
            bot, WANG, "王强", "referral", {"title": "排污处罚争议", "addressee": "CHIBEI-CENTER"}
        ),
        "D": await raise_(
            bot,
            ZHAO,
            "赵法官",
            "hearing",
            {
                "docket": "（2026）吉24行初13号",
                "title": "规划许可撤销",
                "agency": "CBS-NR",
                "courtroom": "第三审判庭",
                "hearing": at(10, 20, 9).isoformat(),
            },
        ),
        "E": await raise_(
            bot,
            ZHAO,
            "赵法官",
            "assistance",
            {
                "measure": "freeze",
                "docket": "（2026）吉24执12号",
                "party": "某公司",
                "request": "请协助冻结股权登记。",
                "agencies": ["CBS-NR", "CBS-ENV"],
                "reply_by": None,
            },
        ),
        "F": await raise_(
            bot,
            ZHAO,
            "赵法官",
            "bulletin",
            {
                "title": "2026年第三季度行政案件司法审查通报",
                "period": "2026年第三季度",
                "description": "本季度行政机关败诉案件分析。",
                "agencies": ["CBS-NR", "CBS-ENV"],
                "rectify": None,
                "rectify_by": None,
                "document": [
                    {
                        "media": "document",
                        "file_id": "BQACAgUAAxkBAAIstatsFakeFileId",
                        "file_unique_id": "AQADstats",
                        "file_name": "通报.pdf",
                        "file_size": 48_000,
                    }
                ],
            },
        ),
    }
    bot.clock.set(at(9, 30))
    await act(bot, ZHAO, "赵法官", ids["B"], "request_info", {"question": "请补充采砂范围。"})
    await act(
        bot,
        LI,
        "李明",
        ids["D"],
        "name_official",
        {"appearing": "head", "official": "刘局长", "post": "局长"},
    )
    nr_bulletin = await assignment_of(bot, ids["F"], "CBS-NR")
    await act(bot, LI, "李明", ids["F"], "read", assignment_id=nr_bulletin.id)
    bot.clock.set(at(10, 8))
    await act(bot, ZHAO, "赵法官", ids["A"], "acknowledge")
    nr_request = await assignment_of(bot, ids["E"], "CBS-NR")
    await act(
        bot,
        LI,
        "李明",
        ids["E"],
        "reply",
        {"outcome": "done", "reason": "已冻结。"},
        assignment_id=nr_request.id,
    )
    ids["G"] = await raise_(
        bot, LI, "李明", "referral", {"title": "十月的争议", "addressee": "CHIBEI-CENTER"}
    )
    await act(bot, ZHAO, "赵法官", ids["G"], "acknowledge")
    bot.clock.set(at(10, 9))
    await act(bot, LI, "李明", ids["B"], "provide_info", {"answer": "范围见附件。"})
    bot.clock.set(at(10, 12))
    await act(bot, ZHAO, "赵法官", ids["B"], "acknowledge")
    bot.clock.set(at(10, 13))
    await act(bot, ZHAO, "赵法官", ids["A"], "resolve", {"outcome": "resolved"})
    bot.clock.set(at(10, 20, 12))
    await act(bot, ZHAO, "赵法官", ids["D"], "record_hearing", {"outcome": "head"})
    bot.clock.set(at(11, 25))
    await bot.flush_outbox()
    return ids


async def cast(bot: Harness) -> None:
    await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
    await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)


def table_of(text: str, block: int = 1) -> dict[str, list[str]]:
    """Each organisation's figures as a table shows them (``block`` 1: the times, 2: the
    rates): its heading and column headings, then a name line and a values line each."""
    lines = [line for line in text.split("\n\n")[block].splitlines()[2:] if line.strip()]
    return {lines[i].strip(): lines[i + 1].split() for i in range(0, len(lines) - 1, 2)}


def last_photo(bot: Harness, chat: Any) -> bytes:
    message = [m for m in bot.fake.messages_to(chat) if "photo" in m][-1]
    content = bot.fake._files[message["photo"][-1]["file_id"]].content
    assert content is not None
    return bytes(content)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.postgres
async def test_the_quarter_s_figures_match_the_hand_count(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        ids = await seed(bot)
        # What the database holds: the paused clock moved B's deadlines by its two paused
        # working days; C and E's agency 生态环境局 never answered.
        b = await assignment_of(bot, ids["B"], "YB-IPC")
        assert (b.state, b.paused_days, b.dues) == (
            "acknowledged",
            2,
            {"ack": "2026-10-12", "reply": "2026-10-21"},
        )
        a = await assignment_of(bot, ids["A"], "CHIBEI-CENTER")
        assert (a.state, a.outcome, a.dues["ack"]) == ("resolved", "resolved", "2026-10-09")
        assert (await assignment_of(bot, ids["C"], "CHIBEI-CENTER")).state == "submitted"
        assert (await assignment_of(bot, ids["E"], "CBS-ENV")).state == "submitted"
        assert (await assignment_of(bot, ids["D"], "CBS-NR")).outcome == "head"

        office = admin(bot)
        await bot.say(office, "/stats 2026Q3")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        assert "2026年第三季度" in text
        assert bot.shown("Matters raised in the period: %(n)s", n=6) in text
        figures = table_of(text)
        # raised, received, ack median/p90, ack on time, reply median/p90, reply on time
        assert figures["延边中院"] == ["3", "3", "2.5/3", "67%", "6/6", "50%"]
        assert figures["自然资源局"] == ["2", "3", "—", "—", "2/2", "100%"]
        assert figures["生态环境局"] == ["1", "2", "—", "—", "—", "0%"]
        rate_of = table_of(text, 2)
        # resolution, head appearance, request reply, bulletin read
        assert rate_of["延边中院"] == ["100%", "—", "—", "—"]
        assert rate_of["自然资源局"] == ["—", "100%", "100%", "100%"]
        assert rate_of["生态环境局"] == ["—", "—", "0%", "0%"]

        # The chart: a PNG photo of a sane size, after the table.
        png = last_photo(bot, office)
        width, height = png_size(png)
        assert 600 <= width <= 2000 and 300 <= height <= 1200
        assert 10_000 < len(png) < 500_000

        # G was raised in October: the next quarter has it, and its acknowledgement.
        await bot.say(office, "/stats 2026-10-01 2026-12-31")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        assert bot.shown("Matters raised in the period: %(n)s", n=1) in text
        # Acknowledged the day it was raised; its outcome was due on 18 November (30 working
        # days) and is still missing on 25 November: late.
        assert table_of(text)["延边中院"] == ["0", "1", "0/0", "100%", "—", "0%"]

        # The same figures in English, with the short English names.
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        await bot.say(office, "/stats Q3")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        assert text.startswith("📊 Evaluation figures · Q3 2026")
        assert table_of(text)["Yanbian IPC"] == ["3", "3", "2.5/3", "67%", "6/6", "50%"]


async def test_the_drill_down_lists_the_matters_behind_the_figures(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        ids = await seed(bot)
        numbers = {
            key: (await rows(bot, t.cases, t.cases.c.id == case_id))[0].number
            for key, case_id in ids.items()
        }
        observer = bot.user(QIAN, "钱观察")
        await bot.say(observer, "/stats 2026年第三季度")
        table = bot.last_with_buttons(observer)
        assert bot.labels(table) == ["自然资源局", "生态环境局", "延边中院"]
        await bot.press(observer, "延边中院", message=table)
        listing = bot.last_text(observer)
        shown = [n for n in numbers.values() if n in listing]
        # Late first (B's reply, C's acknowledgement), then A; nothing of the others.
        order = sorted(shown, key=listing.index)
        assert order == [numbers["B"], numbers["C"], numbers["A"]]
        assert numbers["D"] not in listing and numbers["G"] not in listing
        assert "林地征收补偿争议" in listing  # the title: observers see it
        entry_b = listing.split(numbers["B"])[1].split("•")[0]
        assert "受理3个工作日 · 答复尚未 ⚠" in entry_b
        entry_a = listing.split(numbers["A"])[1].split("•")[0]
        assert "受理2个工作日 · 答复6个工作日" in entry_a and "⚠" not in entry_a

        # A forged period, an unknown organisation, a page that does not exist: refused.
        for data in (
            "st:o:20261301-20261231:YB-IPC",
            "st:o:20260701-20260930:NOPE",
            "st:p:20260701-20260930:YB-IPC:7",
            "st:x:20260701-20260930:YB-IPC",
        ):
            await bot.press(observer, message=table, data=data)
            assert bot.alerts(observer)[-1] == bot.shown("This button is no longer active.")


async def test_stats_are_the_office_s_and_the_observers_only(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        li = bot.user(LI, "李明")
        await bot.say(li, "/stats")
        refusal = bot.shown("Only the linkage office and observers can see the evaluation figures.")
        assert refusal in bot.last_text(li)
        assert not [m for m in bot.fake.messages_to(li) if "photo" in m]
        # A department head pressing a drill-down button (forwarded data) learns nothing.
        office = admin(bot)
        await bot.say(office, "/stats")
        await bot.press(
            li, message=bot.fake.last_message_to(office), data="st:o:20261101-20261130:YB-IPC"
        )
        assert bot.alerts(li)[-1] == bot.shown("This button is no longer active.")
        stranger = bot.user(STRANGER, "路人")
        await bot.say(stranger, "/stats")
        assert "您还不是成员" in bot.last_text(stranger)


@pytest.mark.parametrize(
    "period", ["2026Q5", "上上月", "2026-13-01 2026-12-31", "2026-03-31 2026-01-01", "1999"]
)
async def test_a_bad_period_gets_the_usage(committee: Committee, db_url: str, period: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, f"/stats {period}")
        usage = bot.last_text(office)
        assert usage.startswith(
            bot.shown(
                "Which period? Send /stats alone for this month, or follow it with a period, for example:"
            )
        )
        assert "/stats 2026Q3" in usage
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        await bot.say(office, f"/stats {period}")
        assert bot.last_text(office).startswith("Which period?")


async def test_an_empty_month_says_so_and_sends_no_chart(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/stats")
        assert bot.shown("No matters were raised in this period.") in bot.last_text(office)
        assert "2026年11月" in bot.last_text(office)
        assert not [m for m in bot.fake.messages_to(office) if "photo" in m]


def test_chinese_labels_render_with_the_bundled_font() -> None:
    """The label drawn in the shipped font differs from the same label in a font without
    CJK glyphs (DejaVu Sans, which draws the missing-glyph box and warns)."""
    label = "府院联动办公室按时受理率"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph warns: here it must not
        ours = charts.text_image(label)
    dejavu = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with pytest.warns(UserWarning, match="missing from font"):
        boxes = charts.text_image(label, dejavu)
    assert ours != boxes
    from PIL import Image, ImageChops

    a = Image.open(io.BytesIO(ours)).convert("L")
    b = Image.open(io.BytesIO(boxes)).convert("L")
    difference = ImageChops.difference(a, b)
    assert difference.getbbox() is not None
    # Every glyph drawn: twelve distinct characters leave far more ink than twelve boxes.
    ink = sum(a.histogram()[:128])
    box_ink = sum(b.histogram()[:128])
    assert ink > box_ink
    assert charts.FONT.is_file() and charts.FONT.stat().st_size < 5_000_000


def test_the_font_covers_gb2312_and_ships_with_its_licence() -> None:
    from fontTools.ttLib import TTFont

    cmap = TTFont(charts.FONT).getBestCmap()
    for text in ("府院联动办公室，化解率：（）「」。、", "ABCxyz0123%", "延边中院抚松法院"):
        assert all(ord(c) in cmap for c in text), text
    assert (charts.FONT.parent / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE") >= 1


# ----------------------------------------------------------------------------- quarterly report


async def quarterly_rows(bot: Harness) -> list[Any]:
    return await rows(bot, t.outbox, t.outbox.c.kind == "quarterly_report")


def photos(bot: Harness, chat: Any) -> list[Any]:
    return [m for m in bot.fake.messages_to(chat) if "photo" in m]


async def raise_and_acknowledge(bot: Harness) -> None:
    """A referral raised on Wednesday 25 November and acknowledged the next day: the fourth
    quarter's figures have something to show."""
    case_id = await raise_(
        bot, LI, "李明", "referral", {"title": "林地征收补偿争议", "addressee": "CHIBEI-CENTER"}
    )
    bot.clock.set(at(11, 26))
    await act(bot, ZHAO, "赵法官", case_id, "acknowledge")
    await bot.flush_outbox()


async def test_the_quarterly_report_is_posted_once_on_the_first_working_day(
    committee: Committee, db_url: str
) -> None:
    """1 January 2027 is a holiday and 2–3 January a weekend: the report on the fourth
    quarter of 2026 comes on Monday 4 January at the summary time, once, whatever the ticks
    and restarts."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        group = await bind_group(bot)
        await raise_and_acknowledge(bot)
        await bot.tick(datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI))  # New Year's Day
        await bot.tick(datetime(2027, 1, 4, 8, 0, tzinfo=SHANGHAI))  # before 08:30
        assert await quarterly_rows(bot) == []
        assert not photos(bot, group)
        await bot.tick(datetime(2027, 1, 4, 8, 31, tzinfo=SHANGHAI))
        (row,) = await quarterly_rows(bot)
        assert (row.key, row.status, row.chat_id) == ("quarterly:2026Q4", "sent", group.id)
        assert row.payload == {"first": "2026-10-01", "last": "2026-12-31"}
        report = [x for x in bot.texts(group) if x.startswith("📊")]
        assert len(report) == 1
        assert (
            bot.shown("Quarterly evaluation report · %(period)s", period="2026年第四季度")
            in report[0]
        )
        assert table_of(report[0])["延边中院"] == ["0", "1", "1/1", "100%", "—", "—"]
        assert "林地征收补偿争议" not in report[0]  # no matter is named in the group
        assert len(photos(bot, group)) == 1
        assert png_size(last_photo(bot, group))[0] >= 600
        await bot.tick(datetime(2027, 1, 4, 8, 45, tzinfo=SHANGHAI))
        assert len(await quarterly_rows(bot)) == 1
    # A restart the same morning: nothing new.
    async with running_bot(committee, db_url, fake=bot.fake, clock=bot.clock) as again:
        await again.tick(datetime(2027, 1, 4, 9, 30, tzinfo=SHANGHAI))
        assert len(await quarterly_rows(again)) == 1
        title = again.shown("Quarterly evaluation report · %(period)s", period="2026年第四季度")
        assert len([x for x in again.texts(group) if title in x]) == 1
        assert len(photos(again, group)) == 1


async def test_a_new_installation_does_not_post_last_quarter_s_report(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await bind_group(bot)
        # First tick ever in the middle of the first quarter of 2027: its report was due
        # on 4 January, before the bot ran; the next one is.
        await bot.tick(datetime(2027, 2, 1, 9, 0, tzinfo=SHANGHAI))
        assert await quarterly_rows(bot) == []
        await bot.tick(datetime(2027, 4, 1, 8, 31, tzinfo=SHANGHAI))
        (row,) = await quarterly_rows(bot)
        assert row.key == "quarterly:2027Q1"


async def test_reports_turned_off_are_not_posted(committee: Committee, db_url: str) -> None:
    quiet = dataclasses.replace(committee, reports=Reports(quarterly=False))
    async with running_bot(quiet, db_url) as bot:
        await bind_group(bot)
        await bot.tick(datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI))
        assert await quarterly_rows(bot) == []


async def test_a_minimal_group_reads_only_the_committee_s_totals(
    committee: Committee, db_url: str
) -> None:
    minimal = dataclasses.replace(committee, group_detail=GroupDetail.MINIMAL)
    async with running_bot(minimal, db_url) as bot:
        await cast(bot)
        group = await bind_group(bot)
        await raise_and_acknowledge(bot)
        await bot.tick(datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 8, 31, tzinfo=SHANGHAI))
        (report,) = [x for x in bot.texts(group) if x.startswith("📊")]
        assert bot.shown("On-time acknowledgement rate") + "：100%" in report
        assert bot.shown("On-time reply rate") + "：—" in report
        for name in ("延边", "自然资源局", "池北"):
            assert name not in report
        assert not photos(bot, group)


@pytest.mark.sqlite_only
async def test_the_period_s_rows_are_read_through_indexes(db_url: str) -> None:
    """The figures' queries start from the period's matters in ix_cases_created_number and
    reach addressees and steps through their case indexes: no table is scanned whole."""
    from sqlalchemy import text

    from bot.storage import stats as storage
    from bot.storage.db import Database

    db = Database(db_url)
    start = datetime(2026, 7, 1, tzinfo=SHANGHAI)
    end = datetime(2026, 10, 1, tzinfo=SHANGHAI)
    try:
        async with db.read() as conn:
            for query in (
                storage.assignments_query(start, end),
                storage.steps_query(start, end),
                storage.assignments_query(start, end, ["YB-IPC", "CHIBEI-CENTER"]),
                storage.steps_query(start, end, ["YB-IPC", "CHIBEI-CENTER"]),
            ):
                sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                plan = [str(r[3]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
                assert "SEARCH cases USING COVERING INDEX ix_cases_created_number" in plan[0]
                assert not [line for line in plan if line.startswith("SCAN")], plan
                assert any("ix_events_case" in line or "assignments" in line for line in plan)
    finally:
        await db.dispose()
