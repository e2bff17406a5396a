"""Cap a pull request comment below GitHub's size limit, with a banner saying which code produced it.

    python3 scripts/ci/cap-comment.py --input plan.md --output comment.md \
        --banner "Produced by ..." [--limit 60000] [--full "the artifact offline-plan-full of run URL"]

GitHub refuses an issue or pull request comment longer than 65,536 characters. The output is the
banner, then as much of the input as fits in --limit characters (cut at a line end, an open code
fence closed again), then a note saying how much was left out and where the full text is. An input
that fits is copied unchanged after the banner. Standard library only: the trusted workflow that
posts comments for forks runs it without installing anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

GITHUB_COMMENT_LIMIT = 65_536
"""Characters GitHub accepts in one comment body (the API answers 422 "Body is too long")."""
DEFAULT_LIMIT = 60_000


def cap(body: str, banner: str, limit: int = DEFAULT_LIMIT, full: str = "") -> str:
    """The comment: banner, then body, cut so the whole is at most ``limit`` characters."""
    if not 0 < limit <= GITHUB_COMMENT_LIMIT:
        raise ValueError(f"--limit must be between 1 and {GITHUB_COMMENT_LIMIT} (got {limit})")
    head = f"{banner.strip()}\n\n" if banner.strip() else ""
    whole = head + body
    if len(whole) <= limit:
        return whole
    where = f" The full text: {full}." if full else ""
    # The note's length depends on the numbers in it; reserve room for the widest ones.
    note_template = "\n\n---\n**Truncated:** showing {shown:,} of {total:,} characters.{where}\n"
    reserve = len(note_template.format(shown=len(body), total=len(body), where=where)) + len("```\n")
    room = limit - len(head) - reserve
    if room <= 0:
        raise ValueError(f"the banner and the note alone exceed --limit {limit}")
    kept = body[:room]
    cut = kept.rfind("\n")
    if cut > 0:
        kept = kept[: cut + 1]
    if kept.count("```") % 2 == 1:  # a code fence left open would swallow the note
        kept += "```\n"
    note = note_template.format(shown=len(kept), total=len(body), where=where)
    result = head + kept + note
    assert len(result) <= limit, (len(result), limit)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--banner", default="")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    parser.add_argument("--full", default="", help="where the full text is (e.g. an artifact of a run)")
    args = parser.parse_args(argv)
    body = args.input.read_text(encoding="utf-8", errors="replace")
    try:
        comment = cap(body, args.banner, args.limit, args.full)
    except ValueError as error:
        print(f"cap-comment: {error}", file=sys.stderr)
        return 2
    args.output.write_text(comment, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
