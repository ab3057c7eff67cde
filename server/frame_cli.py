"""``actorscope frame``: decode, encode and convert captured inspector frames.

For people debugging the wire (PROTOCOL.md §1-§5)::

    actorscope frame decode  --direction to-server|to-client [--version N] [HEX]
    actorscope frame encode  --direction ... [--version N] [--no-prefix] [JSON]
    actorscope frame convert --direction ... --to-version N [HEX]

``decode`` prints ``{"version": V, "message": ...}`` in the JSON form of
``tests/vectors/`` with the message *at its own version* (not upgraded),
so ``decode`` then ``encode`` gives back the same bytes. ``--version N`` reads
a negotiated-mode payload (no u16 prefix). ``convert`` steps a frame through
the adjacent converters to version N and prints the resulting frame, which is
an ``Error`` frame where §5 says so.

With no HEX/JSON argument each action reads one item per line from stdin and
writes one result per line, flushed as it goes, so a long capture streams
through one process. A bad item prints ``{"error": "<reason>"}`` on its line
and the rest still go through; the exit code is 1 if any item failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import IO, Any

__all__ = ["ItemError", "process_lines", "register"]

# One item in, one output line out; raises ItemError (or a protocol error)
# for an item that cannot be processed.
Processor = Callable[[str], str]


class ItemError(ValueError):
    """One input item is bad; its reason goes on that item's output line."""


_DESCRIPTION = """\
Decode, encode and convert captured inspector frames (docs/PROTOCOL.md §1-§5).

  decode   print {"version", "message"}: the message at its own version
  encode   print the hex frame of a JSON message
  convert  print the frame converted to another version (an Error frame
           where §5 says so)

With no HEX/JSON argument, each action reads one item per line from stdin and
writes one line per item; a bad item prints {"error": "<reason>"} and the exit
code is 1."""


def register(subparsers: Any) -> None:
    """Add ``frame`` and its three actions to the ``actorscope`` parser."""
    frame = subparsers.add_parser(
        "frame",
        help="decode, encode or convert captured inspector frames",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = frame.add_subparsers(dest="frame_action", metavar="ACTION", required=True)

    dec = actions.add_parser(
        "decode",
        help="print a frame as JSON (the message at its own version)",
        description='Print {"version": V, "message": ...} for each frame '
        "(JSON Lines when reading stdin).",
    )
    _add_direction(dec)
    dec.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="the frame is a negotiated-mode payload at version N, without the u16 prefix",
    )
    dec.add_argument("hex", nargs="?", metavar="HEX", help="the frame; stdin lines if omitted")
    dec.set_defaults(frame_parser=dec, handler=_run_decode)

    enc = actions.add_parser(
        "encode",
        help="print the hex frame of a JSON message",
        description='JSON is the message form ({"body": ...}) or {"version": V, '
        '"message": ...} as decode prints it.',
    )
    _add_direction(enc)
    enc.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="the version to encode at (optional when the JSON carries its version)",
    )
    enc.add_argument(
        "--no-prefix",
        action="store_true",
        help="write a negotiated-mode payload, without the u16 version prefix",
    )
    enc.add_argument("json", nargs="?", metavar="JSON", help="the message; stdin lines if omitted")
    enc.set_defaults(frame_parser=enc, handler=_run_encode)

    conv = actions.add_parser(
        "convert",
        help="convert a frame to another version (an Error frame where docs/PROTOCOL.md §5 "
        "says so)",
        description="Decode an embedded-mode frame of any version, apply the adjacent "
        "converters one step at a time to version N and print the resulting frame.",
    )
    _add_direction(conv)
    conv.add_argument("--to-version", type=int, required=True, metavar="N")
    conv.add_argument("hex", nargs="?", metavar="HEX", help="the frame; stdin lines if omitted")
    conv.set_defaults(frame_parser=conv, handler=_run_convert)


def _add_direction(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--direction",
        required=True,
        choices=("to-server", "to-client"),
        help="to-server: a client's request; to-client: a server's response or push",
    )


# -- the actions -----------------------------------------------------------------
#
# The protocol package is imported inside the handlers (once per process, not
# per item): generating its codecs costs ~0.2 s that `actorscope --help` and
# the other sub-commands should not pay.


def _check_version(args: argparse.Namespace, name: str, version: int | None) -> None:
    """A version option outside VERSIONS is a usage error (exit 2), not a bad item."""
    from actorscope.protocol import VERSIONS

    if version is not None and version not in VERSIONS:
        known = ", ".join(map(str, VERSIONS))
        parser: argparse.ArgumentParser = args.frame_parser
        parser.error(f"{name} must be one of {known}, not {version}")


def _run_decode(args: argparse.Namespace) -> int:
    from actorscope.protocol import decode_versioned, to_json

    _check_version(args, "--version", args.version)
    direction: str = args.direction
    version: int | None = args.version

    def decode(item: str) -> str:
        v, msg = decode_versioned(direction, _parse_hex(item), version)
        return json.dumps({"version": v, "message": to_json(msg)})

    return _run(decode, args.hex)


def _run_encode(args: argparse.Namespace) -> int:
    from actorscope.protocol import encode_versioned, message_from_json

    _check_version(args, "--version", args.version)
    direction: str = args.direction
    default_version: int | None = args.version
    prefix = not args.no_prefix

    def encode(item: str) -> str:
        version, message = _parse_message(item, default_version)
        msg = message_from_json(direction, version, message)
        return encode_versioned(direction, msg, version, prefix=prefix).hex()

    return _run(encode, args.json)


def _run_convert(args: argparse.Namespace) -> int:
    from actorscope.protocol import convert

    _check_version(args, "--to-version", args.to_version)
    direction: str = args.direction
    to_version: int = args.to_version

    def conv(item: str) -> str:
        return convert(direction, _parse_hex(item), to_version).hex()

    return _run(conv, args.hex)


def _run(process: Processor, argument: str | None) -> int:
    out = sys.stdout
    if argument is not None:
        return process_lines(process, [argument], out, skip_blank=False)
    return process_lines(process, _stdin_lines(), out, skip_blank=True)


# -- items -------------------------------------------------------------------------


def _stdin_lines() -> Iterable[str | ItemError]:
    """stdin, one line at a time as it arrives; a line that is not UTF-8 is an error item."""
    for raw in sys.stdin.buffer:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ItemError(f"line is not utf-8 ({exc.reason} at byte {exc.start})")


def _parse_hex(item: str) -> bytes:
    """A frame written as hex; spaces between bytes and a ``0x`` prefix are tolerated."""
    text = item.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ItemError(f"invalid hex: {exc}") from None


def _parse_message(item: str, default_version: int | None) -> tuple[int, Any]:
    """(version, message JSON) from a message form or a ``{"version", "message"}`` wrapper."""
    try:
        obj = json.loads(item)
    except ValueError as exc:
        raise ItemError(f"invalid JSON: {exc}") from None
    version = default_version
    if isinstance(obj, dict) and "message" in obj:
        extra = set(obj) - {"version", "message"}
        if extra:
            raise ItemError(f'unknown key {sorted(extra)[0]!r} beside "message"')
        own = obj.get("version")
        if own is not None:
            if type(own) is not int:
                raise ItemError('"version" must be an integer')
            if default_version is not None and own != default_version:
                raise ItemError(f"the item says version {own} but --version is {default_version}")
            version = own
        obj = obj["message"]
    if version is None:
        raise ItemError('no version: pass --version N or {"version": N, "message": ...}')
    return version, obj


def process_lines(
    process: Processor,
    lines: Iterable[str | ItemError],
    out: IO[str],
    *,
    skip_blank: bool = True,
) -> int:
    """Run ``process`` on each line, writing one result line per item as it goes.

    A failed item writes ``{"error": "<reason>"}`` instead, and processing
    continues (a capture with one damaged frame still decodes). Blank lines are
    skipped when ``skip_blank``.

    Returns:
        The exit code: 0 if every item went through, 1 if any failed.
    """
    from actorscope.protocol import ProtocolError

    failed = False
    for line in lines:
        if isinstance(line, ItemError):
            result = json.dumps({"error": str(line)})
            failed = True
        elif skip_blank and not line.strip():
            continue
        else:
            try:
                result = process(line)
            except (ItemError, ProtocolError) as exc:
                # DecodeError also covers malformed JSON forms and unknown
                # versions; EncodeError a value out of its type's range.
                result = json.dumps({"error": str(exc)})
                failed = True
        out.write(result + "\n")
        # Flushed per item so a live capture (tail -f | actorscope frame
        # decode) shows each frame at once; a flush costs far less than a decode.
        out.flush()
    return 1 if failed else 0
