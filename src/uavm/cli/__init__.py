"""The ``uavm`` command: a thin layer that parses arguments and calls library functions.

Each command lives in its own module and is imported only when it runs, so
``uavm --help`` stays fast and a command's optional dependencies are needed
only by that command. Library errors (:class:`uavm.errors.UAVMError`) become a
one-line message and exit status 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from ..errors import UAVMError, printable
from ..extras import EXTRA_OF_COMMAND, missing_extra

# command name -> "module:attribute" (a click.Command) inside uavm.cli
COMMANDS: dict[str, str] = {
    "models": "models:models",
    "info": "models:info",
    "convert": "models:convert",
    "export": "models:export",
    "train-audio-encoder": "audio:train_audio_encoder",
    "extract": "extract:extract",
    "pack": "extract:pack",
    "train": "train:train",
    "eval": "train:evaluate",
    "recipe": "train:recipe",
    "analyze": "analyze:analyze",
    "predict": "predict:predict",
    "demo": "demo:demo",
    "serve": "serve:serve",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, t in COMMANDS.items() if _module_exists(t.split(":")[0]))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        if not _module_exists(module_name):
            return None
        module = importlib.import_module(f"{__name__}.{module_name}")
        return getattr(module, attr)


def _module_exists(module_name: str) -> bool:
    return importlib.util.find_spec(f"{__name__}.{module_name}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="uavm")
def cli() -> None:
    """uavm: unified audio-visual models: features, training, analyses, prediction."""


def _command(args: list[str]) -> str:
    """The subcommand named in ``args`` (``analyze`` with its own subcommand: ``analyze tsne``)."""
    words = [a for a in args if not a.startswith("-")]
    return " ".join(words[:2]) if words[:1] == ["analyze"] else " ".join(words[:1])


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``uavm`` console script."""
    try:
        code = cli.main(args=argv, prog_name="uavm", standalone_mode=False)
    except ImportError as exc:  # an optional dependency (MissingExtraError, or an import it did not wrap)
        command = _command(sys.argv[1:] if argv is None else argv)
        error = missing_extra(exc, f"uavm {command}".strip(), EXTRA_OF_COMMAND.get(command.split(" ")[0]))
        if error is None:
            raise
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except UAVMError as exc:
        click.echo(f"error: {printable(str(exc))}", err=True)
        sys.exit(1)
    except OSError as exc:  # a file operation the library did not word itself (disk full, read-only, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{(exc.strerror or str(exc) or type(exc).__name__).lower()}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
