"""/stats and the quarterly report at their edges, as users met them: paused clocks, the
first report after an install, a refused chart, forged buttons, odd input, rounding,
deadlines of every kind and the wording of the drill-down."""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest

from bot.domain.committee import Committee
from bot.storage import schema as t
from handlers import courier
from tests.conftest import SHANGHAI
from tests.flows import LI, QIAN, ZHAO, admin, bind_group, rows
from tests.scenario import running_bot
from tests.test_stats import act, assignment_of, cast, raise_, table_of


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


async def test_a_forged_drill_down_period_is_refused_not_a_crash(
    committee: Committee, db_url: str
) -> None:
    """A drill-down button's period comes back from the client: one in year 1 or 9999
    (which /stats itself never accepts) must be refused like any other forged data,
    not raise OverflowError while turning local days into UTC moments."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        observer = bot.user(QIAN, "钱观察")
        await bot.say(observer, "/stats")
        message = bot.fake.last_message_to(observer)
        for data in ("st:o:00010101-00010131:YB-IPC", "st:o:99991201-99991231:YB-IPC"):
            await bot.press(observer, message=message, data=data)
            assert bot.alerts(observer)[-1] == bot.shown("This button is no longer active.")


async def test_a_period_on_the_next_line_is_read(committee: Committee, db_url: str) -> None:
    """「/stats」 and the period on the next line (as a phone's keyboard often sends it):
    the period asked for is shown, not this month's figures under another title."""
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/stats\n2026Q3")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        assert "2026年第三季度" in text, text


async def test_the_english_chart_of_two_dates_has_no_missing_glyph(
    committee: Committee, db_url: str
) -> None:
    """In English a period of two dates is titled 「2 Nov 2026 – 27 Nov 2026」: the en dash
    is not in the bundled font subset, so the chart's title shows the missing-glyph box
    (matplotlib warns 「Glyph 8211 … missing from font(s)」)."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        bot.clock.set(at(11, 2))
        case_id = await raise_(
            bot, LI, "李明", "referral", {"title": "林地征收补偿争议", "addressee": "CHIBEI-CENTER"}
        )
        bot.clock.set(at(11, 3))
        await act(bot, ZHAO, "赵法官", case_id, "acknowledge")
        bot.clock.set(at(11, 25))
        await bot.flush_outbox()
        office = admin(bot)
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await bot.say(office, "/stats 2026-11-02 2026-11-27")
        assert [m for m in bot.fake.messages_to(office) if "photo" in m]
        missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
        assert missing == []


async def test_a_rate_of_one_in_eight_is_rounded_half_up(committee: Committee, db_url: str) -> None:
    """Eight consultations to 延边中院 raised on Monday 2 November; one acknowledged the next
    day, seven never (due 5 November, late on the 25th). The on-time acknowledgement rate is
    1/8 = 12.5 %: rounded as anyone checks it by hand (四舍五入), 13 %, not Python's
    round-half-to-even 12 %."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        bot.clock.set(at(11, 2))
        ids = [
            await raise_(
                bot, LI, "李明", "consultation", {"title": f"研判事项{i}", "addressee": "YB-IPC"}
            )
            for i in range(8)
        ]
        bot.clock.set(at(11, 3))
        await act(bot, ZHAO, "赵法官", ids[0], "acknowledge")
        bot.clock.set(at(11, 25))
        await bot.flush_outbox()
        office = admin(bot)
        await bot.say(office, "/stats")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        assert table_of(text)["延边中院"][3] == "13%", text


async def test_the_drill_down_says_not_yet_answered_in_plain_chinese(
    committee: Committee, db_url: str
) -> None:
    """A line of the drill-down for a matter acknowledged but not yet answered reads
    「受理1个工作日 · 答复尚未」: 「尚未」 after the verb is not a sentence a reader finishes
    (「尚未答复」 is)."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        bot.clock.set(at(11, 2))
        case_id = await raise_(
            bot, LI, "李明", "consultation", {"title": "采砂许可法律风险", "addressee": "YB-IPC"}
        )
        bot.clock.set(at(11, 3))
        await act(bot, ZHAO, "赵法官", case_id, "acknowledge")
        bot.clock.set(at(11, 4))
        await bot.flush_outbox()
        observer = bot.user(QIAN, "钱观察")
        await bot.say(observer, "/stats")
        await bot.press(observer, "延边中院")
        listing = bot.last_text(observer)
        assert "受理1个工作日" in listing, listing
        assert "答复尚未" not in listing and "尚未答复" in listing, listing


async def test_the_first_quarter_s_report_comes_when_the_bot_started_just_before_it(
    committee: Committee, db_url: str
) -> None:
    """The bot (or the release with quarterly reports) starts on Saturday 2 January 2027 and
    ticks every minute from then on. The report on the fourth quarter falls due on Monday
    4 January at 08:30, while it is running: it must be posted. (The first tick after the
    due moment records "reports since" as that tick's time, later than the moment itself,
    and so the report is skipped as if it had been due before the bot ran.)"""
    async with running_bot(committee, db_url) as bot:
        group = await bind_group(bot)
        await bot.tick(datetime(2027, 1, 2, 9, 0, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 8, 29, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 8, 30, 40, tzinfo=SHANGHAI))  # a minute's tick
        (row,) = await rows(bot, t.outbox, t.outbox.c.kind == "quarterly_report")
        assert (row.key, row.status) == ("quarterly:2026Q4", "sent")
        title = bot.shown("Quarterly evaluation report · %(period)s", period="2026年第四季度")
        assert len([x for x in bot.texts(group) if title in x]) == 1


async def test_a_matter_waiting_for_the_raiser_is_not_counted_late(
    committee: Committee, db_url: str
) -> None:
    """A consultation raised on Monday 2 November; on Tuesday 3 November the court asks for
    more information (请求补充) and the raiser has not answered by 25 November. Its clock
    stands paused: no deadline runs (the database holds none), no alert says it is late,
    so the figures must not count it as a late acknowledgement of the court."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        bot.clock.set(at(11, 2))
        case_id = await raise_(
            bot, LI, "李明", "consultation", {"title": "采砂许可法律风险", "addressee": "YB-IPC"}
        )
        bot.clock.set(at(11, 3))
        await act(bot, ZHAO, "赵法官", case_id, "request_info", {"question": "请补充采砂范围。"})
        bot.clock.set(at(11, 25))
        await bot.flush_outbox()
        row = await assignment_of(bot, case_id, "YB-IPC")
        assert (row.state, row.due, row.paused_since is not None) == ("submitted", None, True)

        office = admin(bot)
        await bot.say(office, "/stats")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        # raised, received, ack median/p90, ack on time, reply median/p90, reply on time:
        # nothing answered, nothing late yet.
        assert table_of(text)["延边中院"] == ["0", "1", "—", "—", "—", "—"]
        # The drill-down does not mark it late either.
        await bot.press(office, "延边中院")
        listing = bot.last_text(office)
        assert "⚠" not in listing, listing


async def test_an_agency_late_on_a_handover_shows_in_its_on_time_rates(
    committee: Committee, db_url: str
) -> None:
    """裁执分离 is one of the eight mechanisms: 延边中院 hands a ruling to 自然资源局 on Monday
    2 November, to confirm receipt within 3 working days (5 November). By 25 November it
    never has: its receipt is late, as the morning summaries told it. The figures count only
    deadlines named "ack" and "reply", so the agency's on-time acknowledgement rate shows
    "—" (nothing to count) instead of 0 %."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        bot.clock.set(at(11, 2))
        viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
        outcome = await bot.svc.submit(
            viewer,
            "handover",
            {
                "ruling_number": "（2026）吉24行审12号",
                "title": "违法建筑强制拆除",
                "party": "某公司",
                "agency": "CBS-NR",
                "ruling": [{"media": "document", "file_id": "F-r", "file_unique_id": "U-r"}],
            },
            "review-handover-1",
        )
        assert outcome.changed
        row = await assignment_of(bot, outcome.case.id, "CBS-NR")
        assert (row.state, row.dues["receipt"]) == ("submitted", "2026-11-05")
        bot.clock.set(at(11, 25))
        await bot.flush_outbox()
        office = admin(bot)
        await bot.say(office, "/stats")
        text = [x for x in bot.texts(office) if x.startswith("📊")][-1]
        # raised, received, ack median/p90, ack on time, ...
        assert table_of(text)["自然资源局"][:4] == ["0", "1", "—", "0%"], text


async def test_a_refused_chart_does_not_post_the_quarterly_report_twice(
    committee: Committee, db_url: str
) -> None:
    """The report's text reaches the group, then Telegram answers the chart's sendPhoto with
    429 (the group's flood limit: the morning summary and the digest went out just before).
    The outbox resends the whole row — the report's text again, under a "may be a repeat"
    note — where only the chart was missing."""
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        group = await bind_group(bot)
        await bot.tick(datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI))
        bot.allowed_errors.add(429)
        bot.fake.inject(
            "sendPhoto", status=429, description="Too Many Requests: retry after 5", retry_after=5
        )
        # A referral acknowledged in the quarter: the report has a chart.
        bot.clock.set(at(12, 1))
        case_id = await raise_(
            bot, LI, "李明", "referral", {"title": "林地征收补偿争议", "addressee": "CHIBEI-CENTER"}
        )
        bot.clock.set(at(12, 2))
        await act(bot, ZHAO, "赵法官", case_id, "acknowledge")
        await bot.tick(datetime(2027, 1, 4, 8, 31, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 8, 40, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI))
        (row,) = await rows(bot, t.outbox, t.outbox.c.kind == "quarterly_report")
        assert row.status == "sent"
        title = bot.shown("Quarterly evaluation report · %(period)s", period="2026年第四季度")
        reports = [x for x in bot.texts(group) if title in x]
        assert len([m for m in bot.fake.messages_to(group) if "photo" in m]) == 1
        assert len(reports) == 1, reports


async def test_a_report_too_long_for_a_caption_resends_only_its_chart(
    committee: Committee, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report longer than a photo's caption goes as its text, then the chart. When the
    chart is refused (429), the row records that the text arrived, and the resend is the
    chart alone: one report text in the group, no "may be a repeat" copy."""
    monkeypatch.setattr(courier, "CAPTION_LIMIT", 100)  # this committee's report is short
    async with running_bot(committee, db_url) as bot:
        await cast(bot)
        group = await bind_group(bot)
        await bot.tick(datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI))
        bot.clock.set(at(12, 1))
        case_id = await raise_(
            bot, LI, "李明", "referral", {"title": "林地征收补偿争议", "addressee": "CHIBEI-CENTER"}
        )
        bot.clock.set(at(12, 2))
        await act(bot, ZHAO, "赵法官", case_id, "acknowledge")
        bot.allowed_errors.add(429)
        bot.fake.inject(
            "sendPhoto", status=429, description="Too Many Requests: retry after 5", retry_after=5
        )
        await bot.tick(datetime(2027, 1, 4, 8, 31, tzinfo=SHANGHAI))
        (row,) = await rows(bot, t.outbox, t.outbox.c.kind == "quarterly_report")
        # The text went; the row remembers it, and is due again (not a possible repeat).
        assert (row.status, row.uncertain) == ("retry", 0)
        assert row.payload["_delivered"]["parts"] == 1
        sent = bot.fake.messages_to(group)
        assert [m for m in sent if "photo" in m] == []
        title = bot.shown("Quarterly evaluation report · %(period)s", period="2026年第四季度")
        assert len([x for x in bot.texts(group) if title in x]) == 1

        await bot.tick(datetime(2027, 1, 4, 8, 40, tzinfo=SHANGHAI))
        await bot.tick(datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI))
        (row,) = await rows(bot, t.outbox, t.outbox.c.kind == "quarterly_report")
        assert row.status == "sent"
        assert row.payload == {"first": "2026-10-01", "last": "2026-12-31"}
        messages = bot.fake.messages_to(group)
        reports = [m for m in messages if title in m.get("text", "")]
        photos = [m for m in messages if "photo" in m]
        assert (len(reports), len(photos)) == (1, 1)
        assert row.message_id == reports[0]["message_id"]  # the report's first message
        assert "caption" not in photos[0]
        assert messages.index(reports[0]) < messages.index(photos[0])
