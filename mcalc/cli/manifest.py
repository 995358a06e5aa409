"""``python -m mcalc manifest FORMAT SRC --out manifest.csv``: a public collection as a manifest.

Prints what was written and every problem; ``--json`` prints one object instead
(``rows``, ``masks``, ``problems``: each ``{path, line, message, severity}``, as ``scan``'s). The exit status is non-zero only when nothing could be
converted.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from mcalc.cli.common import document_out
from mcalc.dataset.convert import FORMATS, convert_collection, normalize_format
from mcalc.paths import shown_path
from mcalc.plural import counted

__all__ = ["register_commands"]


def _cmd_manifest(args: argparse.Namespace) -> int:
    fmt = normalize_format(args.format)
    conv = convert_collection(fmt, args.src, args.out, args.images)
    written = bool(conv.rows)
    if args.json:
        result: dict[str, Any] = {
            "format": fmt,
            "out": str(args.out) if written else None,
            "rows": len(conv.rows),
            "masks": conv.masks_written,
            "annotated": sum(r.annotation is not None for r in conv.rows),
            "problems": [p.as_dict() for p in conv.problems],
        }
        print(json.dumps(result), file=document_out())
    else:
        if written:
            annotated = sum(r.annotation is not None for r in conv.rows)
            print(
                f"wrote {shown_path(args.out)}: {counted(len(conv.rows), 'image')} ({annotated} annotated), "
                f"{counted(conv.masks_written, 'mask file')}"
            )
        print(f"problems: {len(conv.problems)} ({len(conv.errors)} not converted)")
        for problem in conv.problems:
            print(f"  {replace(problem, file=shown_path(problem.file))}")
    if not written:
        print(f"error: nothing could be converted from {shown_path(args.src)}", file=sys.stderr)
        return 1
    return 0


def register_commands(sub: Any) -> None:
    """Add the ``manifest`` command to the CLI's sub-parsers."""
    parser = sub.add_parser(
        "manifest",
        help="write a manifest from a public collection (CBIS-DDSM, INbreast, mini-MIAS, VinDr-Mammo)",
    )
    parser.add_argument("format", help=f"collection format: {', '.join(sorted(FORMATS))}")
    parser.add_argument("src", help="the collection's description file or folder")
    parser.add_argument("--images", help="folder of the images, when not beside the description")
    parser.add_argument(
        "--out", required=True, help="the manifest CSV to write (masks go beside it)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: format, out, rows, masks, annotated, and problems, each "
        "{path, line, message, severity} as scan's (line: the line of path, or null)",
    )
    parser.set_defaults(func=_cmd_manifest)
