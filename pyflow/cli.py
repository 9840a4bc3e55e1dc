"""The `flatflow` / `python -m pyflow` command line.

Each module in :mod:`pyflow.commands` contributes one subcommand through
``register(subparsers) -> None``; the parser it adds must set ``func`` (a callable taking the parsed
namespace and returning an exit code).  :class:`pyflow.errors.FlowError` and other expected failures
become one ``error:`` line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from pyflow import commands
from pyflow.errors import FlowError


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
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
        return 130
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
