"""Search over matters: what a matter's search documents say, and how words become a query.

A matter is searched through *documents*, each with a title part and a body part:

- slot 0, the matter itself: its title; its number, the form's other answers a member may
  see (``bot.domain.privacy``), the organisations concerned and every note of the history
  on the whole matter;
- slot *k* (a matter with several addressees only): the notes of the addressee at position
  *k* — its reasons, answers and outcomes — which only the viewers who see that addressee may
  search, as ``/case`` shows them only to those (``rules.addressees_seen``);
- slot ``PERSONAL_SLOT`` (a matter whose form holds personal data: a party's or an
  applicant's name): slot 0's words again, title included, with the personal data, which
  only the viewers who may see it (``bot.domain.privacy``) may search — an observer does not
  find a matter by a name ``/case`` does not show them, and the others find it by the name
  together with any other word of the matter.

A document's id is ``case_id << SLOT_BITS | slot``: ids order as matters do (newest last),
so "recent first" is the index's own order, and a matter's documents are one id range.

Organisations are written as their codes (``[CBS-NR]``, and ``zzorg<code>`` in the short-word
part), never as names: the committee file may rename an organisation without a re-index. A
word naming an organisation is widened at query time to its codes (``org_codes``).

Words: the text is split at anything that is not a letter or digit (so punctuation, FTS syntax
and quotes never reach the index's query language). SQLite's FTS5 ``trigram`` tokenizer
finds any substring of three or more characters, but no shorter one — and Chinese words are
often two characters (征收, 补偿). Those are answered by a second full-text index over the
text's overlapping *bigrams* (征收补偿 → 征收 收补 补偿), built here, in Python, with the same
function at index and at query time (``bigrams``). A bigram index is an inverted index as the
trigram one is — a lookup, not a scan — where a ``LIKE`` fallback would read every candidate
row, which at a million matters is seconds. One-character words are too common to mean
anything and are not searched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.committee import Center, Committee, GroupDetail, Organisation
from bot.domain.fields import ADDRESSEE, CHOICE, LONG_TEXT, ORGANISATION, ORGANISATIONS, TEXT
from bot.domain.kinds import KindSpec
from bot.domain.privacy import Audience, disclosure
from bot.domain.text import clean_text
from bot.i18n import LANGS, gettext_for

SLOT_BITS = 10
SLOTS = 1 << SLOT_BITS  # a matter has fewer addressees than this (the committee's agencies)
PERSONAL_SLOT = SLOTS - 1  # the matter's personal data; addressees' slots stay below it
MAX_QUERY = 100  # characters a query may have
MIN_WORD = 2  # shorter words are not searched
TRIGRAM = 3  # words this long or longer go to the trigram index
ORG_TOKEN = "zzorg"  # an organisation's code in the short-word index


def doc_id(case_id: int, slot: int = 0) -> int:
    return (case_id << SLOT_BITS) | slot


def case_of(doc: int) -> int:
    return doc >> SLOT_BITS


def slot_of(doc: int) -> int:
    return doc & (SLOTS - 1)


@dataclass(frozen=True, slots=True)
class Document:
    """One searchable document of a matter (see the module's docstring)."""

    id: int
    title: str
    body: str


def normal(text: str) -> str:
    """Text as it is indexed: NFKC (full-width letters and digits as their plain forms),
    cleaned of control characters, on one line."""
    return clean_text(unicodedata.normalize("NFKC", text or ""), multiline=False)


def org_mark(code: str) -> str:
    """An organisation as the trigram index holds it: its code in brackets."""
    return f"[{code}]"


def org_token(code: str) -> str:
    """An organisation as the short-word index holds it: one token of letters and digits."""
    return ORG_TOKEN + "".join(ch for ch in code.casefold() if ch.isalnum())


_RUNS = re.compile(r"\w+")


def runs(text: str) -> list[str]:
    """The runs of letters and digits of a text (``_`` is not a letter)."""
    return [r for part in _RUNS.findall(text) for r in part.split("_") if r]


RUN_END = "zzs"  # between two runs' bigrams: no phrase spans a punctuation mark


def bigrams(text: str) -> str:
    """The text as the short-word index holds it: every pair of neighbouring letters or
    digits, casefolded, separated by spaces, each run's pairs closed by ``RUN_END`` (so
    "xab, bcd" never matches the phrase of "abcd"). Must stay the same function for as long
    as the index exists: a matter's old document is removed from that index by recomputing
    it."""
    pairs: list[str] = []
    for run in runs(unicodedata.normalize("NFKC", text).casefold()):
        if len(run) > 1:
            pairs.extend(run[i : i + 2] for i in range(len(run) - 1))
            pairs.append(RUN_END)
    return " ".join(pairs)


def bigram_phrase(word: str) -> str:
    """A word as consecutive tokens of the short-word index (征收补偿 → 征收 收补 补偿)."""
    return bigrams(word).removesuffix(" " + RUN_END)


_MARK = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9-]*)\]")


def short_index_text(title: str, body: str) -> tuple[str, str]:
    """(title, body) of a document as the short-word index holds them, computed from the
    document's stored text alone (the organisations from their marks), so the same call
    gives what to remove when the document changes."""
    tokens = [org_token(code) for code in dict.fromkeys(_MARK.findall(body))]
    return bigrams(title), " ".join([bigrams(body), *tokens]).strip()


def _labels(choices: Sequence[tuple[str, str]], value: Any) -> list[str]:
    """A choice as every language shows it (an outcome is found in Chinese and English)."""
    label = dict(choices).get(str(value))
    return [] if label is None else [gettext_for(lang, label) for lang in LANGS]


def _answer_text(kind: KindSpec, action_code: str, detail: Mapping[str, Any]) -> list[str]:
    """The searchable words of one history step: its typed texts and chosen outcomes."""
    if not kind.has_action(action_code):
        return []
    parts: list[str] = []
    for spec in kind.action(action_code).inputs:
        value = detail.get(spec.name)
        if value in (None, ""):
            continue
        if spec.type in (TEXT, LONG_TEXT):
            parts.append(str(value))
        elif spec.type is CHOICE:
            parts += _labels(spec.choices, value)
        elif spec.type in (ORGANISATION, ADDRESSEE):
            parts.append(org_mark(str(value)))
    return parts


def _orgs_of(values: Mapping[str, Any], kind: KindSpec) -> list[str]:
    found: list[str] = []
    for spec in kind.fields:
        value = values.get(spec.name)
        if spec.type in (ORGANISATION, ADDRESSEE) and value:
            found.append(str(value))
        elif spec.type is ORGANISATIONS and value:
            found += [str(v) for v in value]
    return found


@dataclass(frozen=True, slots=True)
class Step:
    """A history step as the index needs it."""

    action: str
    detail: Mapping[str, Any]
    position: int  # the addressee's position it concerns; 0: the whole matter


def documents(
    case_id: int,
    number: str,
    title: str,
    fields: Mapping[str, Any],
    raiser_org: str,
    addressees: Sequence[str],
    steps: Sequence[Step],
    kind: KindSpec | None,
) -> list[Document]:
    """A matter's documents.

    Fields are those a member may see of the matter (``privacy.disclosure``: a member in
    a private chat sees every answer); the personal ones go to a document of their own, which
    the search offers only to those who may see them. A matter of a retired kind is found by
    its number and title only."""
    body: list[str] = [number]
    personal: list[str] = []
    orgs = [raiser_org, *addressees]
    if kind is not None:
        shown = disclosure(Audience.MEMBER, GroupDetail.FULL, kind.group_detail)
        for spec in kind.fields:
            value = fields.get(spec.name)
            if spec.name == kind.title_field or value in (None, "", []):
                continue
            if spec.personal and not shown.personal:
                continue
            if spec.type in (TEXT, LONG_TEXT) and spec.personal:
                personal.append(str(value))
            elif spec.type in (TEXT, LONG_TEXT) and shown.description:
                body.append(str(value))
            elif spec.type is CHOICE and spec.name != "urgency":
                body += _labels(spec.choices, value)
        orgs += _orgs_of(fields, kind)
    notes: dict[int, list[str]] = {}
    for step in steps:
        if kind is None:
            continue
        text = _answer_text(kind, step.action, step.detail)
        if text:
            notes.setdefault(step.position, []).extend(text)
    body += notes.pop(0, [])
    unique = list(dict.fromkeys(orgs))
    body += [org_mark(code) for code in unique]
    docs = [Document(doc_id(case_id), normal(title), normal(" ".join(body)))]
    if personal:
        whole = " ".join([title, *body, *personal])
        docs.append(Document(doc_id(case_id, PERSONAL_SLOT), "", normal(whole)))
    for position, texts in sorted(notes.items()):
        if 0 < position < PERSONAL_SLOT:
            docs.append(Document(doc_id(case_id, position), "", normal(" ".join(texts))))
    return docs


# ---------------------------------------------------------------------------- queries


class QueryProblem(ValueError):
    """A query that cannot be searched: ``empty`` (nothing to search for) or ``too_long``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Query:
    """Words to find, all of them in one document: each a run of letters and digits,
    casefolded; with the organisations each word names."""

    text: str
    words: tuple[str, ...]
    orgs: tuple[tuple[str, ...], ...]

    @property
    def long_words(self) -> tuple[int, ...]:
        return tuple(i for i, w in enumerate(self.words) if len(w) >= TRIGRAM)

    @property
    def short_words(self) -> tuple[int, ...]:
        return tuple(i for i, w in enumerate(self.words) if len(w) < TRIGRAM)


def parse_query(text: str, committee: Committee | None = None) -> Query:
    """The words of what a user typed after /find; raises ``QueryProblem``."""
    cleaned = normal(text).strip()
    if len(cleaned) > MAX_QUERY:
        raise QueryProblem("too_long")
    words = tuple(dict.fromkeys(w.casefold() for w in runs(cleaned) if len(w) >= MIN_WORD))
    if not words:
        raise QueryProblem("empty")
    orgs = tuple(org_codes(w, committee) for w in words)
    return Query(cleaned, words, orgs)


def org_codes(word: str, committee: Committee | None) -> tuple[str, ...]:
    """The organisations (and coordination centers) a word names: in either language, in
    full or short, or by code."""
    if committee is None:
        return ()
    found: list[str] = []
    named: list[Organisation | Center] = [
        *committee.organisations.values(),
        *committee.centers.values(),
    ]
    for org in named:
        names = [org.name("zh_CN"), org.name("en"), org.short("zh_CN"), org.short("en"), org.code]
        if any(word in unicodedata.normalize("NFKC", n).casefold() for n in names if n):
            found.append(org.code)
    return tuple(found)


def phrase(text: str) -> str:
    """A string as an FTS5 phrase: quoted, its quotes doubled — never FTS syntax."""
    return '"' + text.replace('"', '""') + '"'


def trigram_match(query: Query, *, title_only: bool) -> str | None:
    """The trigram index's MATCH expression for the query's long words (None: it has none)."""
    parts: list[str] = []
    for i in query.long_words:
        word = query.words[i]
        if title_only:  # the index of the titles alone
            parts.append(phrase(word))
        else:
            options = [phrase(word), *(phrase(org_mark(c).casefold()) for c in query.orgs[i])]
            parts.append("(" + " OR ".join(options) + ")")
    return " AND ".join(parts) or None


def bigram_match(query: Query, *, title_only: bool) -> str | None:
    """The short-word index's MATCH expression (None: the query has no two-character word).

    With a two-character word, the longer words are matched there too, as phrases of their
    bigrams (征收补偿 → "征收 收补 补偿"), so the index intersects every word itself: checking
    each trigram match against the other index one by one costs a lookup per match."""
    if not query.short_words:
        return None
    parts: list[str] = []
    for i, found in enumerate(query.words):
        word = phrase(bigram_phrase(found))
        if title_only:  # the index of the titles alone
            parts.append(word)
        else:
            options = [word, *(org_token(c) for c in query.orgs[i])]
            parts.append("(" + " OR ".join(options) + ")")
    return " AND ".join(parts)
