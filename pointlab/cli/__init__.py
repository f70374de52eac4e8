"""``pointlab`` command line: argument parsing and dispatch only.

Each sub-command lives in its own module ``pointlab.cli.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when used.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "synth": "write built-in synthetic indoor scenes in a dataset's preprocessed layout",
    "pipeline": "run a config's data pipeline over a dataset and print what it produces",
    "train": "train a model from a config file",
    "test": "test a trained model (fragment-voting TTA)",
    "params": "print trainable / frozen / buffer counts of a config's model",
    "infer": "segment your own point cloud files",
    "plot": "draw training curves from a run's logs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pointlab", description="pointlab: point-cloud perception research")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        try:
            module = importlib.import_module(f"pointlab.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"pointlab.cli.{name}":
                continue  # command not built yet
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    code = args._module.run(args)
    if argv is None:
        sys.exit(code or 0)
    return code or 0
