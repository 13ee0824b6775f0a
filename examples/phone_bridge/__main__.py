"""``python -m examples.phone_bridge``: answer Twilio calls with an OpenAI Realtime session.

Point a Twilio number's voice webhook at TwiML that streams the call here (behind TLS, e.g.
a reverse proxy or a tunnel, since Twilio connects with ``wss://``)::

    <Response><Connect><Stream url="wss://your-host/media-stream"/></Connect></Response>

The API key comes from ``OPENAI_API_KEY``; ``--url`` points the sessions elsewhere (e.g. at
trealtime's fake server).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import trio

import trealtime

from .bridge import BridgeConfig, PhoneBridge, phone_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.phone_bridge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (0: any)")
    parser.add_argument("--url", default=trealtime.DEFAULT_URL, help="the Realtime endpoint")
    parser.add_argument(
        "--instructions",
        default="You answer the phone for a small travel agency. Keep answers short.",
        help="the model's instructions for every call",
    )
    parser.add_argument("--voice", default="marin", help="the model's voice")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    config = BridgeConfig(
        url=args.url,
        settings_for=lambda start: phone_settings(args.instructions, voice=args.voice),
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(PhoneBridge(config).serve, args.host, args.port)
        print(f"phone bridge listening on ws://{args.host}:{port}/", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the bridge until interrupted."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(_serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
