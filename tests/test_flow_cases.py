"""Looking matters up: /case in its spellings and refusals, deep links from the group post,
/my page by page, and the documents button."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.fakes.telegram import FakeUser
from tests.flows import (
    LI,
    QIAN,
    STRANGER,
    SUN,
    WANG,
    ZHAO,
    admin,
    all_seen,
    bind_group,
    member,
    not_member_text,
    rows,
    seed_case,
)
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


TITLE = "某村土地征收补偿争议"
NUMBER = "协调〔2026〕1号"
CANNOT_VIEW = "⚠ 您无权查看该事项。"
NOT_FOUND = "⚠ 未找到该编号对应的事项。"
BAD_NUMBER = "⚠ 这不是有效的编号。编号格式如：协调〔2026〕12号。"
USAGE = "请在命令后附上编号，例如：\n/case 协调〔2026〕12号"
LISTS = ["• 全部", "待我办理", "我方提请", "已逾期"]  # /my's lists, the one shown marked
PRIVATE_ONLY = "请在与我的私聊中使用此功能：https://t.me/fuyuan_test_bot"


def shown_label(bot: Harness, msgid: str) -> str:
    """A button label as the bot shows it in Chinese (the catalog may still lack some)."""
    return bot.app.bot_data["runtime"].texts.t("zh_CN", msgid)  # type: ignore[no-any-return]


def court_follow_ups(bot: Harness) -> list[str]:
    """What the answering court may also do with an open matter, after its primary buttons."""
    return [
        shown_label(bot, msgid)
        for msgid in ("📝 Add a note", "❓ Ask for more", "👤 Assign a handler")
    ]


def raiser_follow_ups(bot: Harness) -> list[str]:
    """What the raising department may do with its matter while it is open."""
    return [shown_label(bot, msgid) for msgid in ("📝 Add a note", "✖ Withdraw")]


async def cast(bot: Harness) -> dict[str, FakeUser]:
    return {
        "li": await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        "wang": await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        "zhao": await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        "sun": await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF),
        "qian": await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER),
    }


async def raise_referral(bot: Harness, li: FakeUser, *, files: bool = False) -> None:
    await bot.say(li, "/new")
    await bot.press(li, "行政争议协调化解")
    await bot.say(li, TITLE)
    await bot.say(li, "申请人对征收补偿标准有异议，已多次信访。")
    await bot.say(li, "张三")
    await bot.press(li, "自然资源局")
    await bot.press(li, "池北行政争议协调化解中心")
    await bot.press(li, "紧急")
    await bot.press(li, "5个工作日")
    if files:
        await bot.send_document(li, "补偿方案.pdf", 120_000)
        await bot.send_photo(li, 300_000)
    await bot.press(li, "完成")
    await bot.press(li, "提请")
    assert NUMBER in bot.last_text(li)


APPLICANT_LINE = "申请人：张三"


def details(status: str, *, personal: bool = True) -> list[str]:
    """The lines /case shows for the referral raised above, in their order; the applicant
    (personal data) only to those who may see it, not to an observer."""
    lines = [
        f"{NUMBER} · 行政争议协调化解",
        f"状态：{status}",
        "提请单位：长白山管委会自然资源局（李明）",
        f"标题：{TITLE}",
        "情况说明：申请人对征收补偿标准有异议，已多次信访。",
        APPLICANT_LINE,
        "被申请行政机关：长白山管委会自然资源局",
        "接收单位：池北行政争议协调化解中心",
        "紧急程度：紧急",
        "期望答复日期：2026年12月2日（周三）",
    ]
    return lines if personal else [line for line in lines if line != APPLICANT_LINE]


def shows_details(text: str, status: str, *, personal: bool = True) -> bool:
    """Every detail line is there, whole and in order (other lines may come between); an
    observer (``personal=False``) is not shown the applicant."""
    lines = iter(text.splitlines())
    return (
        text.startswith(f"{NUMBER} · ")
        and all(
            any(line == wanted for line in lines) for wanted in details(status, personal=personal)
        )
        and (personal or "张三" not in text)
    )


# ---------------------------------------------------------------------------- /case


async def test_case_accepts_the_usual_spellings(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = (await cast(bot))["li"]
        await raise_referral(bot, li)
        spellings = [
            "协调〔2026〕1号",
            "协调[2026]1",
            "协调[2026]1号",
            "协调2026-1",
            "协调2026/1",
            "协调（2026）1号",
            "协调(2026)1",
            "协调【2026】第1号",
            "协调 〔2026〕 1 号",
            "协调〔２０２６〕１号",  # full-width digits from a Chinese keyboard
            "协调〔2026〕0001号",
        ]
        for spelling in spellings:
            before = len(bot.texts(li))
            await bot.say(li, f"/case {spelling}")
            (shown,) = bot.new_texts(li, before)
            assert shows_details(shown, "待受理"), spelling
        (case,) = await rows(bot, t.cases)
        assert (case.number, case.kind, case.year, case.seq) == (NUMBER, "referral", 2026, 1)
        assert len(await rows(bot, t.events, t.events.c.case_id == case.id)) == 1


async def test_case_refuses_unknown_numbers_and_garbage(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = (await cast(bot))["li"]
        await raise_referral(bot, li)
        answers = {
            "/case 协调〔2026〕2号": NOT_FOUND,
            "/case 协调〔2025〕1号": NOT_FOUND,
            "/case 研判〔2026〕1号": NOT_FOUND,  # the right number of the wrong kind
            "/case hello": BAD_NUMBER,
            "/case 调解〔2026〕1号": BAD_NUMBER,
            "/case 协调〔26〕1号": BAD_NUMBER,
            "/case 1": BAD_NUMBER,
            "/case <b>协调</b>": BAD_NUMBER,
            "/case": USAGE,
            "/case    ": USAGE,
        }
        for command, answer in answers.items():
            await bot.say(li, command)
            assert bot.last_text(li) == answer, command
        assert not any(TITLE in text for text in bot.texts(li)[-len(answers) :])
        assert [c.number for c in await rows(bot, t.cases)] == [NUMBER]


async def test_case_is_refused_to_those_who_may_not_see_it(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        await raise_referral(bot, people["li"])
        # Another department, and a court that does not staff the Chibei center.
        for name in ("wang", "sun"):
            user = people[name]
            await bot.say(user, f"/case {NUMBER}")
            assert bot.last_text(user) == CANNOT_VIEW, name
            await bot.press(user, message=bot.fake.last_message_to(user), data="c:view:1")
            assert bot.alerts(user)[-1] == "您无权查看该事项。"
            assert TITLE not in all_seen(bot, user) and "张三" not in all_seen(bot, user)
        stranger = bot.user(STRANGER, "路人甲")
        await bot.say(stranger, f"/case {NUMBER}")
        assert bot.last_text(stranger) == not_member_text(STRANGER)
        (case,) = await rows(bot, t.cases)
        (assignment,) = await rows(bot, t.assignments)
        assert case.status == "submitted" and assignment.state == "submitted"
        assert assignment.acted_by is None
        assert len(await rows(bot, t.events, t.events.c.case_id == case.id)) == 1


async def test_answering_court_office_and_observer_see_details_and_history(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li, zhao = people["li"], people["zhao"]
        await raise_referral(bot, li)

        await bot.say(zhao, f"/case {NUMBER}")
        shown = bot.fake.last_message_to(zhao)
        assert shows_details(shown["text"], "待受理")
        assert not any(line.startswith("附件") for line in shown["text"].splitlines())
        assert shown["text"].endswith("\n\n办理记录\n• 2026年11月25日（周三）10:00 — 已提请 · 李明")
        # The answering court may act on it from here: first its answers, then follow-ups.
        labels = bot.labels(shown)
        assert labels[:2] == ["✅ 受理", "↩️ 退回"]
        assert sorted(labels[2:]) == sorted(court_follow_ups(bot))

        bot.clock.advance(timedelta(hours=2, minutes=5))
        await bot.press(zhao, "退回", message=shown)
        await bot.say(zhao, "不属于行政争议受理范围。")
        history = (
            "办理记录\n"
            "• 2026年11月25日（周三）10:00 — 已提请 · 李明\n"
            "• 2026年11月25日（周三）12:05 — 已退回 · 赵法官\n"
            "  理由：不属于行政争议受理范围。"  # the return's input, under its line
        )
        # Nothing is left for the court or the observer to do (and there are no documents);
        # the raiser may edit and resubmit it, the office may reopen it.
        offered = [
            (zhao, []),
            (admin(bot), [shown_label(bot, "🔄 Reopen")]),
            (people["qian"], []),
            (li, [shown_label(bot, "✏ Edit and resubmit")]),
        ]
        for user, buttons in offered:
            await bot.say(user, f"/case {NUMBER}")
            shown = bot.fake.last_message_to(user)
            observer = user is people["qian"]
            assert shows_details(shown["text"], "已退回", personal=not observer), user.first_name
            assert "退回理由：不属于行政争议受理范围。" in shown["text"]
            assert shown["text"].endswith(history), user.first_name
            assert bot.labels(shown) == buttons, user.first_name
            if not buttons:
                assert "reply_markup" not in shown, user.first_name
        events = await rows(bot, t.events, t.events.c.case_id == 1)
        assert [(e.action, e.actor_user_id) for e in events] == [
            ("submitted", LI),
            ("return", ZHAO),
        ]


async def test_case_in_a_group_is_sent_to_the_private_chat(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = (await cast(bot))["li"]
        group = await bind_group(bot)
        await raise_referral(bot, li)
        posts = len(bot.texts(group))
        before = len(bot.texts(li))
        await bot.say(li, f"/case {NUMBER}", chat=group)
        assert bot.new_texts(group, posts) == [PRIVATE_ONLY]
        assert TITLE not in PRIVATE_ONLY
        assert len(bot.texts(li)) == before
        (case,) = await rows(bot, t.cases)
        assert (case.number, case.title, case.status) == (NUMBER, TITLE, "submitted")


async def test_the_group_posts_deep_link(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        await raise_referral(bot, people["li"])
        post = bot.fake.last_message_to(group)
        assert post["text"].startswith(f"📌 新事项：{NUMBER} · 行政争议协调化解")
        ((label, url),) = bot.fake.buttons(post)[0]
        assert label == "在私聊中打开"
        match = re.fullmatch(r"https://t\.me/fuyuan_test_bot\?start=(c_\d+)", url)
        assert match is not None
        payload = match.group(1)
        (case,) = await rows(bot, t.cases)
        assert payload == f"c_{case.id}"

        for name in ("zhao", "qian", "li"):
            user = people[name]
            await bot.say(user, f"/start {payload}")
            assert shows_details(bot.last_text(user), "待受理", personal=name != "qian"), name
        for name in ("wang", "sun"):
            user = people[name]
            await bot.say(user, f"/start {payload}")
            assert bot.last_text(user) == CANNOT_VIEW, name
            assert TITLE not in all_seen(bot, user)
        stranger = bot.user(STRANGER, "路人甲")
        await bot.say(stranger, f"/start {payload}")
        assert bot.last_text(stranger) == not_member_text(STRANGER)
        await bot.say(people["zhao"], "/start c_999")
        assert bot.last_text(people["zhao"]) == NOT_FOUND
        (case,) = await rows(bot, t.cases)
        assert case.status == "submitted"


# ---------------------------------------------------------------------------- /my


def numbers_on(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"研判〔2026〕(\d+)号", text)]


async def test_my_lists_open_matters_five_per_page(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li, zhao, wang = people["li"], people["zhao"], people["wang"]
        for n in range(1, 13):
            case = await seed_case(bot, LI, "李明", f"第{n}件研判事项")
            assert case.number == f"研判〔2026〕{n}号"
            bot.clock.advance(timedelta(minutes=1))

        # All are due the same day (Monday 30 November): the one raised first comes first.
        await bot.say(li, "/my")
        page = bot.last_with_buttons(li)
        assert page["text"].startswith("在办事项（12） · 第1/3页\n")
        assert numbers_on(page["text"]) == [1, 2, 3, 4, 5]
        assert (
            "• 研判〔2026〕1号「第1件研判事项」\n  待受理 · 延边州中级人民法院 · 期限：2026年11月30日（周一）"
            in (page["text"])
        )
        assert bot.labels(page) == [f"研判〔2026〕{n}号" for n in (1, 2, 3, 4, 5)] + [
            "下一页 ▶",
            *LISTS,
        ]

        await bot.press(li, "下一页 ▶", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"].startswith("在办事项（12） · 第2/3页\n")
        assert numbers_on(page["text"]) == [6, 7, 8, 9, 10]
        assert bot.labels(page)[-6:] == ["◀ 上一页", "下一页 ▶", *LISTS]

        await bot.press(li, "下一页 ▶", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"].startswith("在办事项（12） · 第3/3页\n")
        assert numbers_on(page["text"]) == [11, 12]
        assert bot.labels(page) == ["研判〔2026〕11号", "研判〔2026〕12号", "◀ 上一页", *LISTS]

        await bot.press(li, "◀ 上一页", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert numbers_on(page["text"]) == [6, 7, 8, 9, 10]

        # A number button opens the matter.
        await bot.press(li, "研判〔2026〕7号", message=page)
        assert bot.last_text(li).startswith("研判〔2026〕7号 · 重大事项研判\n状态：待受理")

        # The court acknowledges #3 and returns #4.
        await bot.say(zhao, "/case 研判〔2026〕3号")
        await bot.press(zhao, "受理")
        await bot.say(zhao, "/case 研判〔2026〕4号")
        await bot.press(zhao, "退回")
        await bot.say(zhao, "请补充材料后重新提交。")
        statuses = {c.seq: c.status for c in await rows(bot, t.cases)}
        assert (statuses[3], statuses[4]) == ("acknowledged", "returned")

        await bot.say(li, "/my")
        page = bot.last_with_buttons(li)
        assert page["text"].startswith("在办事项（11） · 第1/3页\n")
        assert numbers_on(page["text"]) == [1, 2, 5, 6, 7]
        assert "第4件研判事项" not in page["text"]
        await bot.press(li, "下一页 ▶", message=page)
        await bot.press(li, "下一页 ▶", message=page)
        page = bot.fake.message(li, page["message_id"])
        # Nearest deadline first: #3's reply is due after the others' acknowledgement.
        assert numbers_on(page["text"]) == [3]
        assert (
            "• 研判〔2026〕3号「第3件研判事项」\n  已受理 · 延边州中级人民法院 · 期限：2026年12月9日（周三）"
            in (page["text"])
        )

        # The answering court sees the same open matters; another department none.
        await bot.say(zhao, "/my")
        assert bot.last_text(zhao).startswith("在办事项（11） · 第1/3页")
        await bot.say(wang, "/my")
        assert bot.last_text(wang) == "在办事项（0）\n您暂无在办事项。"
        assert "reply_markup" not in bot.fake.last_message_to(wang)


async def test_my_page_buttons_cannot_be_forged(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        for n in range(1, 7):
            await seed_case(bot, LI, "李明", f"第{n}件研判事项")
        wang = people["wang"]
        await bot.say(wang, "/my")
        message = bot.fake.last_message_to(wang)
        # Another department's member asking for page 2 sees only their own (empty) list.
        await bot.press(wang, message=message, data="my:1")
        assert "研判事项" not in bot.fake.message(wang, message["message_id"])["text"]
        await bot.press(wang, message=message, data="my:x")
        assert bot.alerts(wang)[-1] == "该按钮已失效。"
        await bot.press(wang, message=message, data="c:view:2")
        assert bot.alerts(wang)[-1] == "您无权查看该事项。"
        assert "研判事项" not in all_seen(bot, wang)
        cases = await rows(bot, t.cases)
        assert len(cases) == 6 and {c.raiser_org for c in cases} == {"CBS-NR"}


# ---------------------------------------------------------------------------- documents


async def test_the_documents_button_sends_the_stored_files(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        li, zhao, wang = people["li"], people["zhao"], people["wang"]
        await raise_referral(bot, li, files=True)
        files = await rows(bot, t.case_files)
        assert [(f.media, f.file_name) for f in files] == [
            ("document", "补偿方案.pdf"),
            ("photo", None),
        ]
        note = bot.last_with_buttons(zhao)
        assert bot.labels(note) == ["✅ 受理", "↩️ 退回", "📎 附件（2）"]

        await bot.press(zhao, "附件", message=note)
        documents = bot.fake.calls_of("sendDocument")
        photos = bot.fake.calls_of("sendPhoto")
        assert [(c.params["chat_id"], c.params["document"]) for c in documents] == [
            (str(ZHAO), files[0].file_id)
        ]
        assert [(c.params["chat_id"], c.params["photo"]) for c in photos] == [
            (str(ZHAO), files[1].file_id)
        ]
        sent = bot.fake.messages_to(zhao)[-2:]
        assert sent[0]["document"]["file_name"] == "补偿方案.pdf"
        assert sent[0]["caption"] == NUMBER and sent[1]["caption"] == NUMBER
        assert sent[1]["photo"][-1]["file_id"] == files[1].file_id

        # The raiser gets them from /case; someone who may not see the matter gets nothing.
        await bot.say(li, f"/case {NUMBER}")
        shown = bot.last_with_buttons(li)
        assert bot.labels(shown) == [*raiser_follow_ups(bot), "📎 附件（2）"]
        assert "📎 2个文件" in shown["text"]
        await bot.press(li, "附件", message=shown)
        assert len(bot.fake.calls_of("sendDocument")) == 2
        assert bot.fake.messages_to(li)[-1]["photo"][-1]["file_id"] == files[1].file_id

        await bot.say(wang, "/my")
        await bot.press(wang, message=bot.fake.last_message_to(wang), data="c:files:1")
        assert bot.alerts(wang)[-1] == "您无权查看该事项。"
        assert len(bot.fake.calls_of("sendDocument")) == 2
        assert all(c.params["chat_id"] != str(WANG) for c in bot.fake.calls_of("sendPhoto"))


async def test_the_office_is_told_of_a_court_nobody_answers_for_in_a_court_s_words(
    committee: Committee, db_url: str
) -> None:
    """A consultation to the intermediate court, none of whose staff has joined: the office's
    alert names the court and speaks of court staff (an agency's alert speaks of its
    members, tests/test_sandbox_trial.py)."""
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.flush_outbox()
        (queued,) = await rows(bot, t.outbox, t.outbox.c.kind == "case_unstaffed")
        assert queued.payload["addressees"] == ["YB-IPC"]
        alert = bot.last_text(admin(bot))
        assert alert.startswith("⚠ 此事项暂无人可办理") and case.number in alert
        assert "该事项已发送至延边州中级人民法院，但该单位尚无法院工作人员加入本机器人。" in alert
        assert "尚无人员加入" not in alert
