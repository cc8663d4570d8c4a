"""`crosssteer ...`: the method from the command line, no ComfyUI needed."""
# One parser assembled from each part's own subcommands: the library's (directions.commands), the image
# evaluation's (eval-images) and the workflow files' (add-steering). The parts never import one another for it.
from __future__ import annotations

import argparse
import sys

from .directions import commands as library_commands
from .evaluation import commands as evaluation_commands
from .workflow_files import add_steering


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosssteer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    library_commands.add_parsers(sub)
    evaluation_commands.add_parser(sub)
    add_steering.add_parser(sub)
    for sp in sub.choices.values():
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, RuntimeError, OSError, ImportError) as err:
        print(f"crosssteer {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
