"""The ``lmforge demo`` frame: named stages, each showing one capability on bundled models.

A method adds a stage by defining ``lmforge/<method>/demo.py`` with a function decorated by
:func:`stage`; the frame discovers those modules, runs the stages in order and prints how
long each took. The whole demo must stay under 15 minutes on 2 CPU cores once models are cached.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

import lmforge
from lmforge.core.errors import LmforgeError


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    order: int
    run: Callable[[Console], None]


STAGES: dict[str, Stage] = {}


def stage(name: str, description: str, *, order: int = 100) -> Callable[[Callable[[Console], None]], Callable]:
    """Register ``fn(console)`` as demo stage ``name``; lower ``order`` runs first."""

    def register(fn: Callable[[Console], None]) -> Callable[[Console], None]:
        STAGES[name] = Stage(name, description, order, fn)
        return fn

    return register


def discover() -> list[Stage]:
    """Import every ``lmforge.<package>.demo`` module and return the stages in run order."""
    for info in pkgutil.iter_modules(lmforge.__path__):
        if info.ispkg and importlib.util.find_spec(f"lmforge.{info.name}.demo") is not None:
            importlib.import_module(f"lmforge.{info.name}.demo")
    return sorted(STAGES.values(), key=lambda s: (s.order, s.name))


def run_demo(console: Console, only: str | None = None) -> dict[str, float]:
    """Run all stages (or one); return the seconds each took."""
    stages = discover()
    if only is not None:
        stages = [s for s in stages if s.name == only]
        if not stages:
            names = ", ".join(s.name for s in discover())
            raise LmforgeError(f"unknown demo stage '{only}'; choose one of: {names}")
    timings = {}
    for s in stages:
        console.rule(f"[bold]{s.name}[/bold] — {s.description}")
        start = time.perf_counter()
        s.run(console)
        timings[s.name] = time.perf_counter() - start
        console.print(f"[dim]stage '{s.name}' took {timings[s.name]:.1f} s[/dim]")
    if len(timings) > 1:
        console.print(f"[bold]demo finished in {sum(timings.values()):.1f} s[/bold]")
    return timings


DEMO_QUESTIONS = ("What is the capital of France?", "Give one tip for writing clear Python code.")


@stage("chat", "the bundled chat model answers two questions (one batch)", order=0)
def chat_stage(console: Console) -> None:
    from lmforge.core.generation import GenerationConfig
    from lmforge.core.generation.local import HFGenerator

    start = time.perf_counter()
    generator = HFGenerator.from_spec("smollm2-135m-instruct", show_progress=False)  # no cache: always computed
    console.print(f"loaded smollm2-135m-instruct in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    answers = generator.generate(list(DEMO_QUESTIONS), GenerationConfig(max_new_tokens=64))
    for question, (answer,) in zip(DEMO_QUESTIONS, answers, strict=True):
        console.print(f"[bold]Q:[/bold] {escape(question)}\n[bold]A:[/bold] {escape(answer.strip())}", highlight=False)
    console.print(f"answered {len(DEMO_QUESTIONS)} questions in {time.perf_counter() - start:.1f} s")
