"""Knowledge-editing requests in the EasyEdit conventions, read from zsRE, CounterFact or KnowEdit JSON.

One request is an edit (prompt → target_new, optional subject and old answer) plus the probes
its metrics are scored on: rephrasings (generalisation), locality prompts (what must not
change) and portability prompts (what should follow from the edit). Layouts:

- zsRE, MEND format: `src`, `alt`, `answers`, `rephrase`, `loc`, `loc_ans`, `subject`.
- CounterFact, MEND/EasyEdit format: `prompt`, `target_new`, `ground_truth`, `subject`,
  `rephrase_prompt`, `locality_prompt`, `locality_ground_truth`.
- KnowEdit (and EasyEdit request dicts): `prompt`/`text`, `target_new`/`labels`,
  `subject`/`concept`, `rephrase`/`rephrase_prompt`, and `locality` / `portability` dicts of
  lists of `{prompt, ground_truth}` whose answers may be nested lists (the first alias is used,
  and empty answers are skipped, as EasyEdit's token evaluation does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.core.data import RecordError, read_records

NEIGHBORHOOD = "neighborhood"  # EasyEdit's locality key for zsRE and CounterFact


@dataclass(frozen=True)
class Probe:
    """A prompt scored teacher-forced on `target` (EasyEdit appends it after one space)."""

    prompt: str
    target: str


@dataclass(frozen=True)
class EditRequest:
    """One edit and its evaluation probes; `locality` and `portability` map EasyEdit keys to probes."""

    prompt: str
    target_new: str
    subject: str | None = None
    ground_truth: str | None = None
    rephrase_prompts: tuple[str, ...] = ()
    locality: Mapping[str, tuple[Probe, ...]] = field(default_factory=dict)
    portability: Mapping[str, tuple[Probe, ...]] = field(default_factory=dict)
    case_id: str | None = None

    @property
    def edit_probe(self) -> Probe:
        return Probe(self.prompt, self.target_new)


def read_requests(path: str | Path) -> list[EditRequest]:
    """Every record of a zsRE (MEND), CounterFact (MEND/EasyEdit) or KnowEdit `.json` or `.jsonl` file."""
    return [_parse(record, str(path), number) for number, record in enumerate(read_records(path), start=1)]


def _parse(record: dict[str, Any], path: str, number: int) -> EditRequest:
    """One record; `number` is its 1-based position in the file."""

    def opt(*names: str) -> str | None:
        for name in names:
            value = record.get(name)
            if value is not None:
                answer = _first_alias(value)
                if not isinstance(answer, str):
                    raise RecordError(path, f"expected a string, got {type(value).__name__}", record=number, field=name)
                return answer
        return None

    def need(*names: str) -> str:
        value = opt(*names)
        if value is None:
            raise RecordError(path, "missing", record=number, field=names[0], fix=f"add '{names[0]}'")
        return value

    case_id = record.get("case_id")
    case_id = None if case_id is None else str(case_id)
    if "src" in record:  # zsRE, MEND format
        loc = opt("loc")
        return EditRequest(
            prompt=need("src"),
            target_new=need("alt"),
            subject=opt("subject"),
            ground_truth=opt("answers", "pred"),
            rephrase_prompts=_strings(opt("rephrase")),
            locality={NEIGHBORHOOD: (Probe(loc, need("loc_ans")),)} if loc else {},
            case_id=case_id,
        )
    loc = opt("locality_prompt")
    locality = {NEIGHBORHOOD: (Probe(loc, need("locality_ground_truth")),)} if loc else {}
    return EditRequest(
        prompt=need("prompt", "text"),
        target_new=need("target_new", "labels"),
        subject=opt("subject", "concept"),
        ground_truth=opt("ground_truth"),
        rephrase_prompts=_strings(opt("rephrase_prompt", "rephrase")),
        locality=locality | _probe_groups(record, "locality", path, number),
        portability=_probe_groups(record, "portability", path, number),
        case_id=case_id,
    )


def _probe_groups(record: dict[str, Any], key: str, path: str, number: int) -> dict[str, tuple[Probe, ...]]:
    """KnowEdit/EasyEdit `locality` or `portability`: {group: [{prompt, ground_truth}, ...] or one such dict}."""
    groups = record.get(key) or {}
    if not isinstance(groups, dict):
        raise RecordError(path, "expected an object of probe groups", record=number, field=key)
    parsed = {}
    for group, items in groups.items():
        probes = []
        for item in items if isinstance(items, list) else [items]:
            if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or "ground_truth" not in item:
                raise RecordError(
                    path,
                    "each probe needs a 'prompt' string and a 'ground_truth'",
                    record=number,
                    field=f"{key}.{group}",
                )
            answer = _first_alias(item["ground_truth"])
            if not isinstance(answer, str):
                raise RecordError(path, "ground_truth is not text", record=number, field=f"{key}.{group}")
            if answer.strip():
                probes.append(Probe(item["prompt"], answer))
        if probes:
            parsed[group] = tuple(probes)
    return parsed


def _first_alias(value: Any) -> Any:
    """KnowEdit answers are aliases, possibly nested ([["Paris", "Paris, France"]]): keep the first."""
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _strings(value: str | None) -> tuple[str, ...]:
    return () if value is None else (value,)
