"""``python -m trealtime``: the demo, and tools around it."""

from __future__ import annotations

import argparse
import logging
import sys

from ._cli import _demo, _talk
from ._cli._timeline import print_timeline


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(
        prog="python -m trealtime", description="The demo, and tools around it."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="one spoken turn against the fake server (or --url)")
    _demo.add_arguments(demo)
    replay = commands.add_parser("replay", help="print a recording as a readable timeline")
    replay.add_argument("file", help="a recording made with open_session(record=...)")
    talk = commands.add_parser("talk", help="talk to the model: microphone in, speaker out")
    _talk.add_arguments(talk)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    if args.command == "replay":
        return print_timeline(args.file)
    if args.command == "talk":
        return _talk.run(args)
    return _demo.run(args)


if __name__ == "__main__":
    sys.exit(main())
