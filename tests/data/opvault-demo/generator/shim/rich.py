"""Minimal stand-in for `rich`: opvault-demo only uses `from rich import print`.
Messages go to stderr (markup left as is) so they never mix with generated data."""
import builtins
import sys


def print(*args, **kwargs):
    kwargs.setdefault("file", sys.stderr)
    builtins.print(*args, **kwargs)
