"""The typer application class every lmforge command group uses.

User mistakes surface as one line on stderr and exit status 2, never as a traceback:
:class:`~lmforge.core.errors.LmforgeError` raised by any command (of the root app or of a
mounted method app) and click's usage errors (unknown flag, bad value) alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lmforge.core.errors import DataError, LmforgeError


def _say(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


class LmforgeGroup(TyperGroup):
    """A typer group that turns user errors into one line and exit status 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LmforgeError as exc:
            _say(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _say("interrupted; finished work is saved, rerun the same command to resume")
            raise typer.Exit(130) from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
            code = result if isinstance(result, int) else 0
        except typer.Abort:
            code = 1
        except TyperException as exc:  # click's usage errors: unknown flag, bad value, missing argument
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            _say(f"{where}{exc.format_message()} (see --help)")
            code = getattr(exc, "exit_code", 2)
        if standalone_mode:
            sys.exit(code)
        return code


def new_app(help: str) -> typer.Typer:
    """A typer app wired for lmforge's error handling and without rich tracebacks."""
    return typer.Typer(
        cls=LmforgeGroup,
        help=help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def _apply_config_file(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Make a YAML file's keys the defaults of the command's options; flags on the command line win."""
    if value is None:
        return value
    if not value.is_file():
        raise typer.BadParameter(f"{value}: file not found")
    try:
        data = yaml.safe_load(value.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise DataError(value, f"invalid YAML: {getattr(exc, 'problem', exc)}", line=line) from None
    if not isinstance(data, dict):
        raise DataError(value, "a config file must be a mapping of option names to values", fix="e.g. 'n: 4'")
    options = {p.name: p for p in ctx.command.params if p.name != param.name}
    defaults = {}
    for key, item in data.items():
        name = str(key).replace("-", "_")
        if name not in options:
            valid = ", ".join(sorted(options))
            raise DataError(value, "unknown option", field=str(key), fix=f"valid keys: {valid}")
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        is_eager=True,
        callback=_apply_config_file,
        help="YAML file of option values (keys as the long option names); flags on the command line win",
    ),
]
