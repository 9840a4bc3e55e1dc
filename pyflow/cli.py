"""The `flatflow` / `python -m pyflow` command line.

Each module in :mod:`pyflow.commands` contributes one subcommand through
``register(subparsers) -> None``; the parser it adds must set ``func`` (a callable taking the parsed
namespace and returning an exit code).

Exit codes (README, "Errors and exit codes"): 0 success; 1 bad input or a failed check (one ``error:`` line
on stderr naming the input and the fix, never a traceback); 2 a usage error (the usage line of the command
and one ``error:`` line, as argparse's convention); 130 interrupted (Ctrl-C), with only complete outputs left.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from pyflow import commands
from pyflow.errors import FlowError

#: Exit status of a usage error (argparse's convention).
USAGE_ERROR = 2
#: Exit status after Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse with a two-line usage error: the command's usage line and one ``error:`` line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        usage = " ".join(self.format_usage().split())
        print(f"{usage} (see {self.prog} --help)", file=sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand."""
    parser = Parser(
        prog="flatflow",
        description="FlatFlow: golden models, HLS kernels, RTL simulation, synthesis and FLAT profiling "
        "for transformer attention.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
