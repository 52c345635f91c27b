"""The command line's shared vocabulary (docs/cli.md): one help formatter, sub-commands made alike, and the
deprecated spellings of renamed flags.

A renamed flag keeps its old spelling as a hidden alias (``add_option(..., old="--out")``): it parses into the new
flag's destination and prints one line on stderr per use, ``tspsis data synth: --out is deprecated, use --out-dir``.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["DeprecatedAlias", "HelpFormatter", "RawHelpFormatter", "add_command", "add_option"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it has none to show (None, empty or a flag's False: the
    help says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default == [] or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


class RawHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """``HelpFormatter`` for a description laid out by hand (a module docstring): its line breaks are kept."""


class DeprecatedAlias(argparse.Action):
    """An old spelling of a renamed flag: stores into the new flag's destination (as ``store`` does) and says, on
    stderr, which flag to use instead."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_option(parser: argparse.ArgumentParser, *flags: str, old: str | None = None, **kwargs) -> argparse.Action:
    """``parser.add_argument(*flags, **kwargs)``, and with ``old`` its deprecated spelling, hidden from the help.

    The new flag and its old spelling form a mutually exclusive group, required if the option is: either satisfies
    it (argparse would otherwise demand the new flag even when the old one is given), both at once are an error."""
    if old is None:
        return parser.add_argument(*flags, **kwargs)
    group = parser.add_mutually_exclusive_group(required=kwargs.pop("required", False))
    new = group.add_argument(*flags, **kwargs)
    group.add_argument(old, dest=new.dest, type=new.type, nargs=new.nargs, choices=new.choices, metavar=new.metavar,
                       action=DeprecatedAlias, new=flags[0], default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return new


def add_command(subparsers, name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
    """A sub-command: ``summary`` in its parent's list, ``description`` (default: the summary) atop its own help,
    with ``HelpFormatter``."""
    return subparsers.add_parser(name, help=summary, description=description or summary,
                                 formatter_class=HelpFormatter)
