"""The house style for Chinese texts, enforced: no ASCII punctuation or stray spaces beside
Chinese, in the catalog, in the templates' own text, and in what the bot really sends.

The precise rules are in ``tests/house_style.py``. A failure names the text (the msgid, the
template, or the chat and message) and shows the slip between ⟦ ⟧, placeholders as {…}.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from handlers.texts import Texts
from tests.conftest import SHANGHAI
from tests.flows import LI, STRANGER, ZHAO, admin, all_seen, bind_group, member, rows, seed_case
from tests.house_style import english_slips, slips
from tests.scenario import running_bot

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "locales/zh_CN/LC_MESSAGES/messages.po"
TEMPLATES = ROOT / "templates"
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
TAG = re.compile(r"<[^>]*>")


def visible(html: str) -> str:
    """A message as the reader sees it: no markup, entities resolved."""
    return unescape(TAG.sub("", html))


def report(found: list[tuple[str, str, str]]) -> str:
    return "house-style slips:\n" + "\n".join(
        f"  {where}: {rule}: {excerpt}" for where, rule, excerpt in found
    )


def test_every_chinese_catalog_entry_follows_the_house_style() -> None:
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    found = []
    checked = 0
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            checked += 1
            found.extend((f"msgid {msgid!r}", rule, ex) for rule, ex in slips(string))
    assert checked > 500
    assert not found, report(found)


def test_the_templates_own_text_follows_the_house_style() -> None:
    """Literal text in templates (Jinja expressions count as placeholders; comments are not
    shown to anyone)."""
    found = []
    for path in sorted(TEMPLATES.glob("*.html")):
        source = JINJA_COMMENT.sub("", path.read_text(encoding="utf-8"))
        for number, line in enumerate(source.splitlines(), 1):
            found.extend((f"templates/{path.name}:{number}", rule, ex) for rule, ex in slips(line))
    assert not found, report(found)


async def test_what_the_bot_sends_in_chinese_follows_the_house_style(
    committee: Committee, db_url: str
) -> None:
    """A working day of the committee in Chinese: a stranger asks for help, members join, a
    matter is raised, acknowledged, looked up, listed and summed up in the digest. Every text,
    button label and button answer the bot sends is checked."""
    async with running_bot(committee, db_url) as bot:
        stranger = bot.user(STRANGER, "路人")
        await bot.say(stranger, "/help")
        await bot.say(stranger, "/whoami")
        await bot.say(stranger, "你好")
        office = admin(bot)
        await bind_group(bot)
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.say(li, "/help")
        await bot.say(li, "/whoami")
        await bot.say(li, "/lang")
        case = await seed_case(bot, LI, "李明", "林地征收补偿方案研判")
        await bot.flush_outbox()
        await bot.press(zhao, "✅ 受理")
        await bot.flush_outbox()
        await bot.say(li, f"/case {case.number}")
        await bot.say(li, "/my")
        await bot.say(office, "/members")
        await bot.say(office, "/invites")
        await bot.say(office, "/digest")
        # A referral returned with a reason; another left unanswered until it is overdue.
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        await bot.flush_outbox()
        await bot.press(zhao, "↩️ 退回")
        await bot.say(zhao, "材料不全，请补充后重新提请。")
        await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.flush_outbox()
        # A joint meeting with that matter on the agenda.
        await bot.say(office, "/meeting")
        await bot.say(office, "第四季度府院联席会议")
        await bot.press(office, "后天")
        await bot.press(office, "15:00")
        await bot.say(office, "管委会三楼第一会议室")
        await bot.press(office, "延边中院")
        await bot.press(office, "完成")
        # (A matter put on the agenda is stored as "number title" by the meetings service:
        # data, not a text of ours; only a free item is added here.)
        await bot.say(office, "通报第四季度行政争议化解情况")
        await bot.press(office, "完成")
        await bot.press(office, "确认安排")
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        await bot.flush_outbox()
        await bot.say(zhao, "/my")
        found = []
        for call in bot.fake.calls:
            params = call.params
            texts = [visible(str(params[k])) for k in ("text", "caption") if params.get(k)]
            markup = params.get("reply_markup")
            if isinstance(markup, dict):
                texts += [
                    b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row
                ]
            for text in texts:
                found.extend(
                    (f"{call.method} to {params.get('chat_id')}", rule, ex)
                    for rule, ex in slips(text)
                )
        sent = [c for c in bot.fake.calls if c.method.lower() == "sendmessage"]
        assert len(sent) > 30
        seen = "\n".join(str(c.params.get("text", "")) for c in bot.fake.calls)
        for shown in ("已退回", "联席会议", "已逾期", "常见理由"):  # the scenario got that far
            assert shown in seen, shown
        assert not found, report(found)


async def test_what_the_bot_sends_in_english_has_no_chinese_punctuation(
    committee: Committee, db_url: str
) -> None:
    """The same day for members who chose English: no full-width mark leaks into their texts
    (a label's colon, a bracket, a quote)."""
    async with running_bot(committee, db_url) as bot:
        visitor = bot.user(STRANGER, "Visitor", lang="en")
        await bot.say(visitor, "/start")
        await bot.press(visitor, "English")
        since = {str(STRANGER): len(bot.fake.calls)}  # what each reads in English from here
        await bot.say(visitor, "/help")
        await bot.say(visitor, "/whoami")
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        for user in (li, zhao):
            await bot.say(user, "/lang")
            await bot.press(user, "English")
            since[str(user.id)] = len(bot.fake.calls)
            await bot.say(user, "/help")
            await bot.say(user, "/whoami")
        case = await seed_case(bot, LI, "李明", "林地征收补偿方案研判")
        await bot.flush_outbox()
        await bot.press(zhao, "✅ Acknowledge")
        await bot.flush_outbox()
        await bot.say(li, f"/case {case.number}")
        await bot.say(li, "/my")
        await seed_case(bot, LI, "李明", "某村集体土地征收补偿争议", kind="referral")
        await bot.flush_outbox()
        await bot.press(zhao, "↩️ Return")
        await bot.say(zhao, "材料不全，请补充后重新提请。")
        await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.flush_outbox()
        await bot.tick(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        await bot.flush_outbox()
        await bot.say(zhao, "/my")
        await bot.say(li, "/new")
        found = []
        checked = 0
        for n, call in enumerate(bot.fake.calls):
            params = call.params
            if n < since.get(str(params.get("chat_id")), len(bot.fake.calls)):
                continue
            texts = [visible(str(params[k])) for k in ("text", "caption") if params.get(k)]
            markup = params.get("reply_markup")
            if isinstance(markup, dict):
                texts += [
                    b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row
                ]
            for text in texts:
                checked += 1
                found.extend(
                    (f"{call.method} to {params.get('chat_id')}", rule, ex)
                    for rule, ex in english_slips(text)
                )
        seen = "\n".join(str(c.params.get("text", "")) for c in bot.fake.calls)
        for shown in ("returned by", "overdue", "acknowledged", "telegram user id"):
            assert shown in seen.lower(), shown
        assert checked > 30
        assert not found, report(found)


def test_full_width_marks_in_english_are_caught() -> None:
    assert [rule for rule, _ in english_slips("Title：滑雪场")] == ["full-width-in-english"]
    assert [rule for rule, _ in english_slips("Attachments（optional）")] == [
        "full-width-in-english",
        "full-width-in-english",
    ]
    assert english_slips("Case 研判〔2026〕1号 “林地征收，补偿” (optional): done.") == []


# Each kind of slip, caught; and what the style allows, passed.
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("已受理,请查看。", "ascii-punct"),
        ("所属单位:长白山", "ascii-punct"),
        ("请注意;期限将至", "ascii-punct"),
        ("确定吗?", "ascii-punct"),
        ("已撤回!", "ascii-punct"),
        ("长白山管委会(自然资源局)", "half-width-brackets"),
        ("%(name)s (%(org)s)已阅", "half-width-brackets"),
        ("所属单位： 长白山", "space"),
        ("已受理 。", "space"),
        ("已由 赵法官受理", "space"),
        ("已由%(name)s 于%(when)s受理", "space"),
        ("已逾期 %(n)s个工作日", "space"),
        ("{{ case.number }} 已受理", "space"),
        ("府院联动\u3000办公室", "space"),
        ("请点击“完成”。", "quotes"),
        ("府院联动\u00a0办公室", "space"),
    ],
)
def test_each_kind_of_slip_is_caught(text: str, rule: str) -> None:
    assert rule in [found for found, _ in slips(text)], slips(text)


@pytest.mark.parametrize(
    "text",
    [
        "✅ 受理",
        "请发送 /case 查看。",
        "该文件超过%(max_mb)s MB，未能添加。",
        "会议时间：2026年11月27日 15:00",
        "您的 Telegram 用户 ID 为%(id)s。",
        "赵法官（延边州中级人民法院）于2026年12月2日（周三）受理。",
        "请打开 https://t.me/x?start=c_12 查看。",
        "%(name)s (%(org)s)",
        "• 研判〔2026〕12号「林地征收」\n  待受理 · 延边州中级人民法院",
    ],
)
def test_what_the_style_allows_passes(text: str) -> None:
    assert slips(text) == []


def test_a_slip_is_reported_with_its_place() -> None:
    ((rule, excerpt),) = slips("请于 %(due)s前答复")
    assert rule == "space"
    assert excerpt == "请于⟦ ⟧{…}前答复"


async def test_a_returned_matter_is_not_called_closed(committee: Committee, db_url: str) -> None:
    """The office picks the agenda of a joint meeting from open matters; one is returned
    while the list is on screen. Pressing it says it is no longer being handled — not
    「该事项已办结」, which a returned matter is not."""
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "林地征收补偿方案研判")
        await bot.flush_outbox()
        await bot.say(office, "/meeting")
        await bot.say(office, "第四季度府院联席会议")
        await bot.press(office, "后天")
        await bot.press(office, "15:00")
        await bot.say(office, "管委会三楼第一会议室")
        await bot.press(office, "延边中院")
        await bot.press(office, "完成")
        agenda = bot.last_with_buttons(office)
        # The title as much as fits a phone's row beside the number.
        assert f"☐ {case.number}「林地征收…」" in bot.labels(agenda)

        await bot.press(zhao, "退回")
        await bot.say(zhao, "材料不全，请补充后重新提请。")
        (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
        assert row.state == "returned"

        await bot.press(office, case.number, message=agenda)
        assert bot.alerts(office)[-1] == "该事项已不在办理中。"
        assert "已办结" not in all_seen(bot, office)


def test_english_counts_use_plural_forms(committee: Committee) -> None:
    """ "1 file", "2 files" — never "file(s)"; Chinese has one form."""
    texts = Texts(committee, SHANGHAI)
    assert texts.tn("en", "%(n)s file", "%(n)s files", 1) == "1 file"
    assert texts.tn("en", "%(n)s file", "%(n)s files", 2) == "2 files"
    assert texts.tn("zh_CN", "%(n)s file", "%(n)s files", 2) == "2个文件"
    assert texts.labels("en").files(1) == "1 file"
    assert texts.labels("zh_CN").files(3) == "3个文件"
    with CATALOG.open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    # Every message shown in English, in the catalog or not: the ids in code and templates.
    from tests.test_i18n import used_msgids

    hedged = sorted(m for m in used_msgids() if "(s)" in m) + sorted(
        m.id for m in catalog if isinstance(m.id, str) and "(s)" in m.id and m.id in used_msgids()
    )
    assert hedged == [], "use ngettext / Texts.tn with singular and plural ids instead"
