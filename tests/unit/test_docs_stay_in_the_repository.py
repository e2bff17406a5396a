"""The docs describe the repository on its own: no path into the machine it was written on."""

from __future__ import annotations

import re

import pytest

from tests.harness import REPO, repository_files

DOCS = [str(path.relative_to(REPO)) for path in repository_files("*.md")]
OUTSIDE = re.compile(r"(?<![\w.])/(work|home|root|tmp/bash_jobs)/|\bshared/(DESIGN|STYLE|REQUIREMENTS)")


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_point_only_inside_the_repository(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    found = [m.group(0) for m in OUTSIDE.finditer(text)]
    assert not found, f"{doc} points outside the repository: {found}"
