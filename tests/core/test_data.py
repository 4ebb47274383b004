"""Schema-checked readers, the resumable JSONL writer and atomic JSON writes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from lmforge.core.data import (
    Field,
    JsonlWriter,
    RecordError,
    iter_records,
    read_json,
    read_records,
    write_json,
)
from lmforge.core.errors import DataError

SCHEMA = [
    Field("question", help="the question text"),
    Field("answers", type=list),
    Field("score", type=float, required=False, default=0.5),
    Field("split", choices=("train", "dev"), required=False, default="train"),
]
ROWS = [
    {"question": "Who wrote Hamlet?", "answers": ["Shakespeare"], "score": 1.0, "split": "dev"},
    {"question": "Capital of France? «Paris»", "answers": ["Paris"], "score": 0.25, "split": "train"},
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, lines: list[str]) -> Path:
    return _write(path, "\n".join(lines) + "\n")


def _raises(path: Path, line: int | None, field: str | None, call, *words: str) -> DataError:
    """Run ``call`` and check the one-line DataError names the file, line, field and ``words``."""
    with pytest.raises(DataError) as info:
        call()
    err, text = info.value, str(info.value)
    assert path.name in text and "\n" not in text
    assert err.line == line
    if line is not None:
        assert f"{path.name}:{line}:" in text or f"record {line}:" in text
    assert err.field == field
    if field is not None:
        assert f"field '{field}'" in text
    for word in words:
        assert word in text
    assert err.fix, "every error says how to fix it"
    return err


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl_round_trip_skips_blank_lines(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"qa{suffix}", "\n" + "\n\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n")
    assert read_records(path, SCHEMA) == ROWS
    assert read_records(path) == ROWS


@pytest.mark.parametrize("wrap", [False, True])
def test_json_round_trip_list_or_single_list_value(tmp_path: Path, wrap: bool) -> None:
    data = {"version": "1.1", "data": ROWS, "errors": []} if wrap else ROWS
    path = _write(tmp_path / "qa.json", json.dumps(data))
    assert read_records(path, SCHEMA) == ROWS


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_delimited_round_trip_converts_types(tmp_path: Path, suffix: str, delimiter: str) -> None:
    path = tmp_path / f"qa{suffix}"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["question", "answers", "score", "split"])
        for r in ROWS:
            writer.writerow([r["question"], json.dumps(r["answers"]), r["score"], r["split"]])
    assert read_records(path, SCHEMA) == ROWS
    assert read_records(path)[0]["score"] == "1.0", "without a schema values stay strings"


def test_csv_type_conversion(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.csv",
        'n,x,flag,meta,either,opt\n3,2,YES,"{""a"": 1}",7,\n-4,1.5, false ,{},seven,\n0,1e3,0,{},7.5,9\n',
    )
    schema = [
        Field("n", type=int),
        Field("x", type=float),
        Field("flag", type=bool),
        Field("meta", type=dict),
        Field("either", type=(str, int)),  # str is tried last: "7" becomes 7
        Field("opt", type=int, required=False, default=-1),
    ]
    rows = read_records(path, schema)
    assert rows == [
        {"n": 3, "x": 2.0, "flag": True, "meta": {"a": 1}, "either": 7, "opt": -1},
        {"n": -4, "x": 1.5, "flag": False, "meta": {}, "either": "seven", "opt": -1},
        {"n": 0, "x": 1000.0, "flag": False, "meta": {}, "either": "7.5", "opt": 9},
    ]
    assert type(rows[0]["x"]) is float and type(rows[0]["either"]) is int


@pytest.mark.parametrize(
    ("field", "good", "bad", "words"),
    [
        (Field("n", type=int), "1", "2.5", ["expected int", "'2.5'"]),
        (Field("n", type=bool), "no", "maybe", ["expected bool"]),
        (Field("n", type=list), "[1]", "[1, 2", ["expected list (as JSON)"]),
        (Field("n", type=list), "[]", '{"a": 1}', ["expected list"]),
        (Field("n", type=float), "1", "", ["required field is ''"]),
    ],
)
def test_csv_conversion_errors(tmp_path: Path, field: Field, good: str, bad: str, words: list[str]) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(f"id\tn\na\t{good}\nb\t{bad}\n", encoding="utf-8")
    _raises(path, 3, "n", lambda: read_records(path, [field]), *words)


def test_bom_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "bom.tsv").write_bytes("\ufeffQuality\t#1 String\n1\tok\n".encode())
    (tmp_path / "bom.jsonl").write_bytes('\ufeff{"id": 1}\n'.encode())
    (tmp_path / "bom.json").write_bytes('\ufeff[{"id": 1}]'.encode())
    assert read_records(tmp_path / "bom.tsv") == [{"Quality": "1", "#1 String": "ok"}]
    assert read_records(tmp_path / "bom.jsonl") == [{"id": 1}]
    assert read_records(tmp_path / "bom.json") == [{"id": 1}]


def test_tsv_quote_none_keeps_bare_quotes(tmp_path: Path) -> None:
    # GLUE MRPC/SST-2 style: a sentence opens a quote that never closes, another quotes mid-text.
    path = _write(
        tmp_path / "mrpc.tsv",
        'Quality\t#1 String\t#2 String\n0\tHe said "no" twice\tOK\n1\t"The pie business does not fit.\tShe agreed.\n',
    )
    rows = read_records(path, [Field("Quality", type=int, choices=(0, 1)), Field("#1 String")], quoting="none")
    assert [r["#1 String"] for r in rows] == ['He said "no" twice', '"The pie business does not fit.']
    assert [r["Quality"] for r in rows] == [0, 1]
    # Default csv quoting swallows the rest of the file into one field: reported, with the fix.
    _raises(path, 3, None, lambda: read_records(path), "2 columns", "quoting='none'")


def test_multiline_quoted_row_reports_its_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", 'a,b\n1,"two\nlines"\n3,"x\ny",5\n')
    _raises(path, 4, None, lambda: read_records(path), "3 columns", "header has 2")
    assert read_records(path, limit=1) == [{"a": "1", "b": "two\nlines"}]


def test_limit_and_lazy_iteration(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "l.jsonl", ['{"id": 1}', '{"id": 2}', "not json"])
    assert read_records(path, limit=2) == [{"id": 1}, {"id": 2}]
    assert read_records(path, limit=0) == []
    rows = iter_records(path)
    assert next(rows) == {"id": 1}, "rows before a bad line are delivered before the error"


def test_format_override_and_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.txt", "a;b\n1;2\n")
    assert read_records(path, format="csv", delimiter=";") == [{"a": "1", "b": "2"}]
    jl = _write(tmp_path / "rows.log", '{"a": 1}\n')
    assert read_records(jl, format="jsonl") == [{"a": 1}]


def test_optional_defaults_and_extra_fields(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "d.jsonl", ['{"question": "q", "answers": [], "extra": {"k": 1}, "score": null}'])
    schema = [*SCHEMA, Field("tags", type=list, required=False, default=[])]
    rows = read_records(path, schema)
    assert rows == [{"question": "q", "answers": [], "extra": {"k": 1}, "score": 0.5, "split": "train", "tags": []}]
    rows[0]["tags"].append("x")
    assert schema[-1].default == [], "defaults are copied, not shared"


def test_json_int_accepted_as_float_but_bool_is_not_int(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "n.jsonl", ['{"x": 2, "n": 1}', '{"x": 1.5, "n": true}'])
    schema = [Field("x", type=float), Field("n", type=int)]
    _raises(path, 2, "n", lambda: read_records(path, schema), "expected int, got bool")
    first = read_records(path, schema, limit=1)[0]
    assert first == {"x": 2.0, "n": 1} and type(first["x"]) is float


# --- errors ------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    _raises(path, None, None, lambda: iter_records(path), "file not found", "check the path")
    _raises(tmp_path, None, None, lambda: read_records(tmp_path, format="json"), "directory")


def test_unknown_extension_or_format(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.xlsx", "")
    _raises(path, None, None, lambda: read_records(path), "'.xlsx'", ".jsonl", ".tsv", "format=")
    _raises(path, None, None, lambda: read_records(path, format="parquet"), "'parquet'")


def test_invalid_json_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", ['{"id": 1}', "", '{"id": 2,}', '{"id": 3}'])
    _raises(path, 3, None, lambda: read_records(path), "invalid JSON", "Expecting property name")


def test_invalid_json_file_reports_the_file_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.json", '[\n  {"id": 1},\n  {"id": 2\n]\n')
    _raises(path, 4, None, lambda: read_records(path), "invalid JSON")


def test_row_not_an_object(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "arr.jsonl", ['{"id": 1}', "[1, 2]"])
    _raises(path, 2, None, lambda: read_records(path), "expected a JSON object, got a JSON array")
    path = _write(tmp_path / "arr.json", '[{"id": 1}, {"id": 2}, "three"]')
    err = _raises(path, 3, None, lambda: read_records(path), "record 3:", "got a JSON string")
    assert isinstance(err, RecordError) and err.record == 3
    path = _write(tmp_path / "two.json", '{"train": [{"id": 1}], "dev": [{"id": 2}]}')
    _raises(path, None, None, lambda: read_records(path), "'train', 'dev'")


def test_missing_required_field(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "m.jsonl", ['{"question": "q", "answers": []}', '{"query": "q", "answers": ["a"]}'])
    err = _raises(path, 2, "question", lambda: read_records(path, SCHEMA), "missing required field")
    assert "the question text" in err.fix and "fields present: query, answers" in err.fix
    path = _write(tmp_path / "m.json", json.dumps({"data": [{"question": "q"}]}))
    _raises(path, 1, "answers", lambda: read_records(path, SCHEMA), "record 1:")


def test_missing_required_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.tsv", "query\tanswers\nq\t[]\n")
    err = _raises(path, 1, "question", lambda: read_records(path, SCHEMA), "missing from the header")
    assert "fields present: query, answers" in err.fix


def test_wrong_type(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", ['{"question": "q", "answers": []}', '{"question": 5, "answers": "a"}'])
    err = _raises(path, 2, "question", lambda: read_records(path, SCHEMA), "expected str, got int 5")
    assert "the question text" in err.fix


def test_value_not_in_choices(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", "question,answers,split\nq,[],dev\nq,[],test\n")
    _raises(path, 3, "split", lambda: read_records(path, SCHEMA), "'test' is not allowed", "'train', 'dev'")


def test_wrong_column_count(tmp_path: Path) -> None:
    path = _write(tmp_path / "w.csv", "a,b,c\n1,2,3\n\n4,5\n")
    _raises(path, 4, None, lambda: read_records(path), "row has 2 columns, the header has 3")


def test_duplicate_header_and_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.csv", "a,b,a\n1,2,3\n")
    _raises(path, 1, "a", lambda: read_records(path), "twice")
    empty = _write(tmp_path / "empty.tsv", "")
    _raises(empty, 1, None, lambda: read_records(empty), "empty file", "header")


def test_not_utf8_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"a\tb\n1\tok\n2\tcaf\xe9\n")
    _raises(path, 3, None, lambda: read_records(path), "not UTF-8")


def test_bad_schema_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        Field("x", type=set)
    with pytest.raises(ValueError, match="more than once"):
        iter_records(__file__, [Field("x"), Field("x")], format="csv")


# --- JsonlWriter -------------------------------------------------------------------------------


def test_jsonl_writer_writes_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.jsonl"
    with JsonlWriter(path, key="qid") as w:
        assert w.done_keys == set()
        w.write({"qid": "a", "text": "héllo"})
        w.write({"qid": 2, "text": "x"})
        assert w.done_keys == {"a", 2}
    assert "héllo" in path.read_text(encoding="utf-8"), "ensure_ascii=False"
    with JsonlWriter(path, key="qid") as w:
        assert w.done_keys == {"a", 2}
        w.write({"qid": "c"})
    assert [r["qid"] for r in read_records(path)] == ["a", 2, "c"]


def test_jsonl_writer_drops_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    good = '{"id": 1, "answer": "x"}\n{"id": 2, "answer": "y"}\n'
    path.write_text(good + '{"id": 3, "ans', encoding="utf-8")  # killed mid-write
    with JsonlWriter(path) as w:
        assert w.done_keys == {1, 2}
        assert path.read_text(encoding="utf-8") == good, "the partial line is removed from the file"
        w.write({"id": 3, "answer": "z"})
    assert [r["id"] for r in read_records(path)] == [1, 2, 3]


def test_jsonl_writer_keeps_complete_row_without_newline(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", '{"id": 1}\n{"id": 2}')
    with JsonlWriter(path) as w:
        assert w.done_keys == {1, 2}
        w.write({"id": 3})
    assert [r["id"] for r in read_records(path)] == [1, 2, 3]


def test_jsonl_writer_rejects_bad_rows(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "r.jsonl", ['{"id": 1}', '{"name": "no id"}'])
    _raises(path, 2, "id", lambda: JsonlWriter(path), "missing required field")
    with JsonlWriter(tmp_path / "new.jsonl") as w, pytest.raises(ValueError, match="'id'"):
        w.write({"name": "no id"})


def test_jsonl_writer_fsyncs_each_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "r.jsonl"
    with JsonlWriter(path) as w:
        w.write({"id": 1})
        assert path.read_text() == '{"id": 1}\n', "visible on disk before close"
        w.write({"id": 2})
    assert len(synced) == 2


# --- write_json --------------------------------------------------------------------------------


def test_write_json_creates_parents_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "summary.json"
    write_json(path, {"em": 0.5, "name": "café"})
    write_json(path, {"em": 0.75})
    assert json.loads(path.read_text(encoding="utf-8")) == {"em": 0.75}
    assert path.read_text(encoding="utf-8").startswith('{\n  "em"'), "indent 2"
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.json"]


def test_write_json_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_read_json_names_file_and_line(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{\n  "a": 1,\n}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"summary\.json:3: invalid JSON"):
        read_json(path)
    path.write_text('\ufeff{"a": [1]}', encoding="utf-8")
    assert read_json(path) == {"a": [1]}
    with pytest.raises(DataError, match="file not found"):
        read_json(tmp_path / "missing.json")
