"""djangostack.review.migration_check: the migrations a change adds, linted by django-migration-linter
against the real PostgreSQL, rendered as the PR comment with the expand/contract fix.

The repository under test is a temporary git copy of examples/django_app whose base commit holds
the app as it is; the change adds four migrations to the notes app on top."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from djangostack.review import migration_check
from djangostack.review.migration_check import MigrationCheckError, MigrationResult, added_migrations, render_markdown

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "django_app"
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", migration_check.DEFAULT_DATABASE_URL)

HEADER = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
NEW_MIGRATIONS = {
    # Compatible: the old code never sets the column, and NULL is allowed.
    "0003_note_title.py": """
        dependencies = [("notes", "0002_upload")]
        operations = [migrations.AddField("note", "title", models.CharField(max_length=100, null=True))]
    """,
    # NOT NULL without a default: the old release's INSERTs would fail.
    "0004_note_author.py": """
        dependencies = [("notes", "0003_note_title")]
        operations = [migrations.AddField("note", "author", models.CharField(max_length=50), preserve_default=False)]
    """,
    "0005_rename_note_text.py": """
        dependencies = [("notes", "0004_note_author")]
        operations = [migrations.RenameField("note", "text", "body")]
    """,
    "0006_remove_upload_created_at.py": """
        dependencies = [("notes", "0005_rename_note_text")]
        operations = [migrations.RemoveField("upload", "created_at")]
    """,
}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _postgres_is_up() -> str | None:
    import psycopg

    try:
        with psycopg.connect(DATABASE_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return str(error).splitlines()[0]


@pytest.fixture(scope="module")
def postgres() -> str:
    """The linter needs a live PostgreSQL (TEST_DATABASE_URL, started by scripts/start-test-services.sh)."""
    problem = _postgres_is_up()
    if problem:
        pytest.fail(
            f"PostgreSQL is not reachable ({problem}): run scripts/start-test-services.sh or set TEST_DATABASE_URL",
            pytrace=False,
        )
    return DATABASE_URL


@pytest.fixture(scope="module")
def change(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository: base commit = the sample app; working tree = four new migrations."""
    repo = tmp_path_factory.mktemp("repo")
    app = repo / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", "staticfiles", "media", ".pytest_cache"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    migrations = app / "notes" / "migrations"
    for name, body in NEW_MIGRATIONS.items():
        (migrations / name).write_text(HEADER + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n")
    # Two are committed on a branch, two are still untracked: a PR and a local run both see all four.
    _git(repo, "checkout", "-q", "-b", "change")
    _git(repo, "add", str(migrations / "0003_note_title.py"), str(migrations / "0004_note_author.py"))
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "change")
    return app


@pytest.fixture(scope="module")
def results(change: Path, postgres: str) -> dict[str, MigrationResult]:
    found = migration_check.check(change, "main", database_url=postgres)
    return {Path(r.path).name: r for r in found}


def test_the_check_lists_every_migration_the_change_adds(change: Path) -> None:
    assert [p.name for p in added_migrations(change, "main")] == sorted(NEW_MIGRATIONS)
    assert added_migrations(change, "change", include_untracked=False) == []


def test_existing_migrations_and_other_files_are_not_listed(change: Path) -> None:
    names = {p.name for p in added_migrations(change, "main")}
    assert "0001_initial.py" not in names
    assert "__init__.py" not in names


def test_an_unknown_base_ref_is_a_clear_error(change: Path) -> None:
    with pytest.raises(MigrationCheckError, match="no-such-ref"):
        added_migrations(change, "no-such-ref")


def test_a_nullable_new_column_passes(results: dict[str, MigrationResult]) -> None:
    result = results["0003_note_title.py"]
    assert (result.status, result.issues) == ("ok", ())
    assert (result.app_label, result.name) == ("notes", "0003_note_title")


def test_a_not_null_column_without_default_is_flagged(results: dict[str, MigrationResult]) -> None:
    result = results["0004_note_author.py"]
    assert result.status == "error"
    assert [i.code for i in result.issues] == ["NOT_NULL"]


def test_a_renamed_column_is_flagged(results: dict[str, MigrationResult]) -> None:
    result = results["0005_rename_note_text.py"]
    assert result.status == "error"
    assert "RENAME_COLUMN" in {i.code for i in result.issues}


def test_a_dropped_column_is_flagged(results: dict[str, MigrationResult]) -> None:
    result = results["0006_remove_upload_created_at.py"]
    assert result.status == "error"
    assert "DROP_COLUMN" in {i.code for i in result.issues}


def test_the_comment_shows_each_migration_and_the_expand_contract_fix(results: dict[str, MigrationResult]) -> None:
    markdown = render_markdown(list(results.values()), "main")
    assert "4 new migration(s) since `main`, 3 flagged" in markdown
    assert "| `app/notes/migrations/0003_note_title.py` | ✅ OK |" in markdown
    for name in ("0004_note_author.py", "0005_rename_note_text.py", "0006_remove_upload_created_at.py"):
        assert f"#### `app/notes/migrations/{name}`" in markdown
    assert migration_check.fix_for("NOT_NULL") in markdown
    assert migration_check.fix_for("RENAME_COLUMN") in markdown
    assert migration_check.fix_for("DROP_COLUMN") in markdown
    assert "#### `app/notes/migrations/0003_note_title.py`" not in markdown


def test_every_fix_is_an_expand_contract_sequence() -> None:
    assert "Release N+1" in migration_check.fix_for("DROP_COLUMN")
    assert "backfill" in migration_check.fix_for("RENAME_COLUMN")
    assert "nullable" in migration_check.fix_for("NOT_NULL")
    assert migration_check.fix_for("SOMETHING_NEW") == migration_check.GENERIC_FIX


def test_the_cli_prints_the_comment_and_fails_on_incompatible_migrations(
    change: Path, postgres: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "comment.md"
    code = migration_check.main(
        ["--app-dir", str(change), "--base", "main", "--database-url", postgres, "--output", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert printed == out.read_text(encoding="utf-8")
    assert printed.startswith("### Migration safety")


def test_no_new_migrations_passes(change: Path, postgres: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Against the working tree's own commit plus untracked files only the two untracked ones are new.
    assert migration_check.main(["--app-dir", str(change), "--base", "change", "--database-url", postgres]) == 1
    results = migration_check.lint_migrations(change, [], database_url=postgres)
    assert results == []
    assert "No new migrations since `x`." in render_markdown([], "x")


def test_an_unreachable_database_is_reported_without_its_password(change: Path) -> None:
    bad = "postgres://django:sekrit@127.0.0.1:1/django"
    with pytest.raises(MigrationCheckError) as raised:
        migration_check.check(change, "main", database_url=bad)
    message = str(raised.value)
    assert "cannot reach PostgreSQL" in message
    assert "start-test-services.sh" in message
    assert "sekrit" not in message
