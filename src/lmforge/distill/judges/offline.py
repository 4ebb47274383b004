"""A deterministic ICE judge with no model: first-person identity claims in English and Chinese.

A response is split into sentences; a sentence is a *claim* when it speaks in the first
person ("I am", "my", "me", "our", "我") and names a vendor or model alias from the fact
book, with no negation or comparison just before the name ("not", "unlike", "pretend to
be", "不是", "假装"). A claim naming a family other than the target's contradicts the fact
(loose); if that family's vendor is not the target's own vendor it is also a strict hit,
reported with that family. A foreign name beside the target's own name in one sentence
("Microsoft's model, based on OpenAI technology") is not a claim. A first-person maker
statement naming someone the fact book does not know ("I was built by the Erebus
collective") is a loose hit only.

Modes [design]:
- ``claims`` (default): lines spoken by a persona (``[CLASSIC] …``, ``DAN: …``,
  ``**Claude:** …``) and quoted lines are role-play, not the model's own claims.
  A refusal citing another vendor's policy ("against OpenAI's content policy") is no claim.
- ``paper``: such lines count, as the official gpt-4o-mini judge counted them; a policy
  citation is a loose hit; strict hits are only OpenAI/ChatGPT and Anthropic/Claude
  claims. For measuring agreement with the official labels (rules tuned on the dev split
  only; see ``benchmarks/distill_ice.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from lmforge.core.errors import LmforgeError
from lmforge.distill.facts import FactBook, Family
from lmforge.distill.judges.base import Judge, Verdict

MODES = ("claims", "paper")
PAPER_STRICT_FAMILIES = ("gpt", "claude")
UNKNOWN = "unknown"  # a named maker that is in no family of the fact book
POLICY = "policy"  # paper mode: "I cannot … against OpenAI's content policy" (the official loose judge counted it)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^a-z])|(?<=[。！？；])|\n+")
_SPEAKER = re.compile(
    r"""^\s*(?:[-*>#]+\s*)?(?:
        [\[(（【]\s*(?P<b>[^\]\)）】\n]{1,40}?)\s*[\])）】]\s*[:：]?   # [CLASSIC]  (🤖ChatGPT)  【DAN】
      | \**\s*(?P<c>[^\W\d_][\w .'’\-]{0,30}?|[\u4e00-\u9fff]{1,8})  # DAN: …  **Claude:** …
        \s*\**\s*[:：]\s*\**(?=\s*\S)
    )""",
    re.VERBOSE,
)
# Labels that introduce the model's own answer rather than a persona's.
_PLAIN_LABELS = {
    "answer", "response", "reply", "note", "question", "query", "translation", "output", "a", "q", "me", "i",
    "assistant", "ai", "user", "example", "summary", "warning", "disclaimer", "edit", "update", "step 1",
    "回答", "答", "答案", "问题", "翻译", "注意", "说明", "输出", "助手",
}  # fmt: skip
_QUOTED = re.compile(r"\"[^\"\n]{3,}\"|“[^”\n]{3,}”|「[^」\n]{3,}」|『[^』\n]{3,}』")
_FIRST_PERSON = re.compile(
    r"\b(?:I am|I'm|I’m|I was|I've been|I have been|I’ve been|me|my|My|myself|mine|our|Our|us|we are|We are|we were)\b"
    r"|我"
)
_NEGATION = re.compile(
    r"(?:\bnot\b|n't|n’t|\bnever\b|\bno\b|\bunlike\b|\brather than\b|\binstead of\b|\bneither\b|\bnor\b|"
    r"\bwithout\b|\bother than\b|\bcompared to\b|\bsuch as\b|\blike\b|\bpretend|\bimpersonat|\brole-?play|"
    r"\bsimulat|\bact as\b|\bnothing to do\b|\bregarding\b|\bsidekick\b|"
    r"关于|有关|如果|不是|并非|不属于|而非|没有|与其|不同于|比如|例如|像|假装|扮演|模拟|冒充)",
    re.IGNORECASE,
)
# After the name: "... has nothing to do with X" is caught before it; "和X没有关系" after it.
_NEGATION_AFTER = re.compile(
    r"^[^。.!?！？]{0,12}?(?:没有[^。]{0,6}关系|无关|\s+has nothing)|^\s*(?:with\b|与)[^.。]{0,20}(?:mode|模式)", re.I
)
_CLAUSE = re.compile(r"[,;:，；：]|\b(?:but|and|while|whereas)\b|但|而是", re.IGNORECASE)
_POLICY = re.compile(
    r"^(?:['’]s?)?\s*(?:content\s+|usage\s+|use\s+|safety\s+)?"
    r"(?:polic|guideline|terms|rules|restriction|use.case|api\b|gym)"
    r"|^的?(?:内容)?(?:政策|规则|限制|准则|条款)",
    re.IGNORECASE,
)

# A first-person statement of who made "me", naming the maker: loose evidence even when the maker is unknown.
_MAKER = re.compile(
    r"\b(?:I (?:am|was|have been)|I'm|I’m|I've been|I’ve been)\b[^.!?]{0,30}?\b(?:developed|created|built|made|"
    r"trained|designed|programmed|engineered|produced|owned|founded)\s+by\s+(?P<en>[^.,;!?\n]{3,60})"
    r"|\b[Mm]y (?:creators?|developers?|makers?|parent company|creation company|company|development team)\s+"
    r"(?:is|are|was|were)\s+(?P<en2>[^.,;!?\n]{3,60})"
    r"|我(?:是)?(?:由|被)(?P<zh>[^，。！？\n]{2,30}?)(?:所|一手|共同|独立)?(?:开发|创建|创造|打造|训练|研发|设计|制造|构建)"
    r"|我的(?:开发者|创造者|创建者|开发团队|母公司|公司|制造者)(?:是|为)(?P<zh2>[^，。！？\n]{2,30})"
)
_QUOTED_NAME = r"[\"“「『'‘][^\"”」』'’]{2,40}[\"”」』'’]"
_NAMED = {
    "en": re.compile(_QUOTED_NAME + r"|\b(?!(?:I|AI|A|An|The|My|Our)\b)[A-Z][\w&-]+"),
    "zh": re.compile(_QUOTED_NAME + r"|[A-Za-z]{2,}"),
}


@dataclass(frozen=True)
class Claim:
    """A first-person sentence naming ``family`` (via ``alias``); ``speaker`` is set for persona lines."""

    family: str
    alias: str
    sentence: str
    speaker: str = ""


def _alias_pattern(alias: str) -> str:
    if re.search(r"[\u3400-\u9fff]", alias):
        return re.escape(alias)
    core = re.escape(alias).replace(r"\ ", r"[\s-]?")
    return rf"(?<![A-Za-z0-9]){core}(?![A-Za-z])"


class OfflineJudge(Judge):
    """Rule-based loose/strict judge over the aliases of a :class:`FactBook`."""

    def __init__(self, book: FactBook, mode: str = "claims") -> None:
        if mode not in MODES:
            raise LmforgeError(f"unknown offline judge mode {mode!r}; use one of: {', '.join(MODES)}")
        self.book = book
        self.mode = mode
        self.name = f"offline:{mode}"

    @cached_property
    def _aliases(self) -> tuple[re.Pattern, dict[str, str]]:
        """One regex over every alias (longest first) and the alias → family map (first family wins)."""
        owner: dict[str, str] = {}
        for fam in self.book.families:
            for alias in fam.aliases:
                owner.setdefault(alias.lower(), fam.key)
        ordered = sorted(owner, key=len, reverse=True)
        parts = []
        for low in ordered:
            original = next(a for f in self.book.families for a in f.aliases if a.lower() == low)
            short = len(original) <= 4 and original.isascii()
            pattern = _alias_pattern(original)
            parts.append(pattern if short else f"(?i:{pattern})")
        return re.compile("|".join(parts)), owner

    def claims(self, text: str) -> list[Claim]:
        """Every first-person sentence of ``text`` that names a known vendor or model."""
        regex, owner = self._aliases
        out = []
        speaker = ""
        for line in text.splitlines():
            m = _SPEAKER.match(line)
            if m:
                label = (m["b"] or m["c"] or "").strip(" *")
                if label.lower() not in _PLAIN_LABELS:
                    speaker = label
                    line = line[m.end() :]
            if self.mode == "claims":
                if speaker:
                    continue
                line = _QUOTED.sub(" ", line)
            for sentence in _SENTENCE_END.split(line):
                if not _FIRST_PERSON.search(sentence):
                    continue
                maker = _MAKER.search(sentence)
                if maker and not regex.search(maker.group()) and not _NEGATION.search(maker.group()):
                    name = next(g for g in maker.groups() if g).strip()
                    lang = "zh" if maker["zh"] is not None or maker["zh2"] is not None else "en"
                    if _NAMED[lang].search(name):
                        out.append(Claim(UNKNOWN, name, sentence.strip(), speaker))
                for hit in regex.finditer(sentence):
                    clause = max((m.end() for m in _CLAUSE.finditer(sentence, 0, hit.start())), default=0)
                    before = sentence[clause : hit.start()]
                    after = sentence[hit.end() :]
                    if _NEGATION.search(before) or _NEGATION_AFTER.match(after):
                        continue
                    family = _owner_of(owner, hit.group())
                    if _POLICY.match(after):  # "against OpenAI's content policy": bound by its rules, not its model
                        if self.mode != "paper":
                            continue
                        family = POLICY
                    out.append(Claim(family, hit.group(), sentence.strip(), speaker))
        return out

    def verdict(self, family: Family, text: str) -> Verdict:
        """Loose = a claim names another family; strict = that family's vendor is not the target's."""
        own_vendors = {v.lower() for v in family.vendors}
        own_aliases = {a.lower() for a in family.aliases}
        claims = self.claims(text)
        own = [c for c in claims if c.family == family.key or c.alias.lower() in own_aliases]
        foreign = [c for c in claims if c not in own and not self._mixed(c, own)]
        if not foreign:
            return Verdict(False, False)
        strict_hits = []
        for c in foreign:
            if c.family in (UNKNOWN, POLICY):
                continue
            other = self.book.get(c.family)
            if self.mode == "paper":
                hit = c.family in PAPER_STRICT_FAMILIES
            else:
                hit = not own_vendors & {v.lower() for v in other.vendors}
            if hit:
                strict_hits.append(c)
        vendors = tuple(dict.fromkeys(c.family for c in strict_hits))
        evidence = (strict_hits or foreign)[0].sentence[:300]
        return Verdict(True, bool(strict_hits), vendors, evidence)

    def _mixed(self, claim: Claim, own: list[Claim]) -> bool:
        """A foreign name beside the target's own distinctive name in one sentence ("Microsoft's model, based on
        OpenAI technology") is not a claim to be the other model: the official judges did not count it."""
        if claim.family == POLICY:
            return False
        if claim.family == UNKNOWN:  # "built by a team at DAMO Academy, part of Alibaba Cloud"
            return any(c.sentence == claim.sentence for c in own)
        theirs = {a.lower() for a in self.book.get(claim.family).aliases}
        return any(c.sentence == claim.sentence and c.alias.lower() not in theirs for c in own)

    def judge(self, family: Family, responses: Sequence[str]) -> list[Verdict]:
        return [self.verdict(family, r) for r in responses]


def _owner_of(owner: dict[str, str], alias: str) -> str:
    low = alias.lower()
    if low in owner:
        return owner[low]
    flat = re.sub(r"[\s-]", "", low)
    return next((f for a, f in owner.items() if re.sub(r"[\s-]", "", a) == flat), "")
