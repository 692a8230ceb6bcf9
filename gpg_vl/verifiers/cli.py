"""``gpg-vl verify``: score a JSONL file of completions with one verifier, to inspect it.

    gpg-vl verify --verifier math --input cases.jsonl --output scored.jsonl [--option k=v ...]

Each input line is ``{"completion": str, ...sample fields}`` (``answer``, ``choices``,
``labels``, ``aliases``, ``bbox``, ``image_size``, ``resized_size``, ``box_format``, as the
verifier needs); each output line is the input plus ``"reward": float`` (null where the verifier
says "not applicable"). A malformed line (invalid UTF-8, not JSON, not an object, no string
``completion``) is reported on stderr by line number and skipped; the rest are scored.

Exit status: 0 when every line was scored, 1 when some were skipped, 2 when the verifier,
an option or the input file is unusable. The main CLI (gpg_vl/cli.py) calls
:func:`add_arguments` and :func:`run`.
"""
from __future__ import annotations

import argparse
import json
import sys

from gpg_vl.verifiers.registry import get_verifier, warning_counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``verify`` options to ``parser``."""
    parser.add_argument("--verifier", required=True,
                        help="registered verifier name (format, choice, math, counting, "
                             "classification, grounding_iou) or path/to/file.py:function")
    parser.add_argument("--input", required=True, help="JSONL file, one {\"completion\": ...} per line")
    parser.add_argument("--output", required=True, help="JSONL file to write, input lines plus \"reward\"")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="verifier option (repeatable); VALUE is read as JSON when it parses "
                             "(0.5, 3136, null), else as a string (mode=answer_only)")


def parse_option(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, value), the value decoded as JSON when possible."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _parse_line(raw: bytes) -> dict:
    """One input line -> its record; ValueError saying what is wrong with it."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"invalid UTF-8 ({exc.reason})") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("completion"), (str, list)):
        raise ValueError('missing a string "completion"')
    return record


def score_record(verifier, record: dict) -> float | None:
    """The reward of one record: its completion scored with its own fields as columns."""
    # "completions" and "prompts" are the verifier call's own arguments, not sample columns
    reserved = ("completion", "reward", "completions", "prompts")
    columns = {k: [v] for k, v in record.items() if k not in reserved}
    return verifier(None, [record["completion"]], **columns)[0]


def run(args: argparse.Namespace) -> int:
    """Score ``args.input`` into ``args.output``; returns the exit status (module docstring)."""
    try:
        options = dict(parse_option(o) for o in args.option)
        verifier = get_verifier(args.verifier, **options)
        with open(args.input, "rb") as f:
            lines = f.read().splitlines()
    except (ValueError, OSError, TypeError) as exc:
        print(f"gpg-vl verify: {exc}", file=sys.stderr)
        return 2
    warnings_before = sum(warning_counts().values())
    scored = skipped = 0
    total = 0.0
    with open(args.output, "w", encoding="utf-8") as out:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = _parse_line(raw)
            except ValueError as exc:
                print(f"{args.input}:{number}: skipped: {exc}", file=sys.stderr)
                skipped += 1
                continue
            reward = score_record(verifier, record)
            out.write(json.dumps({**record, "reward": reward}) + "\n")
            scored += 1
            total += reward or 0.0
    warnings = sum(warning_counts().values()) - warnings_before
    mean = total / scored if scored else 0.0
    print(f"scored {scored} lines (mean reward {mean:.4f}), skipped {skipped}, "
          f"verifier warnings {warnings}", file=sys.stderr)
    return 1 if skipped else 0
