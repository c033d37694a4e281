"""What the load-test scripts' command lines share."""

import argparse
from collections.abc import Iterable


def parser_for(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A script's parser, its module docstring (the usage examples) as the description, kept as written."""
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def check_ranges(
    parser: argparse.ArgumentParser, args: argparse.Namespace, ranges: Iterable[tuple[str, int, int]]
) -> None:
    """Refuse, the argparse way (usage and one line, exit 2), an integer option outside its (name, low, high)."""
    for name, low, high in ranges:
        value = getattr(args, name)
        if not low <= value <= high:
            parser.error(f"--{name.replace('_', '-')} must be from {low} to {high}, not {value}")
