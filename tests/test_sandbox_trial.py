"""What a tester found playing the sandbox as its users would (a working week in the web chat):
who the office is told cannot answer, who sees an enforced party, when a hearing's appearance
is recorded, a resubmission's files and a spent request-more button. Each is played through
the page's HTTP API as in ``tests/test_sandbox.py``."""

from __future__ import annotations

import re

from sandbox.world import Sandbox
from tests import test_sandbox
from tests.test_sandbox import (
    Page,
    raise_assistance,
    raise_hearing_and_name_a_deputy,
    raise_referral,
    rows,
)

# The sandbox, its web chat and a page driving it, as in tests/test_sandbox.py.
sandbox = test_sandbox.sandbox

Box = tuple[Sandbox, Page, int]


async def test_the_office_is_told_only_of_the_agencies_nobody_can_answer_for(sandbox: Box) -> None:
    """A court's request to two agencies, one with a member (自然资源局, 孙局长) and one with
    nobody (生态环境局): the office's "no one can answer" alert names only 生态环境局, in
    words for an agency (not "none of its court staff ... ask the court directly")."""
    box, page, _ = sandbox
    await raise_assistance(page, "自然资源局", "生态环境局")
    assert rows(box, "select number from cases") == [("协助〔2026〕1号",)]
    await page.until(lambda s: any("暂无人可办理" in t for t in page.texts("office")))
    [alert] = [t for t in page.texts("office") if "暂无人可办理" in t]
    assert "生态环境局" in alert
    # On its own line below the matter, in an agency's words.
    assert "」\n该事项已发送至长白山管委会生态环境局，但该单位尚无人员加入本机器人。" in alert, (
        alert
    )
    assert rows(box, "select count(*) from outbox where kind = 'case_unstaffed'") == [(1,)]
    assert "自然资源局" not in alert, alert  # 孙局长 was notified and can answer
    assert "法院" not in alert, alert  # the addressees are agencies, not a court


async def test_the_party_to_enforcement_is_seen_only_by_those_the_form_promises(
    sandbox: Box,
) -> None:
    """The form tells the court who sees the party to enforcement (被执行人): the court, the
    agency and the office, which oversees every matter. The observer (陈观察员) reads the
    matter in /case without the name and cannot find it by the name; the others can."""
    box, page, _ = sandbox
    await page.say("clerk", "/new")
    await page.press("clerk", "裁执分离")
    await page.say("clerk", "（2026）吉24行审15号")
    await page.say("clerk", "限期拆除违法建筑")
    # The answered question loses its buttons first; the next question follows (the one
    # answered names 被执行人 too: wait for the question itself).
    await page.until(lambda s: "被执行人是谁" in page.texts("clerk")[-1])
    prompt = page.texts("clerk")[-1]
    assert "被执行人是谁（个人或单位）？仅法院、组织实施机关和府院联动办公室可见。" in prompt
    await page.say("clerk", "王某某")
    await page.press("clerk", "自然资源局")
    answer = await page.client.post(
        "/api/upload",
        data={"person": "clerk"},
        files={"file": ("裁定书.pdf", b"%PDF-1.4 y", "application/pdf")},
    )
    assert answer.status_code == 200, answer.text
    await page.until(lambda s: any("已收到1个文件" in t for t in page.texts("clerk")))
    await page.press("clerk", "完成")
    await page.press("clerk", "提请")
    assert rows(box, "select number from cases") == [("裁执〔2026〕1号",)]
    # The name is searchable only in the matter's document with personal data (slot 1023).
    assert rows(box, "select id % 1024 from search_docs where body like '%王某某%'") == [(1023,)]

    await page.say("observer", "/case 裁执〔2026〕1号")
    shown = page.texts("observer")[-1]
    assert "限期拆除违法建筑" in shown
    assert "王某某" not in shown and "被执行人" not in shown, shown
    for words in ("王某某", "王某", "限期拆除 王某某"):
        await page.say("observer", f"/find {words}")
        found = page.texts("observer")[-1]
        assert "没有找到" in found and "裁执〔2026〕1号" not in found, found
    await page.say("observer", "/find 限期拆除")
    assert "裁执〔2026〕1号" in page.texts("observer")[-1]

    for person in ("office", "clerk", "agency"):
        await page.say(person, "/case 裁执〔2026〕1号")
        assert "被执行人：王某某" in page.texts(person)[-1], person
        for words in ("王某某", "王某", "限期拆除 王某某"):
            await page.say(person, f"/find {words}")
            assert "裁执〔2026〕1号" in page.texts(person)[-1], (person, words)


async def test_a_stale_request_more_button_says_what_is_pending(sandbox: Box) -> None:
    """The clerk asks for more from /case: that /case message no longer offers ❓ 请求补充;
    an older /case message still does, and pressing it says a request is already waiting
    for the department — not "已由赵书记员于…受理。", which answers something else."""
    box, page, _ = sandbox
    await raise_referral(page)
    await page.press("clerk", "受理")
    await page.say("clerk", "/case 协调〔2026〕1号")
    older = page.messages("clerk")[-1]
    await page.say("clerk", "/case 协调〔2026〕1号")
    used = page.messages("clerk")[-1]
    assert older["id"] != used["id"]
    await page.press("clerk", "请求补充")
    await page.say("clerk", "请补充征收补偿协议原件")
    await page.until(lambda s: any("补充材料" in t for t in page.texts("dept")))
    assert rows(box, "select paused_since is not null from assignments") == [(1,)]

    def labels(message_id: int) -> list[str]:
        [message] = [m for m in page.messages("clerk") if m["id"] == message_id]
        return [b["text"] for row in message.get("keyboard") or [] for b in row]

    await page.until(lambda s: not any("请求补充" in label for label in labels(used["id"])))
    assert labels(used["id"]), "the other steps stay"
    [(r, c)] = [
        (r, c)
        for r, row in enumerate(older.get("keyboard") or [])
        for c, b in enumerate(row)
        if "请求补充" in b["text"]
    ]
    answers = len(page.state["answers"])
    await page.post(
        "/api/press", {"person": "clerk", "message_id": older["id"], "row": r, "column": c}
    )
    state = await page.until(lambda s: len(s["answers"]) > answers)
    assert state["answers"][-1]["text"] == "已请求补充，等待提请单位答复。"
    # Nothing was asked twice.
    assert rows(box, "select count(*) from events where action = 'request_info'") == [(1,)]


async def upload(page: Page, person: str, name: str, received: int) -> None:
    """``person`` sends a document through the page; the bot acknowledges ``received``."""
    answer = await page.client.post(
        "/api/upload",
        data={"person": person},
        files={"file": (name, b"%PDF-1.4 " + name.encode(), "application/pdf")},
    )
    assert answer.status_code == 200, answer.text
    await page.until(lambda s: any(f"已收到{received}个文件" in t for t in page.texts(person)))


async def test_a_resubmitted_matter_counts_the_files_it_keeps(sandbox: Box) -> None:
    """Returned, then ✏ 修改后重新提请: the form's summary counts the file the matter keeps
    (not 附件：—), and after two more are added the summary and the receipt count all three,
    as the court's new notice and the database do."""
    box, page, _ = sandbox
    await page.say("dept", "/new")
    await page.press("dept", "重大事项研判")
    await page.say("dept", "集体土地征收方案研判")
    await page.say("dept", "请求就征收程序合法性进行研判。")
    await page.press("dept", "延边中院")
    await page.press("dept", "一般")
    await page.press("dept", "不指定日期")
    await upload(page, "dept", "征收方案.pdf", 1)
    await page.press("dept", "完成")
    await page.press("dept", "提请")
    await page.press("clerk", "退回")
    await page.press("clerk", "材料不全")
    await page.press("dept", "修改后重新提请")
    [(files,)] = rows(box, "select count(*) from case_files")
    assert files == 1
    await page.until(lambda s: "附件：" in page.texts("dept")[-1])
    summary = page.texts("dept")[-1]
    assert "附件：1个文件" in summary and "附件：—" not in summary, summary

    await page.press("dept", "修改某项")
    await page.press("dept", "附件")
    await upload(page, "dept", "补偿协议.pdf", 1)
    await upload(page, "dept", "听证笔录.pdf", 2)
    await page.press("dept", "完成")
    await page.until(lambda s: "附件：3个文件" in page.texts("dept")[-1])
    await page.press("dept", "提请")
    receipt = page.texts("dept")[-1]
    assert "再次提请" in receipt or "重新提请" in receipt, receipt
    assert "附件：3个文件" in receipt, receipt
    assert rows(box, "select count(*) from case_files") == [(3,)]
    await page.until(lambda s: any("📎 3个文件" in t for t in page.texts("clerk")))


def record_buttons(page: Page) -> list[str]:
    return [
        b["text"]
        for m in page.messages("clerk")
        for row in m.get("keyboard") or []
        for b in row
        if "登记出庭情况" in b["text"]
    ]


async def test_a_hearing_appearance_is_recorded_after_the_hearing_not_before(sandbox: Box) -> None:
    """Once the agency names its deputy, two weeks before the hearing, the court is not
    offered 🏛 登记出庭情况 (in its notice or /case): the matter stays open and reminded. After
    the hearing its morning summary asks for the record, with the button, and it is kept."""
    box, page, _ = sandbox
    # From a working morning, whatever the hour the tests run at: at night the jumps below
    # would land on the hearing's own morning, before it.
    await page.post("/api/time", {"action": "next-morning"})
    await raise_hearing_and_name_a_deputy(page)
    await page.until(lambda s: any("已确定出庭人员" in t for t in page.texts("clerk")))
    await page.say("clerk", "/case 应诉〔2026〕1号")
    assert "刘副局长" in page.texts("clerk")[-1]
    assert record_buttons(page) == []
    assert rows(box, "select status from cases") == [("named",)]

    clerk_before = len(page.messages("clerk"))
    await page.post("/api/time", {"action": "workdays", "workdays": 10})
    await page.post("/api/time", {"action": "next-morning"})
    await page.until(
        lambda s: any("请登记" in t for t in page.texts("clerk")[clerk_before:]), timeout=60
    )
    # Each morning from the hearing's on (the jump lands after it; then the next morning).
    asks = [t for t in page.texts("clerk")[clerk_before:] if "请登记" in t]
    assert asks
    for ask in asks:
        assert "应诉〔2026〕1号" in ask
        assert re.search(
            r"已于\d{4}年\d{1,2}月\d{1,2}日（周[一二三四五六日]）09:00开庭，请登记长白山管委会自然资源局的出庭情况",
            ask,
        ), ask
    await page.press("clerk", "登记出庭情况")
    await page.press("clerk", "副职出庭")
    assert rows(box, "select state, outcome from assignments") == [("heard", "deputy")]
    assert rows(box, "select status from cases") == [("heard",)]
