"""The office's tools: invite links (made, listed, withdrawn), the member list with
revocation, binding the group.

Every press is authorised again against the database: buttons only carry which object was
chosen, never the right to act on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Chat, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.domain import rules
from bot.domain.errors import DomainError
from bot.domain.models import ROLE_LABELS as ROLE_MSGIDS
from bot.domain.models import Role, Viewer
from handlers import gate, menus
from handlers.buttons import number, pack, unpack
from handlers.common import (
    INVITE_PREFIX,
    BotContext,
    Button,
    answer_stale,
    chunk,
    deep_link,
    edit_or_send,
    keyboard,
    page_nav,
    private_only,
    refuse_outside_private,
    reply,
    viewer_of,
)

MEMBERS_PAGE = 8
INVITE, MEMBERS = "i", "m"  # button namespaces: making an invite link, the member list
INVITES_PAGE = 6
INVITES = "iv"  # button namespace of /invites: pg (page), wd (withdraw?), ok (withdraw)

ROLE_LABELS: dict[Role, str] = {role: ROLE_MSGIDS[role.value] for role in Role}


async def _refuse_non_admin(update: Update, context: BotContext, viewer: Viewer) -> bool:
    if rules.is_admin(viewer.member):
        return False
    await reply(update, context, context.texts.render(viewer.lang, "error", code="admin_only"))
    return True


async def invite(update: Update, context: BotContext) -> None:
    """/invite: choose an organisation, then a role; the bot answers with a one-time link."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if await _refuse_non_admin(update, context, viewer):
        return
    orgs = context.svc.committee.organisations.values()
    buttons: list[Button] = [(o.name(viewer.lang), pack(INVITE, "org", o.code)) for o in orgs]
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "invite_org"),
        keyboard(chunk(buttons, 2)),
    )


async def invite_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    texts = context.texts
    viewer = await _office_press(update, context)
    if viewer is None:
        return
    parts = unpack(query.data, INVITE, parts=(2, 3)) or ["", ""]
    committee = context.svc.committee
    org = committee.organisations.get(parts[1])
    if org is None:
        await answer_stale(update, context, viewer)
        return
    if parts[0] == "org" and len(parts) == 2:
        await query.answer()
        roles = [r for r in Role if rules.role_fits_org(r, org.kind)]
        buttons = [
            (texts.t(viewer.lang, ROLE_LABELS[r]), pack(INVITE, "mk", org.code, r.value))
            for r in roles
        ]
        await edit_or_send(
            query,
            context,
            texts.render(viewer.lang, "invite_role", org=org.code),
            keyboard(chunk(buttons, 2)),
        )
        return
    if parts[0] == "mk" and len(parts) == 3 and parts[2] in {r.value for r in Role}:
        menu = query.message.message_id if query.message is not None else None
        try:
            created = await context.svc.create_invite(viewer, org.code, Role(parts[2]), menu)
        except DomainError as exc:
            await answer_stale(update, context, viewer)
            if exc.code != "invite_made":  # a second press: the first one's link is shown
                await reply(update, context, texts.render(viewer.lang, "error", code=exc.code))
            return
        await query.answer()
        link = deep_link(context, INVITE_PREFIX + created.token)
        await edit_or_send(
            query,
            context,
            texts.render(
                viewer.lang,
                "invite_created",
                invite=created,
                link=link,
                role_label=ROLE_LABELS[created.role],
            ),
        )
        return
    await answer_stale(update, context, viewer)


async def _invites_page(
    context: BotContext, viewer: Viewer, page: int
) -> tuple[str, list[list[Button]]] | None:
    """Page ``page`` of the open invite links; None when there is no such page (any more)."""
    invites, total = await context.svc.list_open_invites(page * INVITES_PAGE, INVITES_PAGE)
    pages = max(1, -(-total // INVITES_PAGE))
    if page >= pages:
        return None
    first = page * INVITES_PAGE + 1
    html = context.texts.render(
        viewer.lang,
        "invites",
        invites=invites,
        first=first,
        total=total,
        page=page + 1,
        pages=pages,
        role_labels=ROLE_LABELS,
    )
    withdraw = [
        (context.texts.t(viewer.lang, "Withdraw %(n)s", n=first + i), pack(INVITES, "wd", inv.id))
        for i, inv in enumerate(invites)
    ]
    rows = chunk(withdraw, 3)
    rows.append(page_nav(context.texts, viewer.lang, page, pages, lambda p: pack(INVITES, "pg", p)))
    return html, rows


Page = Callable[[BotContext, Viewer, int], Awaitable[tuple[str, list[list[Button]]] | None]]


async def _first_page(update: Update, context: BotContext, page: Page) -> None:
    """An office list's first page, in a private chat, to the office."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if await _refuse_non_admin(update, context, viewer):
        return
    shown = await page(context, viewer, 0)
    assert shown is not None  # the first page always exists
    html, rows = shown
    await reply(update, context, html, keyboard(rows))


async def invites(update: Update, context: BotContext) -> None:
    """/invites: the links that still let someone in, each with a withdraw button."""
    await _first_page(update, context, _invites_page)


async def _office_press(update: Update, context: BotContext) -> Viewer | None:
    """The presser of an office button, in a private chat and of the office; else the press
    is refused (and None comes back)."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return None
    if not rules.is_admin(viewer.member):
        text = context.texts.t(viewer.lang, "Only the office can do this.")
        await query.answer(text, show_alert=True)
        return None
    return viewer


async def _list_press(
    update: Update, context: BotContext, namespace: str
) -> tuple[Viewer, str, int] | None:
    """(presser, operation, number) of a press in an office list (``<namespace>:<op>:<n>``);
    None when it was refused or its data is malformed (answered as stale)."""
    viewer = await _office_press(update, context)
    if viewer is None:
        return None
    assert update.callback_query is not None
    parts = unpack(update.callback_query.data, namespace, parts=(2,))
    arg = number(parts[1]) if parts is not None else None
    if parts is None or arg is None:
        await answer_stale(update, context, viewer)
        return None
    return viewer, parts[0], arg


async def invites_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    texts = context.texts
    pressed = await _list_press(update, context, INVITES)
    if pressed is None:
        return
    viewer, action, arg = pressed
    if action == "pg":
        shown = await _invites_page(context, viewer, arg)
        if shown is None:
            await answer_stale(update, context, viewer)
            return
        await query.answer()
        html, rows = shown
        await edit_or_send(query, context, html, keyboard(rows))
    elif action in ("wd", "ok"):
        try:
            if action == "wd":
                invite = await context.svc.open_invite(arg)
            else:
                invite = await context.svc.withdraw_invite(viewer, arg)
        except DomainError as exc:
            await query.answer(texts.t(viewer.lang, "Not withdrawn."), show_alert=True)
            await reply(update, context, texts.render(viewer.lang, "error", code=exc.code))
            return
        if action == "wd":
            await query.answer()
            buttons: list[Button] = [
                (texts.t(viewer.lang, "Yes, withdraw"), pack(INVITES, "ok", invite.id)),
                (texts.t(viewer.lang, "Keep"), pack(INVITES, "pg", 0)),
            ]
            template = "invite_withdraw_confirm"
        else:
            await query.answer(texts.t(viewer.lang, "Withdrawn."))
            buttons = []
            template = "invite_withdrawn"
        html = texts.render(viewer.lang, template, invite=invite, role_labels=ROLE_LABELS)
        await edit_or_send(query, context, html, keyboard([buttons]) if buttons else None)
    else:
        await answer_stale(update, context, viewer)


async def _members_page(
    context: BotContext, viewer: Viewer, page: int
) -> tuple[str, list[list[Button]]] | None:
    """Page ``page`` of the member list; None when there is no such page (any more)."""
    members, total = await context.svc.list_members(page * MEMBERS_PAGE, MEMBERS_PAGE)
    pages = max(1, -(-total // MEMBERS_PAGE))
    if page >= pages:
        return None
    html = context.texts.render(
        viewer.lang,
        "members",
        members=members,
        total=total,
        page=page + 1,
        pages=pages,
        role_labels=ROLE_LABELS,
    )
    rows: list[list[Button]] = [
        [
            (
                context.texts.t(viewer.lang, "Revoke %(name)s", name=m.display_name[:40]),
                pack(MEMBERS, "rv", m.id),
            )
        ]
        for m in members
        if m.user_id != viewer.user_id
    ]
    rows.append(page_nav(context.texts, viewer.lang, page, pages, lambda p: pack(MEMBERS, "pg", p)))
    return html, rows


async def members(update: Update, context: BotContext) -> None:
    """/members: who is in, page by page, with a revoke button for each."""
    await _first_page(update, context, _members_page)


async def members_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    texts = context.texts
    pressed = await _list_press(update, context, MEMBERS)
    if pressed is None:
        return
    viewer, action, chosen = pressed
    if action == "pg":
        shown = await _members_page(context, viewer, chosen)
        if shown is None:
            await answer_stale(update, context, viewer)
            return
        await query.answer()
        html, rows = shown
        await edit_or_send(query, context, html, keyboard(rows))
    elif action == "rv":
        await query.answer()
        await edit_or_send(
            query,
            context,
            texts.render(viewer.lang, "revoke_confirm"),
            keyboard(
                [
                    [
                        (texts.t(viewer.lang, "Yes, revoke"), pack(MEMBERS, "ok", chosen)),
                        (texts.t(viewer.lang, "Keep"), pack(MEMBERS, "pg", 0)),
                    ]
                ]
            ),
        )
    elif action == "ok":
        try:
            member = await context.svc.revoke_member(viewer, chosen)
        except DomainError as exc:
            await query.answer(texts.t(viewer.lang, "Not revoked."), show_alert=True)
            await reply(update, context, texts.render(viewer.lang, "error", code=exc.code))
            return
        menus.refresh(context, member.user_id)  # back to the stranger's menu
        await query.answer(texts.t(viewer.lang, "Revoked."))
        await edit_or_send(
            query,
            context,
            texts.render(viewer.lang, "revoked", member=member, role_labels=ROLE_LABELS),
        )
    else:
        await answer_stale(update, context, viewer)


async def bind_group(update: Update, context: BotContext) -> None:
    """/bindgroup, run by an office admin inside the committee group (or in a new group, to
    move the committee there). Anyone else gets no answer in a group: a stranger must not be
    able to make the bot talk there."""
    viewer = await viewer_of(update, context)
    chat = update.effective_chat
    assert chat is not None
    if chat.type not in (Chat.GROUP, Chat.SUPERGROUP):
        await reply(update, context, context.texts.render(viewer.lang, "bindgroup_usage"))
        return
    if not rules.is_admin(viewer.member):
        bound = await context.svc.group_chat_id()
        if bound == chat.id:  # the committee's own members may be told why not
            await reply(
                update, context, context.texts.render(viewer.lang, "error", code="admin_only")
            )
        elif bound is not None:
            gate.leave(context, chat.id)
        return
    try:
        await context.svc.bind_group(viewer, chat.id)
    except DomainError as exc:
        await reply(update, context, context.texts.render(viewer.lang, "error", code=exc.code))
        return
    await reply(update, context, context.texts.render(viewer.lang, "group_bound"))


async def group_migrated(update: Update, context: BotContext) -> None:
    """A group became a supergroup and got a new id: the binding (and what is queued for the
    old id) follows it. Telegram says so from both ids; either is enough."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    if message.migrate_to_chat_id:
        await context.svc.chat_migrated(chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id:
        await context.svc.chat_migrated(message.migrate_from_chat_id, chat.id)


async def digest(update: Update, context: BotContext) -> None:
    """/digest: the weekly summary of the last seven days, on demand, for the office."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if await _refuse_non_admin(update, context, viewer):
        return
    now = context.runtime.clock.now()
    data = await context.svc.digest(now - timedelta(days=7), now)
    await reply(
        update, context, context.texts.render(viewer.lang, "digest", digest=data, show_title=True)
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("invite", invite),
        CommandHandler("invites", invites),
        CommandHandler("members", members),
        CommandHandler("bindgroup", bind_group),
        MessageHandler(filters.StatusUpdate.MIGRATE, group_migrated),
        CommandHandler("digest", digest),
        CallbackQueryHandler(invite_pressed, pattern=r"^i:"),
        CallbackQueryHandler(members_pressed, pattern=r"^m:"),
        CallbackQueryHandler(invites_pressed, pattern=rf"^{INVITES}:"),
    ]
