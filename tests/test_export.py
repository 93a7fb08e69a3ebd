"""/export: the office gets the matters raised in a period as an XLSX workbook (opened here
with openpyxl and read cell by cell) or a zip of CSV files; sheets past the row limit go on,
files past the upload limit come in parts; nobody else gets anything."""

from __future__ import annotations

import csv
import io
import secrets
import threading
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot.domain.committee import Committee, GroupDetail
from bot.domain.export import Cell, Column, exported_fields, matter_sheet
from bot.domain.mechanisms import default_registry
from bot.domain.models import Case, Role
from bot.domain.periods import Period
from bot.domain.privacy import Audience, Disclosure, of_kind
from bot.domain.stats import FIGURES
from bot.services import export as export_service
from bot.services.export import Limits
from bot.services.spreadsheets import CsvZip, XlsxBook
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import LI, WANG, ZHAO, admin, member, rows
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres

NR = "长白山管委会自然资源局"
ENV = "长白山管委会生态环境局"
COURT = "延边州中级人民法院"
APPLICANT = "张三丰"
PARTY = "某某建设有限公司"


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


async def viewer(bot: Harness, user_id: int, name: str) -> Any:
    return await bot.svc.viewer(user_id, name, None)


async def referral(bot: Harness, title: str) -> Case:
    values = {
        "title": title,
        "description": "征收补偿标准存在争议。",
        "applicant": APPLICANT,
        "respondent": "CBS-NR",
        "addressee": "YB-IPC",
        "urgency": "urgent",
        "reply_by": None,
        "documents": [],
    }
    done = await bot.svc.submit(
        await viewer(bot, LI, "李明"), "referral", values, secrets.token_hex(8)
    )
    return done.case


async def assistance(bot: Harness) -> Case:
    values = {
        "measure": "freeze",
        "docket": "（2026）吉24执12号",
        "party": PARTY,
        "request": "请协助冻结股权登记。",
        "agencies": ["CBS-NR", "CBS-ENV"],
        "reply_by": None,
        "documents": [],
    }
    done = await bot.svc.submit(
        await viewer(bot, ZHAO, "赵法官"), "assistance", values, secrets.token_hex(8)
    )
    return done.case


async def consultation(bot: Harness, title: str, description: str = "请求研判。") -> Case:
    values = {
        "title": title,
        "description": description,
        "addressee": "YB-IPC",
        "urgency": "normal",
        "reply_by": None,
        "documents": [],
    }
    done = await bot.svc.submit(
        await viewer(bot, LI, "李明"), "consultation", values, secrets.token_hex(8)
    )
    return done.case


async def seed(bot: Harness) -> dict[str, Case]:
    """October: one referral (outside November). November: a referral acknowledged and
    concluded, a request to two agencies with one reply, a consultation left open."""
    await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
    await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    bot.clock.set(at(10, 20))
    october = await referral(bot, "十月的旧争议")
    bot.clock.set(at(11, 2))
    dispute = await referral(bot, "集体土地征收补偿争议")
    bot.clock.set(at(11, 3, 9))
    zhao = await viewer(bot, ZHAO, "赵法官")
    await bot.svc.acknowledge(zhao, dispute.id)
    bot.clock.set(at(11, 10, 15))
    await bot.svc.act(zhao, dispute.id, None, "resolve", {"outcome": "resolved"})
    bot.clock.set(at(11, 5))
    request = await assistance(bot)
    bot.clock.set(at(11, 6, 11))
    nr = next(a for a in request.assignments if a.addressee == "CBS-NR")
    await bot.svc.act(
        await viewer(bot, LI, "李明"),
        request.id,
        nr.id,
        "reply",
        {"outcome": "done", "reason": "已冻结。", "files": []},
    )
    bot.clock.set(at(11, 20))
    question = await consultation(bot, "湿地保护区边界征询")
    bot.clock.set(at(11, 25))
    return {"october": october, "dispute": dispute, "request": request, "question": question}


def sent_documents(bot: Harness, user: FakeUser) -> list[tuple[str, bytes, str | None]]:
    """(file name, content, caption) of each document the bot sent the user."""
    found = []
    for call in bot.fake.calls_of("sendDocument"):
        if int(call.params["chat_id"]) == user.id and call.ok:
            document = call.params["document"]
            found.append((document.file_name, document.content, call.params.get("caption")))
    return found


def sheet_rows(book: Any, name: str) -> list[list[Any]]:
    return [list(r) for r in book[name].iter_rows(values_only=True)]


def by_number(table: list[list[Any]]) -> dict[str, list[list[Any]]]:
    found: dict[str, list[list[Any]]] = {}
    for row in table[1:]:
        found.setdefault(row[0], []).append(row)
    return found


async def same_as_stats(bot: Harness, card: list[list[Any]], first: date, last: date) -> None:
    """The scorecard sheet holds /stats' own figures for the period (the export adds them up
    chunk by chunk; /stats reads the period at once)."""
    figures = await bot.svc.scorecard(Period(first, last))
    expected = [[None, *[figures.overall.value(f.code) for f in FIGURES]]]
    expected += [[None, *[o.value(f.code) for f in FIGURES]] for o in figures.orgs]
    assert [[None, *r[1:]] for r in card[1:]] == expected
    assert [r[0] for r in card[2:]] == [
        bot.svc.committee.addressee_name(o.org, "zh_CN") for o in figures.orgs
    ]


def summary(bot: Harness, user: FakeUser) -> str:
    """The latest text the user has (the files come after it)."""
    return next(t for t in reversed(bot.texts(user)) if t)


async def export(bot: Harness, user: FakeUser, command: str, button: str) -> None:
    await bot.say(user, command)
    await bot.press(user, button)


async def test_the_office_exports_a_month_as_a_workbook_with_typed_cells(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        matters = await seed(bot)
        office = admin(bot)
        await bot.say(office, "/export 本月")
        prompt = bot.last_with_buttons(office)
        assert "2026年11月1日（周日）至2026年11月30日（周一）" in prompt["text"]
        assert bot.labels(prompt) == ["📊 XLSX", "🗂 CSV"]
        await bot.press(office, "XLSX")
        said = summary(bot, office)
        assert "共3件事项。" in said and "部分" not in said
        # "Preparing…" first, in place of the question, then the summary.
        edits = [c.params.get("text") for c in bot.fake.calls_of("editMessageText")]
        assert edits[-2] == "正在准备导出…" and "共3件事项。" in edits[-1]
        ((name, content, caption),) = sent_documents(bot, office)
        assert name == "府院联动事项导出_2026-11-01_2026-11-30.xlsx" and caption is None

        book = openpyxl.load_workbook(io.BytesIO(content))
        kinds = [bot.shown(k.label) for k in bot.svc.kinds]
        assert book.sheetnames == [*kinds, "操作记录", "绩效考核"]

        # The referral: header titles in Chinese, its fields with the personal one.
        referral_sheet = sheet_rows(book, bot.shown("Administrative dispute referral"))
        header = referral_sheet[0]
        assert header[:5] == ["编号", "事项状态", "提请单位", "提请人", "提请时间"]
        assert bot.shown("Applicant") in header and bot.shown("Respondent agency") in header
        (row,) = by_number(referral_sheet)[matters["dispute"].number]
        cell = dict(zip(header, row, strict=True))
        assert matters["october"].number not in by_number(referral_sheet)
        assert cell["事项状态"] == bot.shown("Concluded")
        assert cell["提请单位"] == NR and cell["提请人"] == "李明"
        assert cell[bot.shown("Applicant")] == APPLICANT
        assert cell[bot.shown("Urgency")] == bot.shown("Urgent")
        # Moments on the committee's clock (10:00 in Shanghai, not 02:00 UTC), as dates.
        assert cell["提请时间"] == datetime(2026, 11, 2, 10, 0)
        assert cell[bot.shown("Acknowledged on")] == datetime(2026, 11, 3, 9, 0)
        assert cell[bot.shown("Replied on")] == datetime(2026, 11, 10, 15, 0)
        assert cell[bot.shown("Closed on")] == datetime(2026, 11, 10, 15, 0)
        assert cell[bot.shown("Outcome")] == bot.shown("Resolved by agreement")
        assert cell[bot.shown("Working days paused")] == 0
        assert cell[bot.shown("Documents")] == 0
        (stored,) = await rows(bot, t.assignments, t.assignments.c.case_id == matters["dispute"].id)
        assert cell[bot.shown("Acknowledge by")] == datetime.combine(
            date.fromisoformat(stored.dues["ack"]), datetime.min.time()
        )
        ws = book[bot.shown("Administrative dispute referral")]
        raised = ws.cell(row=2, column=5)
        assert raised.is_date and raised.number_format == "yyyy-mm-dd hh:mm"
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref is not None

        # The request to two agencies: a row for each, each with its own reply.
        request_rows = by_number(sheet_rows(book, bot.shown("Enforcement assistance")))
        request_header = sheet_rows(book, bot.shown("Enforcement assistance"))[0]
        replies = {
            r[request_header.index(bot.shown("Addressee"))]: r[
                request_header.index(bot.shown("Replied on"))
            ]
            for r in request_rows[matters["request"].number]
        }
        assert replies == {NR: datetime(2026, 11, 6, 11, 0), ENV: None}
        assert bot.shown("Person or company concerned") in request_header
        assert PARTY in request_rows[matters["request"].number][0]

        # The audit trail of those matters only, each step with its time and who took it.
        audit = sheet_rows(book, "操作记录")
        assert audit[0] == [
            "编号",
            "机制",
            "时间",
            "操作",
            "操作人",
            "承办单位",
            "原状态",
            "新状态",
            "详情",
        ]
        dispute_steps = [r for r in audit[1:] if r[0] == matters["dispute"].number]
        assert [(r[2], r[3], r[4]) for r in dispute_steps] == [
            (datetime(2026, 11, 2, 10, 0), bot.shown("Submitted"), "李明"),
            (datetime(2026, 11, 3, 9, 0), bot.shown("Acknowledged"), "赵法官"),
            (datetime(2026, 11, 10, 15, 0), bot.shown("Outcome recorded"), "赵法官"),
        ]
        assert dispute_steps[0][8] is None  # the number is the first column already
        assert dispute_steps[2][8] == f"办理结果：{bot.shown('Resolved by agreement')}"
        assert not [r for r in audit[1:] if r[0] == matters["october"].number]
        replied = [r for r in audit[1:] if r[0] == matters["request"].number and r[5] == NR]
        assert replied[0][8] == "办理结果：已按要求协助；具体情况：已冻结。"

        # The scorecard: the evaluation figures of /stats, as numbers and rates.
        card = sheet_rows(book, "绩效考核")
        assert card[0] == ["单位", *[bot.shown(f.name) for f in FIGURES]]
        scores = {r[0]: dict(zip(card[0][1:], r[1:], strict=True)) for r in card[1:]}
        assert card[1][0] == "全部单位"
        raised, received = bot.shown("Matters raised"), bot.shown("Matters received")
        assert (scores["全部单位"][raised], scores["全部单位"][received]) == (3, 4)
        replies = bot.shown("Reply rate (assistance, bankruptcy)")
        assert (scores[NR][raised], scores[NR][received], scores[NR][replies]) == (2, 1, 1.0)
        # The Ecology Bureau never replied: five working days from 5 November are long past.
        (env,) = await rows(bot, t.assignments, t.assignments.c.addressee == "CBS-ENV")
        assert env.due < date(2026, 11, 25) and env.state == "submitted"
        assert scores[ENV][replies] == 0.0
        # The court acknowledged the referral the next working day and resolved it.
        court = scores[COURT]
        assert court[raised] == 1 and court[received] == 2
        assert court[bot.shown("Median time to acknowledge")] == 1
        assert court[bot.shown("Resolution rate (referrals)")] == 1.0
        assert court[bot.shown("Bulletin read rate")] is None  # nothing to count: empty
        rate = book["绩效考核"].cell(row=2, column=1 + [f.unit for f in FIGURES].index("rate") + 1)
        assert rate.number_format == "0.0%"
        await same_as_stats(bot, card, date(2026, 11, 1), date(2026, 11, 30))


async def test_an_english_office_member_gets_english_titles(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        matters = await seed(bot)
        office = admin(bot)
        await bot.say(office, "/lang")
        await bot.press(office, "English")
        await export(bot, office, "/export 2026-11-01 2026-11-30", "XLSX")
        assert "3 matters." in summary(bot, office)
        ((name, content, _),) = sent_documents(bot, office)
        assert name == "matters-export_2026-11-01_2026-11-30.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(content))
        assert book.sheetnames[-2:] == ["Audit trail", "Scorecard"]
        header = sheet_rows(book, "Administrative dispute referral")[0]
        assert header[:5] == [
            "Number",
            "Matter status",
            "Raising organisation",
            "Raiser",
            "Raised on",
        ]
        (row,) = by_number(sheet_rows(book, "Administrative dispute referral"))[
            matters["dispute"].number
        ]
        cell = dict(zip(header, row, strict=True))
        assert cell["Matter status"] == "Concluded" and cell["Applicant"] == APPLICANT
        assert cell["Raising organisation"] == committee.organisations["CBS-NR"].name_en


async def test_the_csv_zip_holds_one_utf8_file_per_sheet(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        matters = await seed(bot)
        office = admin(bot)
        await export(bot, office, "/export", "CSV")  # no period: this month
        ((name, content, _),) = sent_documents(bot, office)
        assert name == "府院联动事项导出_2026-11-01_2026-11-30.zip"
        archive = zipfile.ZipFile(io.BytesIO(content))
        kinds = [bot.shown(k.label) for k in bot.svc.kinds]
        assert archive.namelist() == [f"{n}.csv" for n in [*kinds, "操作记录", "绩效考核"]]
        raw = archive.read(bot.shown("Administrative dispute referral") + ".csv")
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert table[0][:3] == ["编号", "事项状态", "提请单位"]
        (row,) = [r for r in table[1:] if r[0] == matters["dispute"].number]
        assert row[4] == "2026-11-02 10:00" and APPLICANT in row
        assert matters["october"].number not in raw.decode("utf-8-sig")


async def test_a_sheet_past_the_row_limit_goes_on(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        matters = await seed(bot)
        office = admin(bot)
        runtime = bot.app.bot_data["runtime"]
        # Three rows a sheet, the header included: the audit trail's 6 steps need 3 sheets.
        runtime.export_limits = Limits(max_rows=3)
        await export(bot, office, "/export", "XLSX")
        ((_, content, _),) = sent_documents(bot, office)
        book = openpyxl.load_workbook(io.BytesIO(content))
        audits = [n for n in book.sheetnames if n.startswith("操作记录")]
        assert audits == ["操作记录", "操作记录 (2)", "操作记录 (3)"]
        steps = [r for n in audits for r in sheet_rows(book, n)[1:]]
        headers = {tuple(sheet_rows(book, n)[0]) for n in audits}
        assert len(headers) == 1 and len(steps) == 6
        events = await rows(
            bot,
            t.events,
            t.events.c.case_id.in_([m.id for k, m in matters.items() if k != "october"]),
        )
        assert len(events) == 6
        number_of = {m.id: m.number for m in matters.values()}
        assert sorted((r[0], r[2]) for r in steps) == sorted(
            (number_of[e.case_id], e.at.astimezone(SHANGHAI).replace(tzinfo=None)) for e in events
        )


async def test_a_file_past_the_upload_limit_comes_in_parts(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        office = admin(bot)
        runtime = bot.app.bot_data["runtime"]
        for n in range(30):  # hard to compress: every description differs
            await consultation(bot, f"研判事项{n}", secrets.token_hex(900))
        await export(bot, office, "/export", "XLSX")
        ((_, whole, _),) = sent_documents(bot, office)
        limit = int(len(whole) * 0.6)
        runtime.export_limits = Limits(max_bytes=limit)
        await export(bot, office, "/export", "XLSX")
        parts = sent_documents(bot, office)[1:]
        assert len(parts) >= 2
        total = len(parts)
        said = next(t for t in reversed(bot.texts(office)) if "件事项" in t)
        mb = f"{limit / 1_000_000:g}"
        assert (
            f"共30件事项。\n导出内容超过 Telegram 单个文件的上限（{mb} MB），因此分{total}部分发送。"
            in said
        )
        numbers: list[str] = []
        for index, (name, content, caption) in enumerate(parts, start=1):
            assert len(content) <= limit
            assert name == f"府院联动事项导出_2026-11-01_2026-11-30-{index}.xlsx"
            assert caption == f"第{index}部分，共{total}部分"
            book = openpyxl.load_workbook(io.BytesIO(content))
            numbers += list(by_number(sheet_rows(book, bot.shown("Major-matter consultation"))))
            assert sheet_rows(book, "绩效考核")[1:]  # the whole period's, in every part
        cases = await rows(bot, t.cases, t.cases.c.created_at >= at(11, 1))
        assert sorted(numbers) == sorted(c.number for c in cases) and len(numbers) == 30


async def test_chunks_read_every_matter_once_even_raised_at_the_same_moment(
    committee: Committee, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_service, "CHUNK", 7)  # 20 matters: three chunks and a bit
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        office = admin(bot)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        zhao = await viewer(bot, ZHAO, "赵法官")
        for n in range(20):  # the manual clock stands still: one moment for all
            raised = await consultation(bot, f"同时提请的事项{n}")
            if n % 3 == 0:
                await bot.svc.acknowledge(zhao, raised.id)
        await export(bot, office, "/export", "XLSX")
        ((_, content, _),) = sent_documents(bot, office)
        card = sheet_rows(openpyxl.load_workbook(io.BytesIO(content)), "绩效考核")
        await same_as_stats(bot, card, date(2026, 11, 1), date(2026, 11, 30))
        await export(bot, office, "/export", "CSV")
        (_, content, _) = sent_documents(bot, office)[-1]
        name = bot.shown("Major-matter consultation") + ".csv"
        text = zipfile.ZipFile(io.BytesIO(content)).read(name).decode("utf-8-sig")
        numbers = [r[0] for r in list(csv.reader(io.StringIO(text)))[1:]]
        cases = await rows(bot, t.cases)
        assert sorted(numbers) == sorted(c.number for c in cases) and len(numbers) == 20
        assert len({c.created_at for c in cases}) == 1


async def test_the_workbook_is_written_off_the_event_loop_s_thread(
    committee: Committee, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are written (and the file finished) in a worker thread: the loop stays free to
    answer other members while a long export runs."""
    threads: set[str] = set()
    write, close = XlsxBook.write, XlsxBook.close

    def spied_write(self: XlsxBook, key: str, rows: Any) -> None:
        threads.add(threading.current_thread().name)
        write(self, key, rows)

    def spied_close(self: XlsxBook) -> None:
        threads.add(threading.current_thread().name)
        close(self)

    monkeypatch.setattr(XlsxBook, "write", spied_write)
    monkeypatch.setattr(XlsxBook, "close", spied_close)
    async with running_bot(committee, db_url) as bot:
        await seed(bot)
        loop_thread = threading.current_thread().name
        await export(bot, admin(bot), "/export", "XLSX")
        assert sent_documents(bot, admin(bot))
        assert threads and loop_thread not in threads


async def test_a_second_press_on_the_same_prompt_makes_no_second_export(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await seed(bot)
        office = admin(bot)
        await bot.say(office, "/export 本月")
        prompt = bot.last_with_buttons(office)
        await bot.press(office, "XLSX", message=prompt)
        assert len(sent_documents(bot, office)) == 1
        # The double tap, pressed before the buttons went and handled after the first export
        # (one sender's updates run in order).
        (row,) = prompt["reply_markup"]["inline_keyboard"]
        csv = next(b["callback_data"] for b in row if "CSV" in b["text"])
        await bot.press(office, message=prompt, data=csv)
        assert bot.alerts(office)[-1] == "该导出已完成。如需再次导出，请发送 /export。"
        assert len(sent_documents(bot, office)) == 1
        # A new /export makes a new prompt that works.
        await bot.say(office, "/export 本月")
        await bot.press(office, "CSV")
        assert len(sent_documents(bot, office)) == 2


async def test_only_the_office_may_export(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await seed(bot)
        li = bot.user(LI, "李明")
        await bot.say(li, "/export 本月")
        refusal = "只有府院联动办公室可以导出事项：表格包含全部事项及申请人的个人信息。"
        assert bot.last_text(li) == refusal
        # A forged button press gets the refusal too, and no file.
        await bot.press(li, message=bot.fake.last_message_to(li), data="ex:xlsx:20261101-20261130")
        assert bot.alerts(li)[-1] == refusal
        stranger = bot.user(9001, "路人甲")
        await bot.say(stranger, "/export")
        assert "您还不是成员" in bot.last_text(stranger)
        assert not bot.fake.calls_of("sendDocument")


@pytest.mark.parametrize(
    ("period", "problem"),
    [
        ("下周", "这不是导出可识别的期间。"),
        ("2026-03-31 2026-01-01", "期间的结束日期早于开始日期。"),
        ("2026-02-30 2026-03-01", "该期间中没有这样的日期。"),
    ],
)
async def test_a_bad_period_is_explained(
    committee: Committee, db_url: str, period: str, problem: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, f"/export {period}")
        said = bot.last_text(office)
        assert said.startswith(problem) and "/export 2026Q3" in said
        assert not bot.fake.messages_to(office)[-1].get("reply_markup")


async def test_an_empty_period_still_has_every_sheet(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await export(bot, office, "/export 2025", "XLSX")
        assert "共0件事项。" in summary(bot, office)
        ((_, content, _),) = sent_documents(bot, office)
        book = openpyxl.load_workbook(io.BytesIO(content))
        assert len(book.sheetnames) == len(list(bot.svc.kinds)) + 2
        assert all(len(sheet_rows(book, n)) == 1 for n in book.sheetnames[:-1])
        ((whole, raised, received, *rest),) = sheet_rows(book, "绩效考核")[1:]
        assert (whole, raised, received) == ("全部单位", 0, 0) and set(rest) == {None}


def test_personal_fields_follow_the_privacy_rule_not_a_list_of_names() -> None:
    """The sheet's fields come from the kind's declaration through the disclosure: the
    office's (personal data allowed) has the applicant; one without personal data would not."""
    kind = default_registry()["referral"]
    office = of_kind(Audience.MEMBER, GroupDetail.FULL, default_registry(), "referral")
    assert office.personal
    names = [f.name for f in exported_fields(kind, office)]
    assert "applicant" in names and "respondent" in names and "documents" not in names
    without = Disclosure(GroupDetail.FULL, personal=False)
    assert "applicant" not in [f.name for f in exported_fields(kind, without)]
    titles = [c.title for c in matter_sheet(kind, without).columns]
    assert "Applicant" not in titles and "Respondent agency" in titles


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    columns = (Column("Title"), Column("Count", Cell.NUMBER), Column("Day", Cell.DATE))
    book = XlsxBook(tmp_path / "a.xlsx")
    book.add_sheet("s", "标题", columns, ["标题", "数", "日"])
    book.write("s", [['=HYPERLINK("http://x")', 3, date(2026, 11, 2)]])
    book.close()
    sheet = openpyxl.load_workbook(tmp_path / "a.xlsx")["标题"]
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == '=HYPERLINK("http://x")'
    assert sheet["B2"].value == 3 and sheet["C2"].value == datetime(2026, 11, 2)
    zipped = CsvZip(tmp_path / "a.zip")
    zipped.add_sheet("s", "标题", columns, ["标题", "数", "日"])
    zipped.write("s", [["=1+1", 3, date(2026, 11, 2)], ["-2", None, None]])
    zipped.close()
    text = zipfile.ZipFile(tmp_path / "a.zip").read("标题.csv").decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        ["标题", "数", "日"],
        ["'=1+1", "3", "2026-11-02"],
        ["'-2", "", ""],
    ]
