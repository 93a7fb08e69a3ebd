"""Users, memberships, invites, languages and the committee group binding."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Executable, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import rules
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.models import (
    Invite,
    Member,
    OpenInvite,
    Role,
    Viewer,
)
from bot.domain.text import clean_name
from bot.i18n import DEFAULT_LANG, normalise_lang
from bot.services.base import GROUP_SETTING, Recipient, ServiceBase
from bot.storage import schema as t
from bot.storage.db import execute
from bot.storage.outbox import PENDING, RETRY

logger = logging.getLogger(__name__)

MENU_PREFIX = "menu:"  # settings rows: the command menus last set, as digests


# Read on a user's first update after a start (then their viewer is cached).
_USER = select(t.users.c.lang, t.users.c.first_name, t.users.c.username).where(
    t.users.c.user_id == bindparam("user_id")
)


def token_digest(token: str) -> str:
    """What the database keeps of an invite token (migration 0007 computes it the same way)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _open_at(now: datetime) -> Any:
    """An invite still usable at ``now`` as far as its own row says."""
    return and_(
        t.invites.c.used_by.is_(None),
        t.invites.c.withdrawn_at.is_(None),
        t.invites.c.expires_at > now,
    )


def _creator_in_office() -> Any:
    """The membership a link was made under is still an active office membership: a link
    carries its creator's authority, and ends with it."""
    return and_(
        t.members.c.user_id == t.invites.c.created_by,
        t.members.c.revoked_at.is_(None),
        t.members.c.role == Role.OFFICE.value,
        t.members.c.joined_at <= t.invites.c.created_at,
    )


# Redeeming an invitation, built once.
_INVITE_BY_HASH = select(t.invites).where(t.invites.c.token_hash == bindparam("token_hash"))
_INVITE_CREATOR = select(t.members.c.id).where(
    _creator_in_office(), t.invites.c.id == bindparam("invite_id")
)
_JOIN = (
    t.members.insert()
    .values(
        {
            name: bindparam(f"new_{name}", type_=t.members.c[name].type)
            for name in ("user_id", "org_code", "role", "display_name", "joined_at", "invited_by")
        }
    )
    .returning(t.members)
)
_INVITE_USED = (
    update(t.invites)
    .where(t.invites.c.id == bindparam("invite_id"))
    .values(
        used_by=bindparam("new_used_by", type_=t.invites.c.used_by.type),
        used_at=bindparam("new_used_at", type_=t.invites.c.used_at.type),
    )
)

# A user's latest organisation (read for every notice of an action): built once.
_ORG_OF = (
    select(t.members.c.org_code)
    .where(t.members.c.user_id == bindparam("user_id"))
    .order_by(t.members.c.id.desc())
    .limit(1)
)


class Members(ServiceBase):
    async def viewer(self, user_id: int, first_name: str, username: str | None) -> Viewer:
        """The acting user with language and membership; records the user on first contact
        (and a changed name), with the update's first write (see ``Database.defer``)."""
        first_name = clean_name(first_name, limit=128) or str(user_id)
        cached = self._viewers.get(user_id)
        if cached is not None and cached.name == first_name:
            return cached
        async with self.db.read() as conn:
            row = (await execute(conn, _USER, {"user_id": user_id})).first()
            member = await self._active_member(conn, user_id)
        if row is None or (row.first_name, row.username) != (first_name, username):
            await self.db.defer(
                self._record_user,
                {
                    "user_id": user_id,
                    "first_name": first_name,
                    "username": username,
                    "now": self.clock.now(),
                },
            )
        lang = row.lang if row is not None else None
        viewer = Viewer(user_id, normalise_lang(lang), member, first_name, lang is not None)
        self._viewers[user_id] = viewer
        return viewer

    @cached_property
    def _record_user(self) -> Executable:
        """Built once: a user is recorded on first contact and whenever their name changes."""
        c = t.users.c
        stmt = self._insert(t.users).values(
            user_id=bindparam("user_id", type_=c.user_id.type),
            first_name=bindparam("first_name", type_=c.first_name.type),
            username=bindparam("username", type_=c.username.type),
            updated_at=bindparam("now", type_=c.updated_at.type),
        )
        record: Executable = stmt.on_conflict_do_update(
            index_elements=[c.user_id],
            set_={
                "first_name": stmt.excluded.first_name,
                "username": stmt.excluded.username,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        return record

    async def offer_lang_once(self, viewer: Viewer) -> bool:
        """Whether to offer this user English now: only if no language is stored for them.
        Stores the default as their language in the same step, so the offer is made once,
        even when two of their updates race (the second finds a language stored)."""
        if viewer.lang_stored:
            return False
        async with self.db.write() as conn:
            result = await conn.execute(
                update(t.users)
                .where(t.users.c.user_id == viewer.user_id, t.users.c.lang.is_(None))
                .values(lang=DEFAULT_LANG, updated_at=self.clock.now())
            )
        self._viewers.pop(viewer.user_id, None)
        return bool(result.rowcount)

    async def set_lang(self, viewer: Viewer, lang: str) -> Viewer:
        lang = normalise_lang(lang)
        async with self.db.write() as conn:
            await conn.execute(
                update(t.users)
                .where(t.users.c.user_id == viewer.user_id)
                .values(lang=lang, updated_at=self.clock.now())
            )
        self._viewers.pop(viewer.user_id, None)
        return Viewer(viewer.user_id, lang, viewer.member, viewer.name)

    async def menu_members(self, user_ids: Collection[int] | None = None) -> dict[int, Viewer]:
        """Active members (all, or those of ``user_ids``) with their language: whose private
        chats have a menu of their own."""
        query = (
            select(t.members, t.users.c.lang)
            .select_from(t.members.outerjoin(t.users, t.users.c.user_id == t.members.c.user_id))
            .where(t.members.c.revoked_at.is_(None))
        )
        if user_ids is not None:
            query = query.where(t.members.c.user_id.in_(list(user_ids)))
        async with self.db.read() as conn:
            found = (await conn.execute(query)).all()
        return {
            row.user_id: Viewer(row.user_id, normalise_lang(row.lang), self._member(row))
            for row in found
        }

    async def stored_menus(self, keys: Collection[str] | None = None) -> dict[str, str]:
        """What was last set as command menus (``menu:*`` settings: key → digest)."""
        query = select(t.settings.c.key, t.settings.c.value).where(
            t.settings.c.key.startswith(MENU_PREFIX)
        )
        if keys is not None:
            query = query.where(t.settings.c.key.in_(list(keys)))
        async with self.db.read() as conn:
            return {row.key: row.value for row in (await conn.execute(query)).all()}

    async def store_menus(self, digests: dict[str, str | None]) -> None:
        """Record menus just set on Telegram (a digest ``None``: removed), all in one write
        transaction: a start-up sync sets one per member."""
        removed = [key for key, digest in digests.items() if digest is None]
        kept = [{"key": key, "value": d} for key, d in digests.items() if d is not None]
        async with self.db.write() as conn:
            if removed:
                await conn.execute(t.settings.delete().where(t.settings.c.key.in_(removed)))
            if kept:
                stmt = self._insert(t.settings).values(kept)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.settings.c.key], set_={"value": stmt.excluded.value}
                    )
                )

    async def bootstrap_admins(self) -> None:
        """Give the committee file's admins an office membership if they never had one.

        An admin the office revoked stays revoked: the file bootstraps, it does not override
        /members (invite them again to restore access)."""
        if not self.committee.admins:
            return
        now = self.clock.now()
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(t.members.c.user_id, t.members.c.revoked_at).where(
                        t.members.c.user_id.in_(self.committee.admins)
                    )
                )
            ).all()
            known = {row.user_id for row in rows}
            active = {row.user_id for row in rows if row.revoked_at is None}
            for user_id in sorted(known - active):
                logger.warning(
                    "admin %s in the committee file was revoked by the office; not re-added",
                    user_id,
                )
            for user_id in sorted(self.committee.admins - known):
                await conn.execute(
                    self._insert(t.users)
                    .values(user_id=user_id, first_name="", updated_at=now)
                    .on_conflict_do_nothing(index_elements=[t.users.c.user_id])
                )
                await conn.execute(
                    t.members.insert().values(
                        user_id=user_id,
                        org_code=self.committee.admin_org,
                        role=Role.OFFICE.value,
                        display_name=f"admin {user_id}",
                        joined_at=now,
                    )
                )
                await self._event(
                    conn,
                    "member_joined",
                    None,
                    user=user_id,
                    org=self.committee.admin_org,
                    role=Role.OFFICE.value,
                    via="committee file",
                )
                self._viewers.pop(user_id, None)
                logger.info("bootstrap admin %s added to %s", user_id, self.committee.admin_org)

    async def bind_group(self, viewer: Viewer, chat_id: int) -> None:
        """Make ``chat_id`` the committee group. Moving it from another group takes along
        what is still queued for the old one (posts waiting for their turn or a retry)."""
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        old = await self.group_chat_id()
        async with self.db.write() as conn:
            if not rules.is_admin(await self._active_member(conn, viewer.user_id)):
                raise NotAllowed("admin_only")
            if old is not None and old != chat_id:
                await self._move_queued(conn, old, chat_id)
            await self._bind(conn, chat_id)
            await self._event(conn, "group_bound", viewer.user_id, chat_id=chat_id)
        self._group_chat_id = chat_id
        self._group_loaded = True

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """Telegram moved a group to a new id (it became a supergroup): follow it, so the
        committee group stays bound and queued messages go to the new chat."""
        async with self.db.write() as conn:
            await self._move_queued(conn, old_chat_id, new_chat_id)
            if await self.group_chat_id() == old_chat_id:
                await self._bind(conn, new_chat_id)
                await self._event(conn, "group_migrated", None, old=old_chat_id, new=new_chat_id)
                self._group_chat_id = new_chat_id

    async def _bind(self, conn: AsyncConnection, chat_id: int) -> None:
        stmt = self._insert(t.settings).values(key=GROUP_SETTING, value=str(chat_id))
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.settings.c.key], set_={"value": str(chat_id)}
            )
        )

    @staticmethod
    async def _move_queued(conn: AsyncConnection, old_chat_id: int, new_chat_id: int) -> None:
        """What still waits to be sent to a chat goes to its new id instead."""
        await conn.execute(
            update(t.outbox)
            .where(t.outbox.c.chat_id == old_chat_id, t.outbox.c.status.in_([PENDING, RETRY]))
            .values(chat_id=new_chat_id)
        )

    @cached_property
    def _new_invite(self) -> Executable:
        """Built once (the upsert is the dialect's): a new invite, none if the same menu
        message already made one."""
        c = t.invites.c
        stmt = self._insert(t.invites).values(
            {
                name: bindparam(name, type_=c[name].type)
                for name in (
                    "token_hash",
                    "org_code",
                    "role",
                    "created_by",
                    "created_at",
                    "expires_at",
                    "menu_message_id",
                )
            }
        )
        made: Executable = stmt.on_conflict_do_nothing(
            index_elements=[c.created_by, c.menu_message_id]
        ).returning(c.id)
        return made

    async def create_invite(
        self, viewer: Viewer, org_code: str, role: Role, menu_message_id: int | None = None
    ) -> Invite:
        """A one-time link; ``menu_message_id`` names the role menu it was made from, so a
        second press of that menu makes no second link (``invite_made`` instead)."""
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        org = self.committee.organisations.get(org_code)
        if org is None:
            raise InvalidInput("unknown_org")
        if not rules.role_fits_org(role, org.kind):
            raise InvalidInput("role_mismatch")
        now = self.clock.now()
        invite = Invite(
            token=secrets.token_urlsafe(12),
            org_code=org_code,
            role=role,
            created_by=viewer.user_id,
            created_at=now,
            expires_at=now + timedelta(hours=self.committee.invite_ttl_hours),
        )
        async with self.db.write() as conn:
            if not rules.is_admin(await self._active_member(conn, viewer.user_id)):
                raise NotAllowed("admin_only")
            made = await execute(
                conn,
                self._new_invite,
                {
                    "token_hash": token_digest(invite.token),
                    "org_code": org_code,
                    "role": role.value,
                    "created_by": viewer.user_id,
                    "created_at": now,
                    "expires_at": invite.expires_at,
                    "menu_message_id": menu_message_id,
                },
            )
            invite_id = made.scalar_one_or_none()
            if invite_id is None:
                raise InvalidInput("invite_made")
            await self._event(
                conn,
                "invite_created",
                viewer.user_id,
                invite=invite_id,
                org=org_code,
                role=role.value,
            )
        return invite

    async def redeem_invite(self, token: str, viewer: Viewer, display_name: str) -> Member:
        now = self.clock.now()
        async with self.db.write() as conn:
            inv = (
                await execute(conn, _INVITE_BY_HASH, {"token_hash": token_digest(token)})
            ).first()
            if inv is None:
                raise NotFound("invite_unknown")
            current = await self._active_member(conn, viewer.user_id)
            if inv.used_by is not None:
                if inv.used_by == viewer.user_id and current is not None:
                    return current  # the same link opened twice: nothing new to do
                raise InvalidInput("invite_used")
            if inv.withdrawn_at is not None:
                raise InvalidInput("invite_withdrawn")
            creator = await execute(conn, _INVITE_CREATOR, {"invite_id": inv.id})
            if creator.first() is None:
                raise InvalidInput("invite_withdrawn")
            if inv.expires_at <= now:
                raise InvalidInput("invite_expired")
            if current is not None:
                raise InvalidInput("already_member", org=current.org_code)
            if inv.org_code not in self.committee.organisations:
                raise InvalidInput("invite_unknown_org")
            joined = {
                "new_user_id": viewer.user_id,
                "new_org_code": inv.org_code,
                "new_role": inv.role,
                "new_display_name": clean_name(display_name, limit=128) or str(viewer.user_id),
                "new_joined_at": now,
                "new_invited_by": inv.created_by,
            }
            member = self._member((await execute(conn, _JOIN, joined)).first())
            used = {"invite_id": inv.id, "new_used_by": viewer.user_id, "new_used_at": now}
            await execute(conn, _INVITE_USED, used)
            await self._event(
                conn,
                "member_joined",
                viewer.user_id,
                org=inv.org_code,
                role=inv.role,
                via="invite",
            )
        self._viewers.pop(viewer.user_id, None)
        assert member is not None
        return member

    async def list_members(self, offset: int, limit: int) -> tuple[list[Member], int]:
        active = t.members.c.revoked_at.is_(None)
        async with self.db.read() as conn:
            total = (await conn.execute(select(func.count()).where(active))).scalar_one()
            rows = (
                await conn.execute(
                    select(t.members)
                    .where(active)
                    .order_by(t.members.c.org_code, t.members.c.display_name, t.members.c.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return [m for m in map(self._member, rows) if m is not None], total

    async def revoke_member(self, viewer: Viewer, member_id: int) -> Member:
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        now = self.clock.now()
        async with self.db.write() as conn:
            # As the admin is now: revoked a moment ago (by another admin, side by side), they
            # may no longer revoke anyone.
            if not rules.is_admin(await self._active_member(conn, viewer.user_id)):
                raise NotAllowed("admin_only")
            target = self._member(
                (await conn.execute(select(t.members).where(t.members.c.id == member_id))).first()
            )
            if target is None:
                raise NotFound("member_unknown")
            if not target.active:
                return target
            if target.user_id == viewer.user_id:
                raise InvalidInput("cannot_revoke_self")
            await conn.execute(
                update(t.members)
                .where(t.members.c.id == member_id)
                .values(revoked_at=now, revoked_by=viewer.user_id)
            )
            # Their links end with their membership: an admin revoked cannot come back in
            # through a link of their own, nor let anyone else in.
            await self._withdraw_invites(
                conn, t.invites.c.created_by == target.user_id, viewer.user_id, "creator_revoked"
            )
            # The matters they handled go back to their whole organisation.
            await conn.execute(
                update(t.assignments)
                .where(t.assignments.c.handler_user_id == target.user_id)
                .values(handler_user_id=None)
            )
            await self._event(
                conn,
                "member_revoked",
                viewer.user_id,
                user=target.user_id,
                org=target.org_code,
                role=target.role.value,
            )
        self._viewers.pop(target.user_id, None)
        return Member(
            target.id,
            target.user_id,
            target.org_code,
            target.role,
            target.display_name,
            target.joined_at,
            now,
        )

    async def list_open_invites(self, offset: int, limit: int) -> tuple[list[OpenInvite], int]:
        """The links that still let someone in, soonest to expire first."""
        now = self.clock.now()
        joined = t.invites.join(t.members, _creator_in_office())
        async with self.db.read() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(joined).where(_open_at(now)))
            ).scalar_one()
            rows = (
                await conn.execute(
                    select(t.invites, t.members.c.display_name)
                    .select_from(joined)
                    .where(_open_at(now))
                    .order_by(t.invites.c.expires_at, t.invites.c.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return [self._open_invite(row) for row in rows], total

    async def open_invite(self, invite_id: int) -> OpenInvite:
        """One open link (for the office's confirmation); ``invite_not_open`` otherwise."""
        async with self.db.read() as conn:
            return await self._open_invite_in(conn, invite_id)

    async def withdraw_invite(self, viewer: Viewer, invite_id: int) -> OpenInvite:
        """The office withdraws a link: whoever holds it can no longer join with it."""
        async with self.db.write() as conn:
            if not rules.is_admin(await self._active_member(conn, viewer.user_id)):
                raise NotAllowed("admin_only")
            invite = await self._open_invite_in(conn, invite_id)
            await self._withdraw_invites(
                conn, t.invites.c.id == invite_id, viewer.user_id, "office"
            )
        return invite

    async def _open_invite_in(self, conn: AsyncConnection, invite_id: int) -> OpenInvite:
        row = (
            await conn.execute(
                select(t.invites, t.members.c.display_name)
                .select_from(t.invites.join(t.members, _creator_in_office()))
                .where(t.invites.c.id == invite_id, _open_at(self.clock.now()))
            )
        ).first()
        if row is None:
            raise InvalidInput("invite_not_open")
        return self._open_invite(row)

    async def _withdraw_invites(
        self, conn: AsyncConnection, which: Any, actor: int, reason: str
    ) -> list[int]:
        """Withdraw the open links matching ``which``, each with its audit event."""
        now = self.clock.now()
        withdrawn = (
            await conn.execute(
                update(t.invites)
                .where(which, _open_at(now))
                .values(withdrawn_at=now, withdrawn_by=actor)
                .returning(t.invites.c.id, t.invites.c.org_code, t.invites.c.role)
            )
        ).all()
        for row in sorted(withdrawn):
            await self._event(
                conn,
                "invite_withdrawn",
                actor,
                invite=row.id,
                org=row.org_code,
                role=row.role,
                reason=reason,
            )
        return [row.id for row in withdrawn]

    @staticmethod
    def _open_invite(row: Any) -> OpenInvite:
        return OpenInvite(
            id=row.id,
            org_code=row.org_code,
            role=Role(row.role),
            created_by=row.created_by,
            creator_name=row.display_name,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    async def recipient(self, user_id: int) -> Recipient:
        cached = self._viewers.get(user_id)
        if cached is not None:  # kept current: set_lang drops the entry
            return Recipient(user_id, cached.lang)
        async with self.db.read() as conn:
            lang = (
                await conn.execute(select(t.users.c.lang).where(t.users.c.user_id == user_id))
            ).scalar_one_or_none()
        return Recipient(user_id, normalise_lang(lang or DEFAULT_LANG))

    async def viewer_by_id(self, user_id: int) -> Viewer | None:
        """A known user with their language and membership, for a message sent on the bot's
        own (a notice's buttons depend on who receives it); None for a group or a stranger."""
        if user_id < 0:
            return None
        cached = self._viewers.get(user_id)
        if cached is not None:
            return cached
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(t.users.c.lang, t.users.c.first_name).where(t.users.c.user_id == user_id)
                )
            ).first()
            member = await self._active_member(conn, user_id)
        if row is None and member is None:
            return None
        lang = normalise_lang(row.lang if row is not None else None)
        viewer = Viewer(user_id, lang, member, row.first_name if row is not None else "")
        if row is not None:  # kept current like any viewer: changes drop the entry
            self._viewers[user_id] = viewer
        return viewer

    async def member_org_of(self, user_id: int | None) -> str | None:
        """The organisation a user acted for (their latest membership, even if revoked)."""
        if user_id is None:
            return None
        async with self.db.read() as conn:
            return (await execute(conn, _ORG_OF, {"user_id": user_id})).scalar_one_or_none()
