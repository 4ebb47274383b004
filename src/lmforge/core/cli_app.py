"""The typer application class every lmforge command group uses.

User mistakes surface as one line on stderr and exit status 2, never as a traceback:
:class:`~lmforge.core.errors.LmforgeError` raised by any command (of the root app or of a
mounted method app) and click's usage errors (unknown flag, bad value) alike.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lmforge.core.errors import LmforgeError


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
