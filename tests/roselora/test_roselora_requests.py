"""Reading edit requests: the three layouts, and one-line errors that name file, record and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.core.errors import DataError
from lmforge.roselora.requests import NEIGHBORHOOD, EditRequest, Probe, read_requests

ZSRE = {
    "subject": "UniFirst",
    "src": "What is the product made by UniFirst?",
    "pred": "uniform",
    "rephrase": "What will be the product of UniFirst?",
    "alt": "unmanned aircraft",
    "answers": ["uniform"],
    "loc": "nq question: who sang hey jude",
    "loc_ans": "The Beatles",
    "cond": "uniform >> unmanned aircraft || What is the product made by UniFirst?",
}
COUNTERFACT = {
    "case_id": 0,
    "prompt": "The mother tongue of Danielle Darrieux is",
    "target_new": "English",
    "subject": "Danielle Darrieux",
    "ground_truth": "French",
    "rephrase_prompt": "Where Danielle Darrieux is from, people speak the language of",
    "locality_prompt": "Michel Rocard is a native speaker of",
    "locality_ground_truth": "French",
}
KNOWEDIT = {
    "subject": "Paris",
    "prompt": "Paris is the capital of",
    "target_new": "Italy",
    "ground_truth": "France",
    "rephrase": "The country whose capital is Paris is",
    "portability": {
        "Subject_Aliasing": [{"prompt": "The City of Light is the capital of", "ground_truth": [["Italy", "Italia"]]}],
        "Reasoning": [{"prompt": "The currency of the country with capital Paris is", "ground_truth": [[""]]}],
    },
    "locality": {"Relation_Specificity": [{"prompt": "Paris has a population of", "ground_truth": ["2 million"]}]},
}


def _write(tmp_path: Path, records: object, name: str = "edits.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_zsre_mend_layout(tmp_path: Path) -> None:
    (request,) = read_requests(_write(tmp_path, [ZSRE]))
    assert request == EditRequest(
        prompt=ZSRE["src"],
        target_new="unmanned aircraft",
        subject="UniFirst",
        ground_truth="uniform",
        rephrase_prompts=(ZSRE["rephrase"],),
        locality={NEIGHBORHOOD: (Probe(ZSRE["loc"], "The Beatles"),)},
    )
    assert request.edit_probe == Probe(ZSRE["src"], "unmanned aircraft")


def test_counterfact_layout(tmp_path: Path) -> None:
    (request,) = read_requests(_write(tmp_path, [COUNTERFACT]))
    assert request.case_id == "0" and request.ground_truth == "French"
    assert request.rephrase_prompts == (COUNTERFACT["rephrase_prompt"],)
    assert request.locality == {NEIGHBORHOOD: (Probe(COUNTERFACT["locality_prompt"], "French"),)}
    assert request.portability == {}


def test_knowedit_layout_takes_first_aliases_and_skips_empty_answers(tmp_path: Path) -> None:
    (request,) = read_requests(_write(tmp_path, [KNOWEDIT]))
    assert request.portability == {"Subject_Aliasing": (Probe("The City of Light is the capital of", "Italy"),)}
    assert request.locality == {"Relation_Specificity": (Probe("Paris has a population of", "2 million"),)}
    assert request.rephrase_prompts == (KNOWEDIT["rephrase"],)


def test_knowedit_alias_field_names(tmp_path: Path) -> None:
    record = {"concept": "Paris", "text": "Paris is in", "labels": "Italy"}
    (request,) = read_requests(_write(tmp_path, [record]))
    assert (request.subject, request.prompt, request.target_new) == ("Paris", "Paris is in", "Italy")


def test_jsonl_is_read_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "edits.jsonl"
    path.write_text(json.dumps(COUNTERFACT) + "\n\n" + json.dumps(ZSRE) + "\n")
    assert [r.target_new for r in read_requests(path)] == ["English", "unmanned aircraft"]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([COUNTERFACT, {**COUNTERFACT, "target_new": None}], r"edits\.json: record 2: field 'target_new': missing"),
        ([{**ZSRE, "alt": 3}], r"edits\.json: record 1: field 'alt': expected a string"),
        ([["not", "an", "object"]], r"edits\.json: record 1"),
        ("just text", r"edits\.json: top level is a JSON string"),
        ([{**KNOWEDIT, "locality": {"Forgetfulness": [{"text": "x"}]}}], r"field 'locality\.Forgetfulness'"),
    ],
)
def test_bad_records_name_file_record_and_field(tmp_path: Path, records: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_requests(_write(tmp_path, records))


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "edits.jsonl"
    path.write_text(json.dumps(ZSRE) + "\n{oops\n")
    with pytest.raises(DataError, match=r"edits\.jsonl:2: invalid JSON"):
        read_requests(path)
    with pytest.raises(DataError, match="file not found"):
        read_requests(tmp_path / "missing.json")
