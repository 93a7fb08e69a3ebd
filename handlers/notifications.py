"""Messages the bot sends on its own when a matter is raised or answered."""

from __future__ import annotations

import logging

from bot.domain.kinds import KINDS
from bot.domain.models import Case
from bot.i18n import DEFAULT_LANG
from handlers.cases import answer_buttons
from handlers.common import BotContext, Button, deep_link, keyboard, notify
from handlers.start import CASE_PREFIX

logger = logging.getLogger(__name__)


async def announce_new_case(context: BotContext, case: Case) -> int:
    """Tell the addressed court's staff (privately, with 受理/退回) and post to the group.

    Returns how many court staff were reached, so the raiser's receipt can say so.
    """
    svc, texts = context.svc, context.texts
    kind = KINDS[case.kind]
    reached = 0
    for recipient in await svc.answerers(case):
        rows: list[list[Button]] = [answer_buttons(context, recipient.lang, case)]
        if case.files:
            rows.append(
                [
                    (
                        texts.t(recipient.lang, "📎 Documents (%(n)s)", n=len(case.files)),
                        f"c:files:{case.id}",
                    )
                ]
            )
        html = texts.render(recipient.lang, "notify_new", case=case, kind=kind)
        if await notify(context, recipient.user_id, html, keyboard(rows)) is not None:
            reached += 1
    if reached == 0:
        logger.warning("case %s: no court staff could be notified", case.id)
    group = await svc.group_chat_id()
    if group is not None:
        html = texts.render(
            DEFAULT_LANG, "group_new", case=case, kind=kind, detail=svc.committee.group_detail.value
        )
        link = deep_link(context, f"{CASE_PREFIX}{case.id}")
        button = (texts.t(DEFAULT_LANG, "Open in private chat"), f"url:{link}")
        await notify(context, group, html, keyboard([[button]]))
    return reached


async def tell_raiser(context: BotContext, case: Case) -> None:
    """The raiser learns of an acknowledgement or a return, with the case number."""
    recipient = await context.svc.recipient(case.raiser_user_id)
    html = context.texts.render(recipient.lang, "answered_raiser", case=case, kind=KINDS[case.kind])
    link = deep_link(context, f"{CASE_PREFIX}{case.id}")
    button = (context.texts.t(recipient.lang, "Open the matter"), f"url:{link}")
    await notify(context, case.raiser_user_id, html, keyboard([[button]]))
