"""``lmforge``: the command-line interface. Method groups (``skip``, ``lora``, ``rag``, ``distill``) mount here."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lmforge import __version__
from lmforge.core.cli_app import ConfigOption, new_app

app = new_app("Four published LM methods as one toolkit: HadSkip, RoseLoRA, RoseRAG, distillation audit.")
console = Console()

# (sub-command, module with a typer `app`, help); a group appears once its module exists.
METHOD_GROUPS = (
    ("skip", "lmforge.hadskip.cli", "HadSkip: budgeted adaptive layer skipping."),
    ("lora", "lmforge.roselora.cli", "RoseLoRA: row/column-sparse LoRA for editing and fine-tuning."),
    ("rag", "lmforge.roserag.cli", "RoseRAG: robust RAG for small LMs."),
    ("distill", "lmforge.distill.cli", "Distillation audit: identity consistency (ICE) and similarity (RSE)."),
)


def _exists(module: str) -> bool:
    parent = module.rpartition(".")[0]
    return importlib.util.find_spec(parent) is not None and importlib.util.find_spec(module) is not None


for name, module, help_text in METHOD_GROUPS:
    if _exists(module):
        app.add_typer(importlib.import_module(module).app, name=name, help=help_text)

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="bundled name, local dir, .gguf file, hub id, or openai:NAME")
]
MaxTokensOpt = Annotated[int, typer.Option(min=1, help="new tokens per response")]
TemperatureOpt = Annotated[float, typer.Option(min=0.0, help="0 = greedy")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")]
KeyEnvOpt = Annotated[str | None, typer.Option(help="name of the environment variable holding the API key")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="bypass the response cache")]


def _quiet_libraries() -> None:
    """Keep transformers' per-load progress bars and advisory warnings out of CLI output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    _quiet_libraries()
    if version:
        console.print(f"lmforge {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())
        raise typer.Exit()


@app.command()
def models(
    convert: Annotated[bool, typer.Option(help="convert every installed GGUF model now (once per machine)")] = False,
) -> None:
    """List the bundled models: installed?, cached?, size, layers, hidden size, chat template."""
    from lmforge.core.model_info import bundled_model_rows

    rows = bundled_model_rows(convert=convert)
    table = Table(title="bundled models")
    for column in rows[0]:
        table.add_column(column, no_wrap=column == "name")
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row.values()))
    console.print(table)


def _generator(
    model: str, base_url: str | None, api_key_env: str | None, no_cache: bool, batch_size: int = 16, progress=True
):
    from lmforge.core.generation import ResponseCache, make_generator

    cache = None if no_cache else ResponseCache()
    return make_generator(
        model, base_url=base_url, api_key_env=api_key_env, cache=cache, batch_size=batch_size, show_progress=progress
    )


@app.command()
def chat(
    model: Annotated[str, typer.Argument(help="bundled name, local dir, .gguf file, hub id, or openai:NAME")],
    prompt: Annotated[str, typer.Argument(help="the user message")],
    system: Annotated[str | None, typer.Option(help="system prompt")] = None,
    max_new_tokens: MaxTokensOpt = 256,
    temperature: TemperatureOpt = 0.0,
    seed: int = 0,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Answer one prompt."""
    from lmforge.core.generation import GenerationConfig

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    generator = _generator(model, base_url, api_key_env, no_cache)
    config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    (answer,) = generator.generate([messages], config)[0]
    console.print(escape(answer), highlight=False)


@app.command()
def generate(
    model: ModelOpt,
    input: Annotated[Path, typer.Option("--input", "-i", help="JSONL rows with 'prompt' or 'messages'")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL results; an existing file is resumed")],
    max_new_tokens: MaxTokensOpt = 256,
    temperature: TemperatureOpt = 0.0,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0)] = 1.0,
    n: Annotated[int, typer.Option(min=1, help="samples per prompt")] = 1,
    stop: Annotated[list[str] | None, typer.Option(help="stop string (repeatable)")] = None,
    seed: Annotated[int, typer.Option(help="run seed; each sample's seed derives from it")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="local backend batch size")] = 16,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    no_cache: NoCacheOpt = False,
    config_file: ConfigOption = None,
) -> None:
    """Generate for every row of a JSONL file; rerun the same command to resume."""
    from lmforge.core.generation import GenerationConfig
    from lmforge.core.generation.jsonl import generate_jsonl, read_prompts

    prompts = read_prompts(input)  # a bad file fails before a model is loaded
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=n, stop=tuple(stop or ()), seed=seed
    )
    generator = _generator(model, base_url, api_key_env, no_cache, batch_size, progress=False)  # rows bar instead
    written = generate_jsonl(generator, prompts, output, config)
    console.print(f"wrote {written} new rows to {output}")


@app.command()
def demo(
    stage: Annotated[str | None, typer.Option(help="run only this stage")] = None,
) -> None:
    """Show every method on the bundled models, stage by stage, with timings."""
    from lmforge.core.demo import run_demo

    run_demo(console, only=stage)


def main() -> None:
    app()
