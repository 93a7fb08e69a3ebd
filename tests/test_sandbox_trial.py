"""What a tester found playing the sandbox as its users would (a working week in the web chat):
who the office is told cannot answer, who sees an enforced party, when a hearing's appearance
is recorded, a resubmission's files and a spent request-more button. Each is played through
the page's HTTP API as in ``tests/test_sandbox.py``."""

from __future__ import annotations

from sandbox.world import Sandbox
from tests import test_sandbox
from tests.test_sandbox import Page, rows

# The sandbox, its web chat and a page driving it, as in tests/test_sandbox.py.
sandbox = test_sandbox.sandbox

Box = tuple[Sandbox, Page, int]


# A full-width inline button in a phone's chat (the web chat's column is phone-sized) shows
# about 30 columns (a Latin letter one, a Han character two) before it is cut with "…".
async def raise_assistance(page: Page, *agencies: str) -> None:
    """The court clerk raises an enforcement-assistance request to ``agencies``."""
    await page.say("clerk", "/new")
    await page.press("clerk", "执行联动")
    await page.press("clerk", "财产查询")
    await page.say("clerk", "（2026）吉24执88号")
    await page.say("clerk", "长白山某某房地产开发有限公司")
    await page.say("clerk", "请协助查询该公司名下的土地使用权。")
    for agency in agencies:
        await page.press("clerk", f"☐ {agency}")
    await page.press("clerk", "完成")
    await page.press("clerk", "不指定日期")
    await page.press("clerk", "完成")
    await page.press("clerk", "提请")


async def test_the_office_is_told_only_of_the_agencies_nobody_can_answer_for(sandbox: Box) -> None:
    """A court's request to two agencies, one with a member (自然资源局, 孙局长) and one with
    nobody (生态环境局): the office's "no one can answer" alert names 自然资源局 too and
    speaks of a court ("none of its court staff ... ask the court directly")."""
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
