"""Reading user data files with a schema, and writing results that survive a crash.

Every method reads user-supplied rows (GLUE TSVs, QA JSONL, preference pairs, edit cases).
:func:`read_records` / :func:`iter_records` read ``.jsonl``/``.ndjson``, ``.json``, ``.csv`` and
``.tsv`` into plain dicts and check them against a :data:`Schema`, so a bad row fails with a
:class:`~lmforge.core.errors.DataError` naming the file, the line, the field and the fix
instead of a ``KeyError`` deep inside a training loop. :class:`JsonlWriter` lets long jobs
write one result per line and resume after a crash; :func:`write_json` writes a summary
atomically.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NoReturn, Self

from lmforge.core.errors import DataError

_ALLOWED_TYPES = (str, int, float, bool, list, dict)
_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class Field:
    """One expected column/key of a data file.

    ``type`` may be one type or a tuple of alternatives among str, int, float, bool, list and
    dict; an int is accepted where float is asked (and becomes a float). ``help`` says what the
    field holds and is quoted in error messages so that the fix is obvious to the user.
    """

    name: str
    type: type | tuple[type, ...] = str
    required: bool = True
    default: Any = None
    choices: tuple | None = None
    help: str = ""

    def __post_init__(self) -> None:
        for t in self.types:
            if t not in _ALLOWED_TYPES:
                raise TypeError(f"Field {self.name!r}: type {t!r} is not one of str, int, float, bool, list, dict")

    @property
    def types(self) -> tuple[type, ...]:
        """``type`` as a tuple."""
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def type_name(self) -> str:
        """How the type reads in an error message, e.g. ``int or float``."""
        return " or ".join(t.__name__ for t in self.types)


Schema = Sequence[Field]


class RecordError(DataError):
    """A :class:`DataError` in a ``.json`` list, located by 1-based record index, not file line.

    ``line`` holds the record index too, so callers that only know ``DataError`` still get it.
    """

    def __init__(
        self, path: str | Path, message: str, *, record: int, field: str | None = None, fix: str | None = None
    ) -> None:
        super().__init__(f"{path}: record {record}", message, field=field, fix=fix)
        self.path = str(path)
        self.line = record
        self.record = record


# A function that raises the right DataError for the current row: (message, field, fix) -> NoReturn.
_Fail = Callable[..., NoReturn]


def iter_records(
    path: str | Path,
    schema: Schema | None = None,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    quoting: Literal["minimal", "none"] = "minimal",
    limit: int | None = None,
) -> Iterator[dict]:
    """Yield the rows of ``path`` as dicts, checked against ``schema`` (unchecked if ``None``).

    JSONL and CSV/TSV are read lazily; ``.json`` is parsed whole. ``delimiter`` and ``quoting``
    apply to CSV/TSV only: use ``quoting="none"`` for files such as GLUE SST-2/MRPC whose
    sentences contain bare ``"`` characters. The path and format are checked before the first row
    is requested, so a wrong path fails at the call.
    """
    path_str = str(path)
    fmt = _resolve_format(path_str, format)
    if not Path(path).is_file():
        why = "is a directory, not a file" if Path(path).is_dir() else "file not found"
        raise DataError(path_str, why, fix=f"check the path (relative paths start at {os.getcwd()})")
    if schema is not None:
        _check_schema(schema)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if fmt == "jsonl":
        rows = _iter_jsonl(path_str, schema)
    elif fmt == "json":
        rows = _iter_json(path_str, schema)
    else:
        sep = delimiter if delimiter is not None else ("\t" if fmt == "tsv" else ",")
        rows = _iter_delimited(path_str, schema, sep, quoting)
    return rows if limit is None else _take(rows, limit)


def read_records(path: str | Path, schema: Schema | None = None, **options: Any) -> list[dict]:
    """All rows of ``path`` as a list; ``options`` as for :func:`iter_records`."""
    return list(iter_records(path, schema, **options))


def _take(rows: Iterator[dict], limit: int) -> Iterator[dict]:
    """The first ``limit`` rows; closes ``rows`` (and so its file) as soon as they are out."""
    try:
        for _ in range(limit):
            row = next(rows, None)
            if row is None:
                return
            yield row
    finally:
        rows.close()


def _resolve_format(path: str, format: str | None) -> str:
    supported = ", ".join(_FORMATS)
    if format is not None:
        fmt = _FORMATS.get("." + format.lower().lstrip("."))
        if fmt is None:
            raise DataError(path, f"unknown format {format!r}", fix=f"use one of: {supported} (without the dot)")
        return fmt
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(
            path,
            f"unknown file extension {Path(path).suffix or '(none)'!r}",
            fix=f"use one of {supported}, or pass format='jsonl'|'json'|'csv'|'tsv'",
        )
    return fmt


def _check_schema(schema: Schema) -> None:
    names = [f.name for f in schema]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"schema names these fields more than once: {', '.join(duplicates)}")


def _line_fail(path: str, line: int) -> _Fail:
    def fail(message: str, field: str | None = None, fix: str | None = None) -> NoReturn:
        raise DataError(path, message, line=line, field=field, fix=fix)

    return fail


def _record_fail(path: str, record: int) -> _Fail:
    def fail(message: str, field: str | None = None, fix: str | None = None) -> NoReturn:
        raise RecordError(path, message, record=record, field=field, fix=fix)

    return fail


def _text_lines(path: str) -> Iterator[tuple[int, str]]:
    """(file line number, text) pairs; decoded line by line so a bad byte is reported at its line.

    The first line is decoded as ``utf-8-sig`` so that a byte-order mark (Excel, Windows tools)
    does not end up in the first key or column name.
    """
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    path, f"not UTF-8 text ({e.reason})", line=line_no, fix="re-save the file as UTF-8"
                ) from e


def _iter_jsonl(path: str, schema: Schema | None) -> Iterator[dict]:
    for line_no, text in _text_lines(path):
        if not text.strip():
            continue
        fail = _line_fail(path, line_no)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            fail(f"invalid JSON: {e.msg} (column {e.colno})", fix="each line must hold one complete JSON object")
        yield _check_row(obj, schema, fail, from_text=False)


def _iter_json(path: str, schema: Schema | None) -> Iterator[dict]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(
            path, f"invalid JSON: {e.msg} (column {e.colno})", line=e.lineno, fix="fix the JSON syntax"
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text ({e.reason})", fix="re-save the file as UTF-8") from e
    for i, obj in enumerate(_json_records(path, data), 1):
        yield _check_row(obj, schema, _record_fail(path, i), from_text=False)


def _json_records(path: str, data: Any) -> list:
    """The record list of a ``.json`` file: the top-level list, or the one list of objects in a top-level object."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list) and all(isinstance(x, dict) for x in v)]
        if len(lists) > 1:  # an empty list beside the data (e.g. "errors": []) is not a rival
            lists = [k for k in lists if data[k]] or lists
        if len(lists) == 1:
            return data[lists[0]]
        found = f"lists of objects under {', '.join(map(repr, lists))}" if lists else "no list of objects"
        raise DataError(
            path,
            f"top-level object has {found}",
            fix='a .json file must be a list of objects or an object with exactly one such list (e.g. {"data": [...]});'
            " for one object per line use .jsonl",
        )
    raise DataError(path, f"top level is a JSON {_json_type(data)}", fix="a .json file must be a list of objects")


def _iter_delimited(path: str, schema: Schema | None, delimiter: str, quoting: str) -> Iterator[dict]:
    if quoting not in ("minimal", "none"):
        raise ValueError(f"quoting must be 'minimal' or 'none', got {quoting!r}")
    mode = csv.QUOTE_NONE if quoting == "none" else csv.QUOTE_MINIMAL
    reader = csv.reader((text for _, text in _text_lines(path)), delimiter=delimiter, quoting=mode)
    start = 1  # file line where the next row starts (a quoted field may span lines)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(path, "empty file", line=1, fix="the first line must be a header row naming the columns")
        _check_header(path, header, schema)
        start = reader.line_num + 1
        for values in reader:
            line, start = start, reader.line_num + 1
            if not values:  # blank line
                continue
            fail = _line_fail(path, line)
            if len(values) != len(header):
                hint = "; sentences with bare quotes need quoting='none'" if quoting == "minimal" else ""
                fail(
                    f"row has {len(values)} columns, the header has {len(header)}",
                    fix=f"check for stray delimiters {delimiter!r} or quotes in this row{hint}",
                )
            yield _check_row(dict(zip(header, values, strict=True)), schema, fail, from_text=True)
    except csv.Error as e:
        raise DataError(path, f"unreadable row: {e}", line=start, fix="check the quoting of this row") from e


def _check_header(path: str, header: list[str], schema: Schema | None) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(path, "column appears twice in the header", line=1, field=name, fix="rename one of them")
        seen.add(name)
    for field in schema or ():
        if field.required and field.name not in seen:
            raise DataError(
                path,
                "required column missing from the header",
                line=1,
                field=field.name,
                fix=_missing_fix(field, header),
            )


def _missing_fix(field: Field, present: Sequence[str]) -> str:
    what = f" ({field.help})" if field.help else ""
    return f"add '{field.name}'{what}; fields present: {', '.join(present) or '(none)'}"


def _check_row(obj: Any, schema: Schema | None, fail: _Fail, *, from_text: bool) -> dict:
    """Validate one row; fill defaults; convert CSV strings when ``from_text``."""
    if not isinstance(obj, dict):
        fail(f"expected a JSON object, got a JSON {_json_type(obj)}", fix="each record must be an object {...}")
    if schema is None:
        return obj
    row = dict(obj)
    for field in schema:
        value = row.get(field.name)
        if value is None or (from_text and value == "" and str not in field.types):
            if field.required:
                why = "missing required field" if field.name not in obj else f"required field is {value!r}"
                fail(why, field=field.name, fix=_missing_fix(field, list(obj)))
            row[field.name] = copy.deepcopy(field.default)
            continue
        value = _convert(value, field, fail) if from_text else _check_type(value, field, fail)
        if field.choices is not None and value not in field.choices:
            fail(
                f"value {value!r} is not allowed",
                field=field.name,
                fix=f"use one of: {', '.join(map(repr, field.choices))}",
            )
        row[field.name] = value
    return row


def _type_fail(value: Any, field: Field, fail: _Fail, how: str = "") -> NoReturn:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    what = f" ({field.help})" if field.help else ""
    fail(
        f"expected {field.type_name}{how}, got {type(value).__name__} {shown}",
        field=field.name,
        fix=f"'{field.name}' must be {field.type_name}{what}",
    )


def _check_type(value: Any, field: Field, fail: _Fail) -> Any:
    """JSON values: the type must match (bool is not an int here; an int is accepted as a float)."""
    types = field.types
    if isinstance(value, bool):
        if bool in types:
            return value
    elif type(value) in types:
        return value
    elif isinstance(value, int) and float in types:
        return float(value)
    _type_fail(value, field, fail)


def _convert(text: str, field: Field, fail: _Fail) -> Any:
    """CSV/TSV values arrive as strings: parse them into the first of the field's types that fits."""
    for t in sorted(field.types, key=lambda t: t is str):  # str accepts anything, so try it last
        value = _parse(text, t)
        if value is not _NO:
            return value
    how = " (as JSON)" if set(field.types) & {list, dict} else ""
    _type_fail(text, field, fail, how)


_NO = object()


def _parse(text: str, t: type) -> Any:
    if t is str:
        return text
    if t is bool:
        low = text.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else _NO
    if t is int or t is float:
        try:
            return t(text)
        except ValueError:
            return _NO
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return _NO
    return value if isinstance(value, t) else _NO


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


class JsonlWriter:
    """Append-only JSONL results file for long jobs that resume.

    On open, rows already in the file are read and their ``key`` values collected in
    :attr:`done_keys`, so the job can skip them. A half-written last line (the job was killed
    mid-write) is cut off the file and not counted. Each :meth:`write` is flushed and fsynced,
    so a crash loses at most the row being written.
    """

    def __init__(self, path: str | Path, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done_keys: set = self._recover()
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close() / __exit__

    def _recover(self) -> set:
        if not self.path.exists():
            return set()
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        tail = data[complete:]
        if tail.strip():
            if _is_json_object(tail):  # a whole row that merely lacks its newline
                with open(self.path, "ab") as f:
                    f.write(b"\n")
            else:  # cut off mid-write: drop it so the row is redone
                with open(self.path, "r+b") as f:
                    f.truncate(complete)
                    os.fsync(f.fileno())
        key_field = Field(self.key, type=(str, int), help="the row id the job resumes by")
        return {row[self.key] for row in iter_records(self.path, [key_field], format="jsonl")}

    def write(self, row: dict) -> None:
        """Append ``row`` as one line and make sure it is on disk before returning."""
        key = row.get(self.key)
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise ValueError(f"row needs a str or int {self.key!r}, got {key!r}")
        self._file.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done_keys.add(key)

    def close(self) -> None:
        """Close the file; every written row is already on disk."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def read_json(path: str | Path) -> Any:
    """A whole JSON file (a byte-order mark is dropped); bad syntax is a one-line DataError with its line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DataError(path, "file not found", fix="check the path") from None
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON: {e.msg}", line=e.lineno, fix="fix the JSON syntax") from None


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
