"""The domain service against a real SQLite file: transactions, numbering, audit, membership."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.models import Draft, Role, Viewer
from bot.services.coordination import Coordination
from bot.storage import schema as t
from bot.storage.db import Database
from tests.conftest import ADMIN_ID

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


REFERRAL_VALUES: dict[str, Any] = {
    "title": "征收补偿争议",
    "description": "申请人对补偿标准有异议。",
    "applicant": "张三",
    "respondent": "CBS-NR",
    "addressee": "CHIBEI-CENTER",
    "urgency": "urgent",
    "reply_by": "2026-12-10",
    "documents": [
        {
            "media": "document",
            "file_id": "F1",
            "file_unique_id": "U1",
            "file_name": "a.pdf",
            "file_size": 10,
        }
    ],
}


async def count(db: Database, table: t.Table, *where: Any) -> int:
    async with db.read() as conn:
        return (
            await conn.execute(select(func.count()).select_from(table).where(*where))
        ).scalar_one()


async def join(svc: Coordination, user_id: int, org: str, role: Role, name: str) -> Viewer:
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    invite = await svc.create_invite(admin, org, role)
    viewer = await svc.viewer(user_id, name, None)
    await svc.redeem_invite(invite.token, viewer, name)
    return await svc.viewer(user_id, name, None)


async def test_bootstrap_admin_is_an_office_member(svc: Coordination, db: Database) -> None:
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    assert admin.member is not None and admin.member.role is Role.OFFICE
    await svc.bootstrap_admins()  # idempotent at every start
    assert await count(db, t.members) == 1


async def test_invites_are_single_use_and_expire(
    svc: Coordination, clock: ManualClock, db: Database
) -> None:
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    invite = await svc.create_invite(admin, "CBS-NR", Role.DEPARTMENT_HEAD)
    assert len(invite.token) == 16 and invite.expires_at - invite.created_at == timedelta(hours=72)
    li = await svc.viewer(2, "Li", None)
    member = await svc.redeem_invite(invite.token, li, "Li Ming")
    assert (member.org_code, member.role) == ("CBS-NR", Role.DEPARTMENT_HEAD)
    assert (await svc.redeem_invite(invite.token, li, "Li Ming")).id == member.id  # same link again
    wang = await svc.viewer(3, "Wang", None)
    with pytest.raises(InvalidInput, match="invite_used"):
        await svc.redeem_invite(invite.token, wang, "Wang")
    late = await svc.create_invite(admin, "YB-IPC", Role.COURT_STAFF)
    clock.advance(timedelta(hours=72, seconds=1))
    with pytest.raises(InvalidInput, match="invite_expired"):
        await svc.redeem_invite(late.token, wang, "Wang")
    with pytest.raises(NotFound):
        await svc.redeem_invite("nonsense", wang, "Wang")
    assert await count(db, t.members, t.members.c.user_id == 3) == 0


async def test_only_admins_invite_and_roles_must_fit(svc: Coordination) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    with pytest.raises(NotAllowed):
        await svc.create_invite(li, "CBS-NR", Role.DEPARTMENT_HEAD)
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    with pytest.raises(InvalidInput, match="role_mismatch"):
        await svc.create_invite(admin, "YB-IPC", Role.DEPARTMENT_HEAD)
    with pytest.raises(InvalidInput, match="unknown_org"):
        await svc.create_invite(admin, "NOPE", Role.OBSERVER)


async def test_one_membership_at_a_time_and_revocation(svc: Coordination, db: Database) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    other = await svc.create_invite(admin, "CHIXI", Role.DEPARTMENT_HEAD)
    with pytest.raises(InvalidInput, match="already_member"):
        await svc.redeem_invite(other.token, li, "Li")
    assert li.member is not None
    revoked = await svc.revoke_member(admin, li.member.id)
    assert revoked.revoked_at is not None
    assert (await svc.viewer(2, "Li", None)).member is None
    with pytest.raises(InvalidInput, match="cannot_revoke_self"):
        await svc.revoke_member(admin, admin.member.id)  # type: ignore[union-attr]
    async with db.read() as conn:
        actions = (
            (await conn.execute(select(t.events.c.action).order_by(t.events.c.id))).scalars().all()
        )
    assert actions.count("member_revoked") == 1 and actions.count("member_joined") == 2


async def test_concurrent_submits_get_gapless_unique_numbers(
    svc: Coordination, db: Database
) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    outcomes = await asyncio.gather(
        *[svc.submit(li, "referral", REFERRAL_VALUES, f"token{i:02d}") for i in range(40)]
    )
    numbers = sorted(o.case.seq for o in outcomes)
    assert numbers == list(range(1, 41))
    assert {o.case.number for o in outcomes} == {f"协调〔2026〕{i}号" for i in range(1, 41)}
    assert await count(db, t.cases) == 40
    assert await count(db, t.events, t.events.c.action == "submitted") == 40
    assert await count(db, t.case_files) == 40
    to_a_court = {**REFERRAL_VALUES, "addressee": "YB-IPC"}  # a consultation goes to a court
    consultation = await svc.submit(li, "consultation", to_a_court, "other-kind")
    assert consultation.case.number == "研判〔2026〕1号"


async def test_submit_is_idempotent_and_atomic(svc: Coordination, db: Database) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    await svc.save_draft(Draft(2, "form", "AWAITING_CONFIRMATION", {"x": 1}))
    await svc.save_draft(Draft(2, "meeting", "AWAITING_TEXT", {"y": 2}))
    first = await svc.submit(li, "referral", REFERRAL_VALUES, "tok", finishes="form")
    again = await svc.submit(li, "referral", REFERRAL_VALUES, "tok")
    assert first.changed and not again.changed and again.case.id == first.case.id
    assert await count(db, t.cases) == 1
    assert await svc.load_draft(2, "form") is None  # removed in the submit's transaction
    assert await svc.load_draft(2, "meeting") is not None  # another flow's draft stays
    case = first.case
    assert case.status == "submitted" and case.raiser_org == "CBS-NR"
    assert case.fields["applicant"] == "张三" and case.reply_by.isoformat() == "2026-12-10"  # type: ignore[union-attr]
    assert [f.file_id for f in case.files] == ["F1"]
    bad = {**REFERRAL_VALUES, "addressee": "CBS-NR"}
    with pytest.raises(InvalidInput, match="unknown_addressee"):
        await svc.submit(li, "referral", bad, "tok2")
    with pytest.raises(InvalidInput, match="date_in_past"):
        await svc.submit(li, "referral", {**REFERRAL_VALUES, "reply_by": "2026-11-24"}, "tok3")
    with pytest.raises(InvalidInput, match="incomplete"):
        await svc.submit(li, "referral", {**REFERRAL_VALUES, "applicant": ""}, "tok4")
    assert await count(db, t.cases) == 1
    assert await count(db, t.counters) == 1


async def test_revoked_mid_flow_cannot_submit(svc: Coordination, db: Database) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    await svc.revoke_member(admin, li.member.id)  # type: ignore[union-attr]
    with pytest.raises(NotAllowed):
        await svc.submit(li, "referral", REFERRAL_VALUES, "tok")  # stale viewer object
    assert await count(db, t.cases) == 0


async def test_acknowledge_and_return(svc: Coordination, db: Database, clock: ManualClock) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    clerk = await join(svc, 3, "YB-IPC", Role.COURT_STAFF, "Clerk Zhao")
    other = await join(svc, 4, "FUSONG-COURT", Role.COURT_STAFF, "Clerk Sun")
    case = (await svc.submit(li, "referral", REFERRAL_VALUES, "a")).case
    with pytest.raises(NotAllowed):
        await svc.acknowledge(other, case.id)
    with pytest.raises(NotAllowed):
        await svc.acknowledge(li, case.id)
    with pytest.raises(NotFound):
        await svc.acknowledge(clerk, 999)
    clock.advance(timedelta(minutes=42))
    both = await asyncio.gather(svc.acknowledge(clerk, case.id), svc.acknowledge(clerk, case.id))
    assert sorted(o.changed for o in both) == [False, True]
    done = both[0].case
    assert done.status == "acknowledged" and done.acted_by_name == "Clerk Zhao"
    assert done.acted_at == clock.now()
    # What the step returns is the matter as the database now holds it.
    stored = await svc.get_case(case.id)
    assert done == stored and done.updated_at == clock.now()
    late_return = await svc.return_case(clerk, case.id, "不属于受案范围")
    assert not late_return.changed and late_return.case.status == "acknowledged"
    events = await svc.case_for_viewer(li, done)
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("submitted", None, "submitted"),
        ("acknowledge", "submitted", "acknowledged"),
    ]

    second = (await svc.submit(li, "referral", REFERRAL_VALUES, "b")).case
    with pytest.raises(InvalidInput, match="empty"):
        await svc.return_case(clerk, second.id, "   ")
    returned = await svc.return_case(clerk, second.id, "材料不全，请补充")
    assert returned.changed and returned.case.return_reason == "材料不全，请补充"
    assert returned.case == await svc.get_case(second.id)
    assert await count(db, t.events, t.events.c.action == "return") == 1


async def test_visibility_and_open_lists(svc: Coordination) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    env = await join(svc, 5, "CBS-ENV", Role.DEPARTMENT_HEAD, "Zhou")
    clerk = await join(svc, 3, "YB-IPC", Role.COURT_STAFF, "Zhao")
    fusong = await join(svc, 4, "FUSONG-COURT", Role.COURT_STAFF, "Sun")
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    for i in range(7):
        await svc.submit(li, "referral", REFERRAL_VALUES, f"t{i}")
    case = await svc.find_case("协调〔2026〕3号")
    with pytest.raises(NotAllowed):
        await svc.case_for_viewer(env, case)
    assert await svc.case_for_viewer(clerk, case)
    assert (await svc.open_cases(li, 0, 5))[1] == 7
    # All due the same day: the one raised first comes first.
    assert [c.seq for c in (await svc.open_cases(li, 5, 5))[0]] == [6, 7]
    assert (await svc.open_cases(env, 0, 5))[1] == 0
    assert (await svc.open_cases(clerk, 0, 5))[1] == 7
    assert (await svc.open_cases(fusong, 0, 5))[1] == 0
    assert (await svc.open_cases(admin, 0, 5))[1] == 7
    await svc.acknowledge(clerk, case.id)
    await svc.return_case(clerk, case.id + 1, "no")
    assert (await svc.open_cases(li, 0, 5))[1] == 6
    with pytest.raises(NotFound):
        await svc.find_case("协调〔2026〕99号")
    with pytest.raises(InvalidInput):
        await svc.find_case("hello")
    assert [r.user_id for r in await svc.answerers(case)] == [3]


async def test_drafts_round_trip(svc: Coordination) -> None:
    await svc.save_draft(Draft(2, "form", "AWAITING_TEXT", {"field": "title", "values": {}}))
    await svc.save_draft(
        Draft(2, "form", "AWAITING_CHOICE", {"field": "addressee", "values": {"title": "x"}})
    )
    await svc.save_draft(Draft(3, "form", "AWAITING_TEXT", {"field": "reason", "case_id": 1}))
    await svc.save_draft(Draft(2, "meeting", "AWAITING_TEXT", {"field": "title"}))
    assert await svc.conversation_states("form") == {2: "AWAITING_CHOICE", 3: "AWAITING_TEXT"}
    assert (await svc.load_draft(2, "form")).data["values"] == {"title": "x"}  # type: ignore[union-attr]
    await svc.delete_draft(2, "form")
    assert await svc.load_draft(2, "form") is None
    assert await svc.conversation_states("form") == {3: "AWAITING_TEXT"}
    assert await svc.conversation_states("meeting") == {2: "AWAITING_TEXT"}


async def test_a_revoked_bootstrap_admin_stays_revoked(svc: Coordination, db: Database) -> None:
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    li = await join(svc, 2, "CBS-OFFICE", Role.OFFICE, "Li")
    await svc.revoke_member(li, admin.member.id)  # type: ignore[union-attr]
    await svc.bootstrap_admins()  # the next start
    assert (await svc.viewer(ADMIN_ID, "Office2", None)).member is None
    assert await count(db, t.members, t.members.c.user_id == ADMIN_ID) == 1


async def test_a_matter_nobody_can_answer_yet_is_brought_to_the_office(
    svc: Coordination, db: Database
) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    outcome = await svc.submit(li, "referral", REFERRAL_VALUES, "tok")
    assert outcome.notified == 0
    async with db.read() as conn:
        keys = set((await conn.execute(select(t.outbox.c.key))).scalars())
    assert keys == {f"case:{outcome.case.id}:unstaffed:{ADMIN_ID}"}


async def test_a_step_on_a_matter_whose_raiser_left_tells_their_organisation(
    svc: Coordination, db: Database
) -> None:
    li = await join(svc, 2, "CBS-NR", Role.DEPARTMENT_HEAD, "Li")
    clerk = await join(svc, 3, "YB-IPC", Role.COURT_STAFF, "Clerk Zhao")
    colleague = await join(svc, 5, "CBS-NR", Role.DEPARTMENT_HEAD, "Qian")
    other_org = await join(svc, 6, "CBS-ENV", Role.DEPARTMENT_HEAD, "Wang")
    case = (await svc.submit(li, "referral", REFERRAL_VALUES, "left")).case
    admin = await svc.viewer(ADMIN_ID, "Office", None)
    await svc.revoke_member(admin, li.member.id)  # type: ignore[union-attr]
    outcome = await svc.acknowledge(clerk, case.id)
    assert outcome.changed
    told = t.outbox.c.key.startswith(f"case:{case.id}:e{outcome.event_id}:")
    async with db.read() as conn:
        chats = (await conn.execute(select(t.outbox.c.chat_id).where(told))).scalars().all()
    assert colleague.user_id in chats
    assert li.user_id not in chats and other_org.user_id not in chats
