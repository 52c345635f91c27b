"""The command line (``tspsis ...``: ``commands``, its shared vocabulary ``options``), ``predict``, ``doctor``: the top
layer (docs/DESIGN.md)."""
from tspsis.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
