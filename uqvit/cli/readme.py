"""``uqvit readme``: rewrite the README's generated result tables from ``reports/*.json`` (or check them)."""
from __future__ import annotations

from pathlib import Path

from . import checks


def check_readme(a) -> None:
    checks.input_file(a.file, "--file")
    checks.input_dir(a.reports, "--reports")
    if not a.check:  # rewritten in place
        checks.output_file(a.file, "--file")


def cmd_readme(a) -> int:
    from ..report.readme import blocks, render_readme

    path = Path(a.file)
    text = path.read_text()
    new = render_readme(text, a.reports)
    names = ", ".join(blocks(text)) or "none"
    if a.check:
        if new != text:
            print(f"{path} is out of date with {a.reports}/*.json (generated blocks: {names}); run `uqvit readme`")
            return 1
        print(f"{path} matches {a.reports}/*.json (generated blocks: {names})")
        return 0
    if new != text:
        path.write_text(new)
    print(f"{'rewrote' if new != text else 'unchanged:'} {path} (generated blocks: {names})")
    return 0


def register(sub) -> None:
    r = sub.add_parser("readme", help="rewrite the README's result tables from reports/*.json")
    r.add_argument("--file", default="README.md", help="the Markdown file holding <!-- generated: NAME --> blocks")
    r.add_argument("--reports", default="reports", help="folder of the JSON reports (default: reports)")
    r.add_argument("--check", action="store_true", help="only check: exit 1 if the file is out of date")
    r.set_defaults(func=cmd_readme, validate=check_readme)
