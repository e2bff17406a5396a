"""Migration safety for the PR comment: which migrations a change adds, and whether each one is safe
to run while the previous release is still serving.

Every target migrates before the new code takes traffic (the release step on hosts, the Cloud Run
Job on GCP), so for a while the *old* code runs against the *new* schema. A migration that drops,
renames or constrains something the old code still uses breaks production in that window.

``check(app_dir, base)`` lists the migration files added since the git ref ``base`` under any
``migrations/`` directory of the Django app, lints them with django-migration-linter (in a
subprocess that imports the app's settings, against a real PostgreSQL so the SQL is PostgreSQL's),
and ``render_markdown`` turns the results into the PR comment: each migration OK or flagged with the
linter's reason and, for flagged ones, the expand/contract sequence that ships the same change
safely. CLI::

    python -m djangostack.review.migration_check --app-dir examples/django_app --base origin/main

The linter needs a database connection (Django's migration loader reads ``django_migrations`` and
``sqlmigrate`` renders SQL with the live backend): ``--database-url`` / ``TEST_DATABASE_URL``,
default the local test PostgreSQL that ``scripts/start-test-services.sh`` starts. Nothing is
migrated or written there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgres://django:django@127.0.0.1:5432/django"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SETTINGS = "project.settings"

Status = Literal["ok", "warning", "error", "ignored"]


class MigrationCheckError(RuntimeError):
    """The check could not run (git, the app's settings, or the database); the message says why."""


@dataclass(frozen=True)
class LintIssue:
    code: str
    """The linter's check code (``DROP_COLUMN``, ``NOT_NULL``, ...)."""
    message: str
    severity: Literal["error", "warning"]
    table: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class MigrationResult:
    path: str
    """The migration file, relative to the git repository root."""
    app_label: str
    name: str
    status: Status
    issues: tuple[LintIssue, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.status in {"error", "warning"}


# --------------------------------------------------------------------------------------------------
# The fix for each finding: how to ship the same change in backward-compatible steps
# --------------------------------------------------------------------------------------------------

FIXES: dict[str, str] = {
    "DROP_COLUMN": (
        "Drop it in two releases. Release N: stop reading and writing the field - remove it from the "
        "model with `migrations.SeparateDatabaseAndState(state_operations=[RemoveField(...)])` so the "
        "column stays in the database (make it nullable first if it is NOT NULL, so new inserts work). "
        "Release N+1, once no running code knows the field: the real `RemoveField` drops the column."
    ),
    "DROP_TABLE": (
        "Delete the model in two releases. Release N: remove every use of the model and delete it from "
        "the migration state only (`SeparateDatabaseAndState(state_operations=[DeleteModel(...)])`). "
        "Release N+1: drop the table."
    ),
    "RENAME_COLUMN": (
        "Never rename a column in place. Either keep the database name (`db_column='old_name'` on the "
        "renamed field - no schema change at all), or expand/contract: add the new column (nullable), "
        "write both columns from the code, backfill old -> new in batches, switch reads to the new "
        "column, stop writing the old one, and drop it in a later release."
    ),
    "RENAME_TABLE": (
        "Keep the table name (`Meta.db_table = 'old_name'`), or expand/contract: create the new table, "
        "write to both, backfill, switch reads, stop writing the old table, drop it in a later release."
    ),
    "NOT_NULL": (
        "The old release does not set this column, so its INSERTs fail once the constraint exists. "
        "Add the column nullable (or with a database default: `db_default=...`), deploy code that always "
        "sets it, backfill existing rows in batches, and add NOT NULL in a later release."
    ),
    "ALTER_COLUMN": (
        "Changing a column's type rewrites the table under an exclusive lock and the old code may write "
        "values the new type rejects. Add a new column with the new type, write both, backfill in "
        "batches, switch reads, and drop the old column in a later release."
    ),
    "ADD_UNIQUE": (
        "Remove duplicates first, then build the unique index without blocking writes "
        "(`AddIndexConcurrently` with a unique index in a non-atomic migration) and attach the "
        "constraint to it in a following migration."
    ),
    "CREATE_INDEX": (
        "Build the index without blocking writes: `django.contrib.postgres.operations.AddIndexConcurrently` "
        "in a migration with `atomic = False`."
    ),
    "CREATE_INDEX_EXCLUSIVE": (
        "Do not create an index in the same transaction as an ALTER TABLE: move it to its own non-atomic "
        "migration with `AddIndexConcurrently`."
    ),
    "DROP_INDEX": "Use `RemoveIndexConcurrently` in a migration with `atomic = False`.",
    "REINDEX": "Run `REINDEX ... CONCURRENTLY` outside the deploy instead of inside a migration.",
    "RUNPYTHON_REVERSIBLE": (
        "Give `RunPython` a `reverse_code` (`migrations.RunPython.noop` when nothing needs undoing), so a "
        "rollback of this release can unapply it."
    ),
    "RUNSQL_REVERSIBLE": "Give `RunSQL` a `reverse_sql` so a rollback of this release can unapply it.",
    "RUNPYTHON_MODEL_IMPORT": (
        "Use the historical model (`apps.get_model('app', 'Model')`) in data migrations, never an import "
        "of the current model."
    ),
    "RUNPYTHON_ARGS_NAMING_CONVENTION": "Name the RunPython function's arguments `(apps, schema_editor)`.",
    "RUNPYTHON_MODEL_VARIABLE_NAME": "Name the variable holding `apps.get_model(...)` after the model.",
}
GENERIC_FIX = (
    "Split the change into backward-compatible steps: expand the schema first (new, nullable things), "
    "deploy code that works with both schemas, migrate data in batches, and contract (drop, constrain) "
    "in a later release."
)


def fix_for(code: str) -> str:
    return FIXES.get(code, GENERIC_FIX)


# --------------------------------------------------------------------------------------------------
# Which migrations a change adds
# --------------------------------------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise MigrationCheckError("git is not installed") from error
    if done.returncode != 0:
        raise MigrationCheckError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def is_migration_file(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) >= 2 and parts[-2] == "migrations" and path.endswith(".py") and parts[-1] != "__init__.py"


def added_migrations(app_dir: Path, base: str, *, include_untracked: bool = True) -> list[Path]:
    """Migration files added (or moved in) since ``base`` under ``app_dir``, oldest name first.

    Committed and uncommitted changes count (``git diff <base>`` compares with the working tree);
    with ``include_untracked`` so do new files not yet added to git (a local run before commit).
    """
    app_dir = app_dir.resolve()
    root = Path(_git(["rev-parse", "--show-toplevel"], app_dir).strip())
    _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], root)
    changed = _git(["diff", "--name-only", "--diff-filter=AR", "-z", base, "--", str(app_dir)], root).split("\0")
    if include_untracked:
        changed += _git(["ls-files", "--others", "--exclude-standard", "-z", "--", str(app_dir)], root).split("\0")
    found = {(root / name).resolve() for name in changed if name and is_migration_file(name)}
    return sorted((p for p in found if p.is_file()), key=lambda p: (str(p.parent), p.name))


# --------------------------------------------------------------------------------------------------
# Linting them (in a subprocess with the app's settings)
# --------------------------------------------------------------------------------------------------

# Runs inside the app's environment: argv = [output json, migration file, ...]. Uses the linter's
# own pieces (migration loader, sqlmigrate, SQL analyser, data-migration checks) and reports
# structured results instead of the CLI's coloured text.
_CHILD = r"""
import json, sys
from pathlib import Path

out, files = sys.argv[1], [str(Path(f).resolve()) for f in sys.argv[2:]]
try:
    import django
    django.setup()
    from django.db import connection
    connection.ensure_connection()
    from django_migration_linter import MigrationLinter
    from django_migration_linter.sql_analyser.analyser import analyse_sql_statements

    linter = MigrationLinter(path=".", no_cache=True, no_output=True)
    by_file = {}
    for (app_label, name), migration in linter.migration_loader.disk_migrations.items():
        module = sys.modules.get(type(migration).__module__)
        if module is not None and getattr(module, "__file__", None):
            by_file[str(Path(module.__file__).resolve())] = (app_label, name, migration)
    results = []
    for path in files:
        if path not in by_file:
            results.append({"file": path, "status": "unknown", "issues": []})
            continue
        app_label, name, migration = by_file[path]
        if linter.should_ignore_migration(app_label, name, migration.operations, is_initial=migration.initial):
            results.append({"file": path, "app_label": app_label, "name": name, "status": "ignored", "issues": []})
            continue
        sql = linter.get_sql(app_label, name)
        errors, _ignored, warnings = analyse_sql_statements(linter.sql_analyser_class, sql, [])
        data_errors, _data_ignored, data_warnings = linter.analyse_data_migration(migration)
        issues = [dict(vars(i), severity="error") for i in errors + data_errors]
        issues += [dict(vars(i), severity="warning") for i in warnings + data_warnings]
        status = "error" if errors or data_errors else "warning" if warnings or data_warnings else "ok"
        results.append({"file": path, "app_label": app_label, "name": name, "status": status, "issues": issues})
    payload = {"results": results}
except Exception as error:  # reported to the parent, which turns it into one clear message
    payload = {"error": f"{type(error).__name__}: {error}"}
Path(out).write_text(json.dumps(payload, default=str))
"""


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def lint_migrations(
    app_dir: Path,
    files: Sequence[Path],
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    settings_module: str = DEFAULT_SETTINGS,
    python: str = sys.executable,
    timeout_seconds: float = 300,
) -> list[MigrationResult]:
    """Lint ``files`` (migration files of the app in ``app_dir``) with django-migration-linter."""
    if not files:
        return []
    app_dir = app_dir.resolve()
    database_url = database_url or os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = redis_url or os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        # Stand-ins: the settings refuse to import without them; nothing here serves requests.
        "SECRET_KEY": "migration-check-stand-in-not-a-secret",
        "ALLOWED_HOSTS": "localhost",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONPATH": os.pathsep.join([str(app_dir), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    root = Path(_git(["rev-parse", "--show-toplevel"], app_dir).strip())
    with tempfile.TemporaryDirectory(prefix="migration-check-") as work:
        out = Path(work) / "results.json"
        try:
            done = subprocess.run(
                [python, "-c", _CHILD, str(out), *map(str, files)],
                cwd=app_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise MigrationCheckError(f"the migration linter did not finish in {timeout_seconds:.0f}s") from error
        if not out.is_file():
            raise MigrationCheckError(f"the migration linter crashed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        payload: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    if "error" in payload:
        message = str(payload["error"])
        if "OperationalError" in message or "could not connect" in message.lower():
            message = (
                f"cannot reach PostgreSQL at {_redacted(database_url)} ({message.splitlines()[0]}); the linter "
                "needs a live database: start one with scripts/start-test-services.sh or set TEST_DATABASE_URL"
            )
        raise MigrationCheckError(message.replace(database_url, _redacted(database_url)))
    results = []
    for item in payload["results"]:
        path = Path(item["file"])
        issues = tuple(
            LintIssue(
                code=str(i["code"]),
                message=str(i["message"]),
                severity="error" if i["severity"] == "error" else "warning",
                table=i.get("table"),
                column=i.get("column"),
            )
            for i in item["issues"]
        )
        if item["status"] == "unknown":
            raise MigrationCheckError(f"{path} is not a migration Django loads for {settings_module}")
        results.append(
            MigrationResult(
                path=str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                app_label=str(item["app_label"]),
                name=str(item["name"]),
                status=item["status"],
                issues=issues,
            )
        )
    return results


def check(
    app_dir: Path,
    base: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    settings_module: str = DEFAULT_SETTINGS,
    python: str = sys.executable,
) -> list[MigrationResult]:
    """The added migrations since ``base`` and their lint results, in file order."""
    files = added_migrations(app_dir, base)
    return lint_migrations(
        app_dir,
        files,
        database_url=database_url,
        redis_url=redis_url,
        settings_module=settings_module,
        python=python,
    )


# --------------------------------------------------------------------------------------------------
# The PR comment
# --------------------------------------------------------------------------------------------------

_BADGE: dict[Status, str] = {
    "ok": "✅ OK",
    "ignored": "⏭️ ignored (`IgnoreMigration`)",
    "warning": "⚠️ needs review",
    "error": "❌ backward-incompatible",
}


def _where(issue: LintIssue) -> str:
    place = ".".join(p for p in (issue.table, issue.column) if p)
    return f" (`{place}`)" if place else ""


def render_markdown(results: Sequence[MigrationResult], base: str) -> str:
    lines = ["### Migration safety", ""]
    if not results:
        lines.append(f"No new migrations since `{base}`.")
        return "\n".join(lines) + "\n"
    flagged = [r for r in results if r.flagged]
    lines.append(
        f"{len(results)} new migration(s) since `{base}`, {len(flagged)} flagged. Migrations run while the "
        "previous release is still serving, so each one must work with the code that is live now."
    )
    lines += ["", "| Migration | Result |", "| --- | --- |"]
    for result in results:
        reasons = "; ".join(f"{i.message}{_where(i)}" for i in result.issues).replace("|", "\\|")
        lines.append(f"| `{result.path}` | {_BADGE[result.status]}{': ' + reasons if reasons else ''} |")
    for result in flagged:
        lines += ["", f"#### `{result.path}`", ""]
        for issue in result.issues:
            lines.append(f"- **{issue.code}** ({issue.severity}): {issue.message}{_where(issue)}")
            lines.append(f"  - Safe rollout: {fix_for(issue.code)}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m djangostack.review.migration_check",
        description="Lint the migrations a change adds and print the PR comment (markdown).",
    )
    parser.add_argument("--app-dir", type=Path, required=True, help="the Django project (where manage.py is)")
    parser.add_argument("--base", required=True, help="git ref the change is compared with (e.g. origin/main)")
    parser.add_argument("--settings", default=DEFAULT_SETTINGS, help=f"settings module (default {DEFAULT_SETTINGS})")
    parser.add_argument("--database-url", help="PostgreSQL the linter connects to (default: TEST_DATABASE_URL)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with Django, the app and the linter")
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of markdown")
    args = parser.parse_args(argv)
    try:
        results = check(
            args.app_dir, args.base, database_url=args.database_url, settings_module=args.settings, python=args.python
        )
    except MigrationCheckError as error:
        print(f"migration check: {error}", file=sys.stderr)
        return 2
    markdown = render_markdown(results, args.base)
    if args.output:
        args.output.write_text(markdown, encoding="utf-8")
    if args.json:
        print(json.dumps([{**vars(r), "issues": [vars(i) for i in r.issues]} for r in results], indent=2))
    else:
        print(markdown, end="")
    return 1 if any(r.status == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
