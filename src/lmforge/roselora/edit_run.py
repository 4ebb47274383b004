"""Knowledge-editing runs, written per edit: single edits (the paper's protocol) or sequential.

Single mode gives each request a fresh adapter on the unedited model: train, score with
EasyEdit's metrics, then `unload()` (no merge) so the next edit starts from the original
weights (FT-L restores its layer instead). Sequential mode accumulates all edits in one
adapter (which the official code cannot do) and re-scores earlier edits as it goes. Rows go
to `results.jsonl` as they finish and `summary.json` holds the means. The methods
(`roselora`, `lora`, `adalora`, `ft-l`) are in `methods`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from torch import nn
from transformers import PreTrainedTokenizerBase

from lmforge.core.data import JsonlWriter, write_json
from lmforge.core.errors import LmforgeError
from lmforge.roselora.editing import train_edit
from lmforge.roselora.methods import METHODS, Attached, adapter_config, attach
from lmforge.roselora.metrics import fluency, locality, target_predictions, token_accuracy
from lmforge.roselora.requests import EditRequest, Probe

# The baselines' EasyEdit settings where they differ from RoseLoRA's (the field defaults of EditRunConfig).
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "lora": {"lr": 5e-4},
    "ft-l": {"lr": 5e-4},
    "adalora": {"steps": 70, "lr": 5e-3},
}
MODES = ("single", "sequential")
RESULTS_NAME = "results.jsonl"
SUMMARY_NAME = "summary.json"
SETTINGS_NAME = "settings.json"
SUMMARY_METRICS = (
    "edit_success",
    "rephrase_success",
    "locality",
    "portability",
    "fluency",
    "seconds",
    "delta_w_density",
    "update_nonzero_params",
)


@dataclass(frozen=True)
class EditRunConfig:
    """One editing method and its hyperparameters.

    The field defaults are the RoseLoRA recipe [design] tuned on the first 20 CounterFact-train
    requests with SmolLM2 (τ 0.05, no clamp, Adam 1e-3: the best locality among the grid cells with
    edit success ≥ 0.95; docs/roselora.md). `official()` is the released recipe for LLaMA-2-7b,
    `for_method()` a method with its own EasyEdit defaults (dense LoRA and FT-L at 5e-4).
    `ft_layer` is FT-L's layer (None: see `methods`).
    Fluency (`fluency_tokens` > 0) is scored on the first `fluency_edits` edits (all if None).
    """

    method: str = "roselora"
    steps: int = 25
    lr: float = 1e-3
    stop_loss: float | None = 0.1
    rank: int = 8
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    keep: float = 0.05
    clamp: float | None = None
    parity: bool = False
    seed: int = 0
    mode: str = "single"
    eval_every: int = 10
    ft_layer: int | None = None
    fluency_tokens: int = 0
    fluency_edits: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise LmforgeError(f"unknown editing method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.mode not in MODES:
            raise LmforgeError(f"unknown editing mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.eval_every < 1:
            raise LmforgeError(f"eval_every must be ≥ 1, got {self.eval_every}")
        if self.steps < 1 or self.lr <= 0 or self.rank < 1:
            raise LmforgeError(f"need steps ≥ 1, lr > 0 and rank ≥ 1; got {self.steps}, {self.lr}, {self.rank}")
        if self.fluency_tokens < 0 or (self.fluency_edits is not None and self.fluency_edits < 0):
            raise LmforgeError("fluency_tokens and fluency_edits must be ≥ 0")
        if self.ft_layer is not None and self.ft_layer < 0:
            raise LmforgeError(f"ft_layer must be ≥ 0, got {self.ft_layer}")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        self.adapter_config()  # validates the RoseLoRA fields now, not at the first edit

    @classmethod
    def official(cls, **overrides: Any) -> EditRunConfig:
        """The released EasyEdit recipe as it behaves: Adam 5e-4, τ 0.05, clamp ±3e-3, kthvalue counts, 22 steps.

        Its T is 25, but its early stop (`it > t_f and loss < 0.1`) reads a loss meter that is
        never updated (always 0), so every edit ends after step t_f + 1 = 21, i.e. 22 steps
        whatever the loss: `steps=22, stop_loss=None` reproduces that.
        """
        recipe = {"steps": 22, "stop_loss": None, "lr": 5e-4, "keep": 0.05, "clamp": 3e-3, "parity": True}
        return cls(**{**recipe, **overrides})

    @classmethod
    def for_method(cls, method: str, **overrides: Any) -> EditRunConfig:
        """`method` with its EasyEdit baseline defaults (AdaLoRA: 70 steps, lr 5e-3); `overrides` win."""
        return cls(**{"method": method, **METHOD_DEFAULTS.get(method, {}), **overrides})

    def adapter_config(self, total_steps: int | None = None) -> LoraConfig | None:
        """The PEFT config of one edit's adapter (same rank and targets for every adapter method; None for FT-L)."""
        return adapter_config(self, total_steps or self.steps)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _grouped(groups: dict[str, tuple[Probe, ...]], scores: Sequence[float]) -> tuple[float | None, dict[str, float]]:
    """EasyEdit's averaging of scores listed group after group: mean per group, then over groups."""
    per_group, start = {}, 0
    for name, probes in groups.items():
        per_group[name] = _mean(scores[start : start + len(probes)])
        start += len(probes)
    return _mean(list(per_group.values())), per_group


def _flat(groups: dict[str, tuple[Probe, ...]]) -> list[Probe]:
    return [probe for probes in groups.values() for probe in probes]


def _apply_and_score(
    attached: Attached,
    tokenizer: PreTrainedTokenizerBase,
    request: EditRequest,
    config: EditRunConfig,
    before: Sequence[tuple[torch.Tensor, torch.Tensor]],
    start_step: int = 0,
    with_fluency: bool = False,
) -> dict[str, Any]:
    """Train the edit into the attached method, then score it; `before` are the unedited locality predictions."""
    model = attached.model
    result = train_edit(
        model,
        tokenizer,
        [request],
        steps=config.steps,
        lr=config.lr,
        stop_loss=config.stop_loss,
        start_step=start_step,
        hooks=attached.hooks,
    )
    after = target_predictions(model, tokenizer, _flat(request.locality))
    loc_mean, loc_groups = _grouped(request.locality, locality(before, after))
    portability = token_accuracy(model, tokenizer, _flat(request.portability))
    port_mean, port_groups = _grouped(request.portability, portability)
    rephrase = [Probe(prompt, request.target_new) for prompt in request.rephrase_prompts]
    delta = attached.delta_w()
    return {
        "edit_success": token_accuracy(model, tokenizer, [request.edit_probe])[0],
        "rephrase_success": _mean(token_accuracy(model, tokenizer, rephrase)),
        "locality": loc_mean,
        "locality_groups": loc_groups,
        "portability": port_mean,
        "portability_groups": port_groups,
        "fluency": fluency(model, tokenizer, [request.prompt], config.fluency_tokens)[0] if with_fluency else None,
        "steps": result.steps,
        "loss": result.loss,
        "seconds": result.seconds,
        "delta_w_density": delta.density,
        "delta_w_bound": delta.bound,
        "update_nonzero_params": delta.nonzero_params,
    }


def _with_fluency(config: EditRunConfig, index: int) -> bool:
    return config.fluency_tokens > 0 and (config.fluency_edits is None or index < config.fluency_edits)


def edit_once(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    request: EditRequest,
    config: EditRunConfig,
    *,
    with_fluency: bool = False,
    on_edited: Callable[[nn.Module], None] | None = None,
) -> dict[str, Any]:
    """Apply one edit with a fresh adapter (or layer copy), score it, and undo it again.

    `on_edited(model)` sees the edited model after scoring, before the edit is undone.
    """
    before = target_predictions(model, tokenizer, _flat(request.locality))
    attached = attach(model, config, config.steps)
    try:
        row = _apply_and_score(attached, tokenizer, request, config, before, with_fluency=with_fluency)
        if on_edited is not None:
            on_edited(attached.model)
        return row
    finally:
        attached.detach()


def run_edits(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[EditRequest],
    config: EditRunConfig,
    output_dir: str | Path,
    *,
    on_edit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Edit the requests into `output_dir/results.jsonl`; returns (and writes) the summary.

    Single mode skips the edits already written. Sequential mode resumes only a finished run:
    its adapter is not checkpointed per edit, so an interrupted run starts again.
    """
    output_dir = Path(output_dir)
    _check_settings(output_dir, config, len(requests))
    results = output_dir / RESULTS_NAME
    if config.mode == "sequential" and results.is_file():
        done = {json.loads(line)["index"] for line in results.read_text(encoding="utf-8").splitlines() if line}
        if len(done) < len(requests):
            results.unlink()
    with JsonlWriter(results, key="index") as writer:
        todo = [i for i in range(len(requests)) if i not in writer.done_keys]
        if config.mode == "single":
            for index in todo:
                torch.manual_seed(config.seed + index)  # the same adapter init whether run at once or resumed
                row = {"index": index, "case_id": requests[index].case_id}
                row |= edit_once(model, tokenizer, requests[index], config, with_fluency=_with_fluency(config, index))
                writer.write(row)
                if on_edit is not None:
                    on_edit(row)
        elif todo:
            _run_sequential(model, tokenizer, requests, config, writer, on_edit)
    summary = summarize(results, config)
    write_json(output_dir / SUMMARY_NAME, summary)
    return summary


def _run_sequential(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    requests: Sequence[EditRequest],
    config: EditRunConfig,
    writer: JsonlWriter,
    on_edit: Callable[[dict[str, Any]], None] | None,
) -> None:
    """All edits into one adapter, the RoseLoRA schedule and importance carried across edits.

    Locality is measured against the unedited model. Every `eval_every` edits (and after the
    last) the row also re-scores all edits so far, which shows how earlier edits decay.
    """
    before = [target_predictions(model, tokenizer, _flat(r.locality)) for r in requests]
    torch.manual_seed(config.seed)
    attached = attach(model, config, config.steps * len(requests))
    try:
        step = 0
        for index, request in enumerate(requests):
            row = {"index": index, "case_id": request.case_id, "edits_so_far": index + 1}
            row |= _apply_and_score(
                attached, tokenizer, request, config, before[index], step, with_fluency=_with_fluency(config, index)
            )
            step += row["steps"]
            if (index + 1) % config.eval_every == 0 or index + 1 == len(requests):
                earlier = token_accuracy(attached.model, tokenizer, [r.edit_probe for r in requests[: index + 1]])
                row["retained_edit_success"] = _mean(earlier)
            writer.write(row)
            if on_edit is not None:
                on_edit(row)
    finally:
        attached.detach()


def summarize(results_path: Path, config: EditRunConfig) -> dict[str, Any]:
    """Means of the per-edit metrics (each over the edits that have it)."""
    rows = [json.loads(line) for line in results_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary: dict[str, Any] = {"method": config.method, "edits": len(rows)}
    for name in SUMMARY_METRICS:
        summary[name] = _mean([row[name] for row in rows if row.get(name) is not None])
    summary["delta_w_bound_max"] = max((row["delta_w_bound"] for row in rows if row["delta_w_bound"]), default=None)
    retained = {str(r["edits_so_far"]): r["retained_edit_success"] for r in rows if "retained_edit_success" in r}
    if retained:
        summary["retained_edit_success"] = retained  # edits so far → mean edit success over them
    return summary


def _check_settings(output_dir: Path, config: EditRunConfig, count: int) -> None:
    settings = {"config": dataclasses.asdict(config) | {"target_modules": list(config.target_modules)}, "edits": count}
    check_settings(output_dir, settings)


def check_settings(output_dir: Path, settings: dict[str, Any]) -> None:
    """Refuse to mix results of different settings or data in one output folder (JSON-able `settings`)."""
    settings = json.loads(json.dumps(settings))  # tuples become lists, as they come back from the file
    path = output_dir / SETTINGS_NAME
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != settings:
            raise LmforgeError(
                f"{output_dir} holds a run with other settings ({path}); use a new --output or the same flags"
            )
    else:
        write_json(path, settings)
