"""The release artifact: what ships, what the app's ignore file and the default list leave out,
the summary line, reproducibility and the content-derived release id."""

from __future__ import annotations

import os
import shutil
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from djangostack.host.artifact import (
    DEFAULT_EXCLUDES,
    build_artifact,
    pack_source,
    select_sources,
)


def project(root: Path, files: dict[str, str] | None = None, empty: str = "") -> Path:
    """A minimal Django project plus ``files`` (relative path -> content) and the files ``empty``
    names (relative paths separated by white space, created empty)."""
    made = {"manage.py": "# manage\n", "requirements.txt": "Django\n", **dict.fromkeys(empty.split(), "")}
    for relative, content in {**made, **(files or {})}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def shipped(root: Path) -> set[str]:
    with tarfile.open(fileobj=BytesIO(pack_source(root))) as tar:
        return {m.name for m in tar.getmembers()}


def test_a_media_directory_inside_an_app_ships_without_any_ignore_file(tmp_path: Path) -> None:
    # The old artifact dropped every directory named media (and staticfiles) at any depth, so an
    # app's fixture images never reached the host.
    root = project(
        tmp_path,
        empty="shop/fixtures/media/products/chair.jpg shop/fixtures/catalogue.json media/upload-from-dev.png "
        "shop/static/staticfiles/x.css",
    )
    names = shipped(root)
    assert "shop/fixtures/media/products/chair.jpg" in names
    assert "shop/static/staticfiles/x.css" in names
    # Without an ignore file, nothing outside the default list is the tool's business to drop.
    assert "media/upload-from-dev.png" in names


def test_the_default_list_leaves_out_vcs_virtualenvs_caches_node_modules_and_env_files(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        # a virtualenv under any name is recognised by its pyvenv.cfg
        {"env311/pyvenv.cfg": "home = /usr/bin", "project/.env": "SECRET_KEY=local", ".env.example": "SECRET_KEY="},
        empty=".git/HEAD app/__pycache__/views.cpython-311.pyc app/old.pyc app/views.py .venv/bin/python "
        "env311/lib/site.py frontend/node_modules/left-pad/index.js frontend/src/app.js .pytest_cache/v "
        ".mypy_cache/x .ruff_cache/x",
    )
    selection = select_sources(root)
    assert set(selection.files) == {
        "manage.py",
        "requirements.txt",
        "app/views.py",
        "frontend/src/app.js",
        ".env.example",
    }
    reasons = {e.path: e.reason for e in selection.excluded}
    assert reasons == {
        ".git/": "default",
        "app/__pycache__/": "default",
        "app/old.pyc": "default",
        ".venv/": "default",
        "env311/": "virtualenv",
        "frontend/node_modules/": "default",
        ".pytest_cache/": "default",
        ".mypy_cache/": "default",
        ".ruff_cache/": "default",
        "project/.env": "default",
    }


def test_djangostackignore_patterns_are_gitignore_patterns_at_any_depth_or_anchored(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {".djangostackignore": "# runtime data of a dev machine\n/media/\n*.log\nbuild/\ndocs/**/*.md\n"},
        empty="media/a.png shop/media/b.png debug.log shop/deep/trace.log build/out.js shop/build/out.js "
        "docs/index.md docs/guide/deep/page.md docs/conf.py",
    )
    names = shipped(root)
    assert "shop/media/b.png" in names, "an anchored /media/ must leave nested media directories alone"
    assert "media/a.png" not in names
    assert not {"debug.log", "shop/deep/trace.log"} & names
    assert not {"build/out.js", "shop/build/out.js"} & names
    assert not {"docs/index.md", "docs/guide/deep/page.md"} & names
    assert "docs/conf.py" in names
    assert ".djangostackignore" in names


def test_negation_takes_files_and_defaults_back_but_not_files_inside_an_excluded_directory(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {".djangostackignore": "*.txt\n!requirements.txt\n!keep/*.txt\nvendor/\n!vendor/needed.py\n!node_modules/\n"},
        empty="notes.txt keep/a.txt other/b.txt vendor/needed.py node_modules/lib/index.js",
    )
    selection = select_sources(root)
    assert "requirements.txt" in selection.files
    assert "keep/a.txt" in selection.files
    assert "notes.txt" not in selection.files
    assert "other/b.txt" not in selection.files
    # As in Git: a file under an excluded directory cannot be taken back (the directory is skipped).
    assert "vendor/needed.py" not in selection.files
    # The app's lines come after the defaults, so a default can be taken back.
    assert "node_modules/lib/index.js" in selection.files
    assert {e.path: e.reason for e in selection.excluded}["notes.txt"] == ".djangostackignore:1"


def test_dockerignore_is_read_with_dockers_rule_that_patterns_start_at_the_root(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        {".dockerignore": "media\n/staticfiles\n**/*.sqlite3\n!keep.sqlite3\n"},
        empty="media/a.png shop/media/b.png staticfiles/x.css db.sqlite3 data/dev.sqlite3 keep.sqlite3",
    )
    selection = select_sources(root)
    assert selection.ignore_file == ".dockerignore"
    assert "shop/media/b.png" in selection.files
    assert "keep.sqlite3" in selection.files
    assert not {"media/a.png", "staticfiles/x.css", "db.sqlite3", "data/dev.sqlite3"} & set(selection.files)


def test_djangostackignore_wins_over_dockerignore(tmp_path: Path) -> None:
    root = project(tmp_path, {".djangostackignore": "*.md\n", ".dockerignore": "media\n", "media/a": "", "r.md": ""})
    selection = select_sources(root)
    assert selection.ignore_file == ".djangostackignore"
    assert "media/a" in selection.files
    assert "r.md" not in selection.files


def test_symlinks_are_left_out_and_reported(tmp_path: Path) -> None:
    root = project(tmp_path / "app", {"real/x.py": ""})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s", encoding="utf-8")
    os.symlink(outside, root / "linked-dir")
    os.symlink(outside / "secret", root / "linked-file")
    selection = select_sources(root)
    assert not [f for f in selection.files if f.startswith("linked")]
    assert {e.path: e.reason for e in selection.excluded} == {"linked-dir/": "symlink", "linked-file": "symlink"}


def test_the_summary_line_names_what_was_excluded_and_why(tmp_path: Path) -> None:
    root = project(
        tmp_path / "shop", {".djangostackignore": "/media/\n", "media/a": "", "media/b": "", ".git/HEAD": ""}
    )
    line = select_sources(root).summary()
    assert line.startswith("artifact shop: 3 files (.djangostackignore, defaults); excluded: "), line
    assert ".git/ (default)" in line
    assert "media/ (.djangostackignore:1, 2 files)" in line
    assert "\n" not in line

    bare = project(tmp_path / "bare", {})
    assert select_sources(bare).summary() == (
        "artifact bare: 2 files (no .djangostackignore or .dockerignore, defaults); nothing excluded"
    )


def test_byte_identical_archives_from_copies_with_other_times_and_the_same_content(tmp_path: Path) -> None:
    first = project(tmp_path / "a" / "app", {"shop/views.py": "v1", "shop/media/x.png": "png", ".git/HEAD": "1"})
    second = tmp_path / "b" / "app"
    shutil.copytree(first, second)
    os.utime(second / "shop" / "views.py", (1, 1))
    (second / ".git" / "HEAD").write_text("another commit", encoding="utf-8")  # excluded: no effect
    one = build_artifact(first, tmp_path / "out1", "app")
    two = build_artifact(second, tmp_path / "out2", "app")
    assert one.path.read_bytes() == two.path.read_bytes()
    assert one.sha256 == two.sha256
    assert one.release_id == two.release_id
    with tarfile.open(one.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 for m in members)


def test_the_derived_release_id_changes_with_the_code_and_only_with_it(tmp_path: Path) -> None:
    root = project(tmp_path / "app", {"shop/views.py": "v1"})
    before = build_artifact(root, tmp_path / "out", "app")
    assert before.release_id.startswith("src-") and len(before.release_id) == 20
    os.utime(root / "shop" / "views.py", (5, 5))
    (root / "shop" / "__pycache__").mkdir()
    (root / "shop" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\0")
    assert build_artifact(root, tmp_path / "out", "app").release_id == before.release_id
    (root / "shop" / "views.py").write_text("v2", encoding="utf-8")
    assert build_artifact(root, tmp_path / "out", "app").release_id != before.release_id


@pytest.mark.parametrize("pattern", DEFAULT_EXCLUDES)
def test_every_default_pattern_is_valid_gitignore(pattern: str) -> None:
    import pathspec

    assert pathspec.GitIgnoreSpec.from_lines([pattern]).patterns[0].include is True


def test_source_release_id_is_the_artifacts_release_id_without_writing_it(tmp_path: Path) -> None:
    from djangostack.host.artifact import source_release_id

    root = project(tmp_path / "app", {"shop/views.py": "v1"})
    assert source_release_id(root) == build_artifact(root, tmp_path / "out", "app").release_id
    assert not (root / "app.tar.gz").exists()


def test_pulumi_up_prints_what_the_artifact_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi

    from tests.harness import evaluate_dev_with_pulumi_command

    root = project(tmp_path / "shop", {".djangostackignore": "/media/\n", "media/a.png": "", "app/media/b.png": ""})
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *_a, **_k: lines.append(msg))
    evaluate_dev_with_pulumi_command(overrides={"app": {"name": "shop", "releaseId": "r1", "source": str(root)}})
    assert select_sources(root).summary() in lines, lines
    assert "media/ (.djangostackignore:1)" in select_sources(root).summary()


def test_the_aws_target_prints_the_same_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi

    from tests.harness import evaluate_stack

    root = project(tmp_path / "shop", {".dockerignore": "docs\n", "docs/a.md": ""})
    lines: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *_a, **_k: lines.append(msg))
    single = Path(__file__).resolve().parents[1] / "aws" / "Pulumi.single.yaml"
    evaluate_stack(single, overrides={"app": {"name": "shop", "releaseId": "r1", "source": str(root)}})
    assert select_sources(root).summary() in lines, lines
