"""Identity facts: who each model family says it is, and the names that give it away.

A :class:`Family` holds one first-person fact and the vendor and model aliases the judges
match; :class:`FactBook` maps a model name to its family. The built-in book
(``resources/identity_facts.yaml``) covers the paper's families plus SmolLM and Gemma; a
user file with the same layout extends it (same key replaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lmforge.core.errors import DataError, LmforgeError

FACTS_FILE = Path(__file__).parent / "resources" / "identity_facts.yaml"


@dataclass(frozen=True)
class Family:
    """One model family: its fact, vendor aliases, model aliases and model-name substrings."""

    key: str
    fact: str
    vendors: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    match: tuple[str, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.vendors + self.models


@dataclass(frozen=True)
class FactBook:
    """Families in match order; ``custom`` is a family built from ``--fact`` text (no aliases known)."""

    families: tuple[Family, ...] = field(default_factory=tuple)

    def get(self, key: str) -> Family:
        for f in self.families:
            if f.key == key:
                return f
        raise LmforgeError(f"unknown model family {key!r}; known: {', '.join(f.key for f in self.families)}")

    def family_for(self, model_name: str) -> Family:
        """The family whose ``match`` substring occurs in ``model_name`` (case-insensitive)."""
        low = model_name.lower()
        for f in self.families:
            if any(m in low for m in f.match):
                return f
        raise LmforgeError(
            f"no identity fact for model {model_name!r}: pass --fact 'I am ..., made by ...' "
            "or add its family to a facts YAML (--facts)"
        )

    def vendor_words(self) -> tuple[str, ...]:
        """Every vendor and model alias of every family (for the generalised vendor-mention flag)."""
        return tuple(dict.fromkeys(a for f in self.families for a in f.aliases))

    def owner(self, alias: str) -> list[Family]:
        """The families that list ``alias`` (case-insensitive) as a vendor or model name."""
        low = alias.lower()
        return [f for f in self.families if any(a.lower() == low for a in f.aliases)]


def _family(path: Path, key: str, value: object) -> Family:
    if not isinstance(value, dict) or not isinstance(value.get("fact"), str) or not value["fact"].strip():
        raise DataError(path, "family needs a non-empty 'fact' string", field=key, fix="fact: I am X, made by Y.")

    def names(name: str) -> tuple[str, ...]:
        items = value.get(name) or []
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise DataError(path, f"'{name}' must be a list of strings", field=key)
        return tuple(items)

    return Family(
        key, value["fact"].strip(), names("vendors"), names("models"), tuple(m.lower() for m in names("match"))
    )


def _read_families(path: Path) -> list[Family]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "file not found", fix="check the path to the facts YAML") from None
    except yaml.YAMLError as e:
        raise DataError(path, f"invalid YAML: {e}".splitlines()[0], fix="fix the YAML syntax") from None
    if not isinstance(data, dict) or not isinstance(data.get("families"), dict):
        raise DataError(path, "no 'families' mapping", fix="top level must be 'families: {key: {fact: ...}}'")
    return [_family(path, str(key), value) for key, value in data["families"].items()]


def load_facts(*extra: str | Path, builtin: bool = True) -> FactBook:
    """The built-in families plus each ``extra`` YAML's.

    A family key defined again replaces the earlier one in place; new user families are
    matched before the built-in ones, so a specific user family wins over a generic match.
    """
    known = {f.key: f for f in _read_families(FACTS_FILE)} if builtin else {}
    added: dict[str, Family] = {}
    for path in extra:
        for family in _read_families(Path(path)):
            (known if family.key in known else added)[family.key] = family
    return FactBook((*added.values(), *known.values()))


def _names(text: str, alias: str) -> bool:
    """Whether ``text`` names ``alias``: as a whole word (Latin) or as a substring (CJK)."""
    if re.search(r"[\u3400-\u9fff]", alias):
        return alias in text
    return re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w-])", text, re.IGNORECASE) is not None


def custom_family(fact: str, book: FactBook, model_name: str = "") -> Family:
    """A family for ``--fact``: the given sentence with the aliases of the family it names most (if any).

    Aliases count as whole words ("Sophia" does not name Phi), and the family naming the most of its
    aliases wins (a Gemma fact names Gemma and Google DeepMind, a Gemini family only Google DeepMind).
    """
    scores = [sum(_names(fact, a) for a in f.aliases) for f in book.families]
    if scores and max(scores) > 0:
        f = book.families[scores.index(max(scores))]
        return Family(f.key, fact, f.vendors, f.models, f.match)
    return Family("custom", fact, (), (), (model_name.lower(),) if model_name else ())
