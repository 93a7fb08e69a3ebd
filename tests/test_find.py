"""/find: members find the matters they may see by two-character words, phrases, numbers,
parties and notes, best matches first, page by page; the index follows every change."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import and_, inspect, or_, select, text

from bot.domain.committee import Committee
from bot.domain.models import Case, Role
from bot.domain.search import PERSONAL_SLOT, SLOT_BITS, bigram_phrase, case_of, doc_id
from bot.storage import schema as t
from tests.flows import LI, QIAN, SUN, WANG, ZHAO, admin, bind_group, member, rows, seed_case
from tests.migrating import migrate_to
from tests.scenario import Harness, running_bot

pytestmark = pytest.mark.postgres


def result_numbers(bot: Harness, user: Any) -> list[str]:
    """The matters the last search listed, in order, as its buttons name them."""
    message = bot.fake.last_message_to(user)
    found = [label for row in bot.fake.buttons(message) for label, _ in row]
    return [n for n in found if "〔" in n]


async def docs_of(bot: Harness, case: Case) -> list[Any]:
    lo, hi = doc_id(case.id), doc_id(case.id + 1)
    return await rows(bot, t.search_docs, t.search_docs.c.id >= lo, t.search_docs.c.id < hi)


async def index_ids(bot: Harness, index: str, word: str, *, title: bool = False) -> set[int]:
    """The matters an index itself finds for a word (what the database holds, not what is
    shown). SQLite: the FTS5 table ``index`` (``title``: its title column alone). PostgreSQL
    has no such tables but the expressions its indexes serve over ``search_docs``: ``ILIKE``
    (pg_trgm) for ``*_tri``, the full-text vector of the bigrams (``grams``, the title's and
    the body's together) for ``*_bi``; ``find_title_*`` look at the title alone."""
    async with bot.svc.db.read() as conn:
        if conn.dialect.name == "sqlite":
            match = f'title : "{word}"' if title else f'"{word}"'
            found = await conn.execute(
                text(f"SELECT rowid FROM {index} WHERE {index} MATCH :m"), {"m": match}
            )
            return {case_of(r) for (r,) in found}
        d = t.search_docs
        pattern = f"%{word}%"
        grams = text(
            "to_tsvector('simple', coalesce(grams, '')) @@ phraseto_tsquery('simple', :p)"
        ).bindparams(p=bigram_phrase(word))
        where: Any = {
            "find_tri": d.c.title.ilike(pattern)
            if title
            else or_(d.c.title.ilike(pattern), d.c.body.ilike(pattern)),
            "find_bi": grams,
            "find_title_tri": d.c.title.ilike(pattern),
            "find_title_bi": and_(grams, d.c.title.ilike(pattern)),
        }[index]
        return {case_of(r) for r in (await conn.execute(select(d.c.id).where(where))).scalars()}


async def raise_with(
    bot: Harness,
    user_id: int,
    name: str,
    title: str,
    description: str = "情况说明。",
    *,
    kind: str = "consultation",
    addressee: str = "YB-IPC",
) -> Case:
    viewer = await bot.svc.viewer(user_id, name, None)
    values: dict[str, Any] = {
        "title": title,
        "description": description,
        "addressee": addressee,
        "urgency": "normal",
        "reply_by": None,
        "documents": [],
    }
    if kind == "referral":
        values.update(applicant="张三", respondent="CBS-NR")
    outcome = await bot.svc.submit(viewer, kind, values, secrets.token_hex(8))
    return outcome.case


async def test_a_department_head_finds_their_matter_by_a_short_word_a_phrase_and_its_number(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        mine = await raise_with(bot, LI, "李明", "集体土地征收补偿争议研判")
        theirs = await raise_with(bot, WANG, "王强", "湿地征收补偿方案", addressee="FUSONG-COURT")

        # The index holds both, each under its matter's id (what a search reads).
        (doc,) = await docs_of(bot, mine)
        assert doc.id == mine.id << SLOT_BITS and doc.title == "集体土地征收补偿争议研判"
        assert mine.number in doc.body and "[CBS-NR]" in doc.body and "[YB-IPC]" in doc.body
        assert await index_ids(bot, "find_bi", "征收") == {mine.id, theirs.id}

        await bot.say(li, "/find 征收")
        shown = bot.last_text(li)
        assert mine.number in shown and "集体土地征收补偿争议研判" in shown
        assert theirs.number not in shown and "湿地" not in shown
        assert result_numbers(bot, li) == [mine.number]

        await bot.say(li, "/find 土地征收补偿")
        assert result_numbers(bot, li) == [mine.number]
        await bot.say(li, "/find 湿地征收")  # another organisation's matter: not even a hint
        assert theirs.number not in bot.last_text(li)
        assert bot.shown("No matter you can see holds these words.") in bot.last_text(li)

        # Its number in another form /case reads; the button opens the matter.
        prefix, rest = mine.number.split("〔")
        year, seq = rest.rstrip("号").split("〕")
        await bot.say(li, f"/find {prefix}[{year}]{seq}")
        assert result_numbers(bot, li) == [mine.number]
        await bot.press(li, mine.number)
        assert bot.last_text(li).startswith(mine.number)
        assert "集体土地征收补偿争议研判" in bot.last_text(li)


@pytest.mark.sqlite_only
async def test_sqlites_trigram_index_alone_misses_a_two_character_word(
    committee: Committee, db_url: str
) -> None:
    """Why SQLite keeps a bigram index too: FTS5's trigram tokenizer finds no shorter word.
    (PostgreSQL's ``ILIKE`` would find one, reading every row: there ``grams`` answers it.)"""
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await raise_with(bot, LI, "李明", "集体土地征收补偿争议研判")
        assert await index_ids(bot, "find_tri", "征收") == set()
        assert await index_ids(bot, "find_tri", "征收补偿") == {case.id}
        assert await index_ids(bot, "find_bi", "征收") == {case.id}


async def test_a_court_clerk_finds_a_matter_addressed_to_them_and_no_other_court_does(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        sun = await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await raise_with(
            bot,
            WANG,
            "王强",
            "林下参种植用地征收",
            "征收范围涉及村民承包地。",
            kind="referral",
            addressee="CHIXINAN-CENTER",
        )
        # Sent to a center the Fusong court staffs: its clerk finds it, by a word and by
        # the raising organisation's name (a party).
        await bot.say(sun, "/find 承包")
        assert result_numbers(bot, sun) == [case.number]
        await bot.say(sun, "/find 生态环境局")
        assert result_numbers(bot, sun) == [case.number]
        await bot.say(zhao, "/find 承包")
        assert result_numbers(bot, zhao) == []
        await bot.say(zhao, f"/find {case.number}")
        assert result_numbers(bot, zhao) == []
        # The office and its observers see every matter.
        await bot.say(admin(bot), "/find 承包")
        assert result_numbers(bot, admin(bot)) == [case.number]


async def test_an_applicant_is_found_only_by_those_who_may_see_them(
    committee: Committee, db_url: str
) -> None:
    """Personal data (a referral's applicant) is searched as /case shows it: the raising
    department, the answering court and the office find the matter by the name; an
    observer, who reads the matter without it, does not — by the whole name or a part."""
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        qian = await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        case = await raise_with(bot, LI, "李明", "宅基地确权争议", kind="referral")
        for user in (li, zhao, admin(bot)):
            for words in ("张三", "张三 宅基地", "张三 情况说明"):
                await bot.say(user, f"/find {words}")
                assert result_numbers(bot, user) == [case.number], (user.first_name, words)
        for words in ("张三", "张三 宅基地"):
            await bot.say(qian, f"/find {words}")
            assert result_numbers(bot, qian) == [], words
        await bot.say(qian, "/find 宅基地")
        assert result_numbers(bot, qian) == [case.number]
        await bot.say(qian, f"/case {case.number}")
        assert "宅基地确权争议" in bot.last_text(qian) and "张三" not in bot.last_text(qian)


async def test_title_hits_come_first_then_the_newest(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        old_title = await raise_with(bot, LI, "李明", "征收补偿标准咨询")
        bot.clock.advance(timedelta(hours=1))
        in_text = await raise_with(bot, LI, "李明", "林地审批", "涉及征收补偿。")
        bot.clock.advance(timedelta(hours=1))
        new_title = await raise_with(bot, LI, "李明", "房屋征收程序咨询")
        await bot.say(li, "/find 征收")
        assert result_numbers(bot, li) == [new_title.number, old_title.number, in_text.number]
        # The exact number leads, whatever else matches.
        await bot.say(li, f"/find {in_text.number}")
        assert result_numbers(bot, li)[0] == in_text.number


async def test_results_come_five_a_page(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        cases = []
        for i in range(7):
            cases.append(await raise_with(bot, LI, "李明", f"第{i + 1}宗征收争议"))
            bot.clock.advance(timedelta(minutes=10))
        newest = [c.number for c in reversed(cases)]
        await bot.say(li, "/find 征收争议")
        first = bot.last_text(li)
        assert first.startswith("搜索：征收争议（7件） · 第1/2页")
        assert result_numbers(bot, li) == newest[:5]
        (saved,) = await rows(bot, t.searches, t.searches.c.user_id == LI)
        assert saved.query == "征收争议"
        await bot.press(li, bot.shown("Next ▶"))
        assert result_numbers(bot, li) == newest[5:]
        assert bot.shown("page %(page)s of %(pages)s", page=2, pages=2) in bot.last_text(li)
        await bot.press(li, bot.shown("◀ Previous"))
        assert result_numbers(bot, li) == newest[:5]
        # Someone else pressing a copy of those buttons gets nothing of it.
        wang = await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        await bot.press(wang, data=f"fd:{saved.id}:1", message=bot.last_with_buttons(li))
        assert bot.alerts(wang)[-1] == bot.shown("This button is no longer active.")


async def test_the_index_follows_a_return_a_resubmission_and_a_note(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "林地占用研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, "请补充林地权属证明。")
        returned = bot.last_with_buttons(li)
        (doc,) = await docs_of(bot, case)
        assert "请补充林地权属证明。" in doc.body
        await bot.say(li, "/find 权属")  # a word of the court's reason
        assert result_numbers(bot, li) == [case.number]

        await bot.press(li, "✏ 修改后重新提请", message=returned)
        await bot.press(li, "修改某项")
        await bot.press(li, "标题")
        await bot.say(li, "林场经营权纠纷研判")
        await bot.press(li, "提请")
        (doc,) = await docs_of(bot, case)
        assert doc.title == "林场经营权纠纷研判"
        assert await index_ids(bot, "find_tri", "占用研判", title=True) == set()
        assert await index_ids(bot, "find_bi", "占用", title=True) == set()
        assert await index_ids(bot, "find_title_bi", "占用") == set()
        assert await index_ids(bot, "find_title_bi", "经营") == {case.id}
        assert await index_ids(bot, "find_title_tri", "经营权") == {case.id}
        await bot.say(li, "/find 占用")
        assert result_numbers(bot, li) == []
        await bot.say(li, "/find 经营权")
        assert result_numbers(bot, li) == [case.number]

        await bot.press(zhao, "受理", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, bot.shown("📝 Add a note"))
        await bot.say(zhao, "已约谈林业站负责人。")
        await bot.press(zhao, "完成")  # no documents with it
        assert "约谈" in (await docs_of(bot, case))[0].body
        await bot.say(li, "/find 约谈")
        assert result_numbers(bot, li) == [case.number]
        # Every step rewrote the one document: the indexes hold it once.
        assert await index_ids(bot, "find_bi", "约谈") == {case.id}
        assert await index_ids(bot, "find_tri", "林业站") == {case.id}


async def test_bad_queries_get_a_clear_answer_and_never_an_error(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await raise_with(bot, LI, "李明", "征收补偿")
        usage = bot.shown("Send the words to look for after the command, for example:")
        for query in ("/find", "/find   ", "/find ！？。，", "/find 征"):
            await bot.say(li, query)
            assert usage in bot.last_text(li), query
        await bot.say(li, "/find " + "征收" * 60)
        assert bot.last_text(li) == bot.shown(
            "That is too long to search: at most %(n)s characters.", n=100
        )
        for query in ('"征收', "征收 OR NEAR(", "征收* AND -", 'title:"x"', "^征收 {title}"):
            await bot.say(li, f"/find {query}")
            assert result_numbers(bot, li) in ([case.number], []), query
        await bot.say(li, '/find "征收"')
        assert result_numbers(bot, li) == [case.number]


async def test_strangers_and_the_group_get_no_results(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await raise_with(bot, LI, "李明", "征收补偿")
        stranger = bot.user(9001, "路人")
        await bot.say(stranger, "/find 征收")
        assert case.number not in bot.last_text(stranger)
        group = await bind_group(bot)
        await bot.say(bot.user(LI, "李明"), "/find 征收", chat=group)
        assert not any(case.number in x for x in bot.texts(group))
        assert "https://t.me/" in bot.last_text(group)  # pointed to the private chat
        assert not await rows(bot, t.searches)
        async with bot.svc.db.read() as conn:
            assert (await conn.execute(select(t.search_docs.c.id))).scalars().all() == [
                doc_id(case.id)
            ]


async def test_one_agencys_reply_is_found_only_by_those_who_may_read_it(
    committee: Committee, db_url: str
) -> None:
    """A request to several agencies: each agency finds the request, but only its own
    reply — as /case shows it only its own."""
    from tests.test_mech_assistance import ENV, NR, reply, seed

    async with running_bot(committee, db_url) as bot:
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        wang = await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        case_id = await seed(bot, ["CBS-NR", "CBS-ENV"])
        case = await bot.svc.get_case(case_id)
        await reply(bot, li, NR, "Assisted as asked", "名下登记住宅一套。")
        await reply(bot, wang, ENV, "Partly assisted", "车辆已登记抵押。")

        docs = {d.id: d for d in await docs_of(bot, case)}
        positions = {a.addressee: a.position for a in case.assignments}
        assert "名下登记住宅一套。" in docs[doc_id(case_id, positions["CBS-NR"])].body
        assert "车辆已登记抵押。" in docs[doc_id(case_id, positions["CBS-ENV"])].body
        assert "住宅" not in docs[doc_id(case_id)].body
        # The second reply rewrote ENV's document alone: the first reply's words are still
        # in both indexes, beside the second's.
        for index, word in (("find_bi", "住宅"), ("find_tri", "名下登记"), ("find_bi", "抵押")):
            assert await index_ids(bot, index, word) == {case_id}, (index, word)
        for user in (li, wang, zhao):  # the request itself: everyone it concerns
            await bot.say(user, "/find 股权")
            assert result_numbers(bot, user) == [case.number]
        await bot.say(li, "/find 住宅")
        assert result_numbers(bot, li) == [case.number]
        await bot.say(wang, "/find 住宅")  # the other agency's reply
        assert result_numbers(bot, wang) == []
        await bot.say(wang, "/find 抵押")
        assert result_numbers(bot, wang) == [case.number]
        for user in (zhao, admin(bot)):  # the raising court and the office read every reply
            await bot.say(user, "/find 住宅")
            assert result_numbers(bot, user) == [case.number]


async def test_the_migration_indexes_the_matters_already_there(
    committee: Committee, db_url: str
) -> None:
    """Matters raised before the search existed are found after the upgrade: undo the
    migration (its tables go), apply it again, search."""
    to = partial(migrate_to, db_url)  # run_sync(to(revision))

    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await raise_with(bot, LI, "李明", "集体土地征收补偿争议研判", kind="referral")
        async with bot.svc.db.write() as conn:
            await conn.run_sync(to("0009_notices"))
        async with bot.svc.db.read() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not {"search_docs", "find_tri", "find_bi", "searches"} & tables
        async with bot.svc.db.write() as conn:
            await conn.run_sync(to("head"))
        (doc, personal) = await docs_of(bot, case)
        assert doc.title == "集体土地征收补偿争议研判" and "张三" not in doc.body
        # The applicant is in the matter's document of personal data, searched by those who
        # may see it.
        assert personal.id == doc_id(case.id, PERSONAL_SLOT)
        assert personal.body.startswith("集体土地征收补偿争议研判 ") and "张三" in personal.body
        await bot.say(li, "/find 张三")  # the applicant (personal data, which members see)
        assert result_numbers(bot, li) == [case.number]
        await bot.say(li, "/find 征收")
        assert result_numbers(bot, li) == [case.number]


def test_words_become_queries_that_are_never_fts_syntax() -> None:
    from bot.domain.search import (
        QueryProblem,
        bigram_match,
        bigrams,
        parse_query,
        trigram_match,
    )

    assert bigrams("征收补偿") == "征收 收补 补偿 zzs"
    # A phrase never spans a punctuation mark: "xab, bcd" does not hold "abcd".
    assert "ab bc cd" not in bigrams("xab, bcd")
    query = parse_query('征收 "补偿款" OR NEAR(x* 征')
    assert query.words == ("征收", "补偿款", "or", "near")
    # Every word is a quoted phrase: OR, NEAR, * and quotes are only words here.
    assert trigram_match(query, title_only=True) == '"补偿款" AND "near"'
    assert bigram_match(query, title_only=False) == (
        '("征收") AND ("补偿 偿款") AND ("or") AND ("ne ea ar")'
    )
    for bad, code in (
        ("", "empty"),
        ("！？", "empty"),
        ("征 收", "empty"),
        ("征" * 101, "too_long"),
    ):
        try:
            parse_query(bad)
        except QueryProblem as exc:
            assert exc.code == code
        else:
            raise AssertionError(bad)


async def test_the_migration_moves_personal_data_out_of_what_observers_search(
    committee: Committee, db_url: str
) -> None:
    """A matter indexed before personal data had a document of its own (the applicant in
    its main document, found by an observer): migration 0012_find_personal rewrites it, so
    the observer no longer finds it by the name and its raiser still does."""
    from sqlalchemy import Connection

    from bot.domain.search import Document, normal
    from bot.storage.search import drop_slot, insert

    to = partial(migrate_to, db_url)  # run_sync(to(revision))

    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        qian = await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        case = await raise_with(bot, LI, "李明", "宅基地确权争议", kind="referral")
        async with bot.svc.db.write() as conn:
            await conn.run_sync(to("0011_calendar"))
        (main,) = await docs_of(bot, case)  # going down removed the personal document

        def as_before(sync_conn: Connection) -> None:
            """The main document as the earlier code wrote it: with the applicant."""
            drop_slot(sync_conn, 0)
            insert(sync_conn, [Document(main.id, main.title, normal(f"{main.body} 张三"))])

        async with bot.svc.db.write() as conn:
            await conn.run_sync(as_before)
        await bot.say(qian, "/find 张三")
        assert result_numbers(bot, qian) == [case.number]  # what the migration repairs

        async with bot.svc.db.write() as conn:
            await conn.run_sync(to("head"))
        main, personal = await docs_of(bot, case)
        assert "张三" not in main.body and "张三" in personal.body
        assert personal.id == doc_id(case.id, PERSONAL_SLOT)
        await bot.say(qian, "/find 张三")
        assert result_numbers(bot, qian) == []
        await bot.say(li, "/find 张三")
        assert result_numbers(bot, li) == [case.number]
