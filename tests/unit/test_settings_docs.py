"""The settings reference is generated from the pydantic models and cannot drift from them.

docs/settings.md, the README settings table and the optional-keys block of Pulumi.yaml are
rendered by ``djangostack docs`` from ``components/settings/``; these tests regenerate them in
memory and fail with a diff when a committed file differs, and check that the generator covers
every field of the schema (found here through pydantic's JSON schema, not through the generator).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest
import yaml

from djangostack.cli.main import main
from djangostack.settings.defaults import ENVIRONMENT_DEFAULTS
from djangostack.settings.reference import (
    PULUMI_MARKERS,
    README_MARKERS,
    REFERENCE_PATH,
    generate,
    render_pulumi_block,
    replace_between,
    sections,
    value_text,
)
from djangostack.settings.stack import SECRET_KEYS, StackSettings
from djangostack.settings.web import WebSettings

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "run `.venv/bin/djangostack docs` and commit the result"


def committed() -> dict[str, str]:
    return {name: (REPO / name).read_text(encoding="utf-8") for name in ("README.md", "Pulumi.yaml", REFERENCE_PATH)}


def rows_by_key() -> dict[str, Any]:
    return {row.key: row for section in sections() for row in section.rows}


def test_the_committed_docs_are_what_the_schema_generates() -> None:
    files = committed()
    stale = []
    for name, text in generate(files).items():
        if files[name] != text:
            diff = "".join(
                difflib.unified_diff(files[name].splitlines(True), text.splitlines(True), f"a/{name}", f"b/{name}")
            )
            stale.append(diff)
    assert not stale, f"generated docs are out of date; {REGENERATE}:\n" + "\n".join(stale)


def test_a_changed_field_description_makes_the_docs_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    files = committed()
    field = WebSettings.model_fields["max_upload_mb"]
    monkeypatch.setattr(field, "description", "A description nobody has generated yet.")
    generated = generate(files)
    assert generated["README.md"] == files["README.md"]  # the README names keys, not their meaning
    assert generated[REFERENCE_PATH] != files[REFERENCE_PATH]
    assert "A description nobody has generated yet." in generated[REFERENCE_PATH]


def _schema_keys(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> set[str]:
    """Every property path of a JSON schema node, following $ref, anyOf and the target's oneOf."""
    if "$ref" in node:
        return _schema_keys(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], prefix)
    keys: set[str] = set()
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        if "$ref" in option:
            target = schema["$defs"][option["$ref"].rsplit("/", 1)[-1]]
            kind = target.get("properties", {}).get("kind", {}).get("const")
            keys |= _schema_keys(schema, target, f"{prefix}[{kind}]" if kind and node.get("oneOf") else prefix)
    for name, sub in node.get("properties", {}).items():
        full = f"{prefix}.{name}" if prefix else name
        keys.add(full)
        keys |= _schema_keys(schema, sub, full)
    return keys


def test_every_key_of_the_schema_is_documented_with_a_description() -> None:
    schema = StackSettings.model_json_schema(by_alias=True)
    expected = {key for key in _schema_keys(schema, schema, "") if "." in key}
    rows = rows_by_key()
    assert expected, "the schema walk found nothing"
    assert sorted(expected - set(rows)) == []
    undocumented = sorted(key for key, row in rows.items() if not row.description)
    assert undocumented == [], "add an attribute docstring to each of these fields"
    top = {section.key: section for section in sections()}
    assert {key for key in schema["properties"] if key != "secretsPresent"} <= set(top)
    assert all(section.summary for section in top.values())


def test_environment_defaults_are_shown_per_environment() -> None:
    rows = rows_by_key()
    for env, defaults in ENVIRONMENT_DEFAULTS.items():
        assert f"{env} {value_text(defaults.multi_az)}" in rows["database.multiAz"].default
        assert f"{env} {value_text(defaults.backup_retention_days)}" in rows["database.backupRetentionDays"].default
        assert f"{env} {defaults.aws_db_instance_class}" in rows["target[aws-ec2].dbInstanceClass"].default
        assert f"{env} {defaults.gcp_min_instances}" in rows["target[gcp-cloudrun].minInstances"].default
    assert rows["web.threads"].default == "1"
    assert rows["app.releaseId"].default == "unset"  # optional: derived from the code when unset
    assert "one of sync | gthread | uvicorn" in rows["web.workerClass"].type
    assert ">= 5" in rows["web.timeoutSeconds"].type and "<= 600" in rows["web.timeoutSeconds"].type


def test_secret_keys_are_flagged_secret_everywhere() -> None:
    secret = {section.key for section in sections() if section.secret}
    assert secret == set(SECRET_KEYS)
    block = render_pulumi_block({"djangostack:environment", "djangostack:target", "djangostack:app"})
    for key in SECRET_KEYS:
        line = next(line for line in block.splitlines() if f"djangostack:{key} " in line)
        assert " secret " in line, line
    assert "djangostack:app " not in block  # declared under config:, so not repeated


def test_pulumi_yaml_declares_exactly_the_required_keys_and_stays_valid() -> None:
    text = generate(committed())["Pulumi.yaml"]
    document = yaml.safe_load(text)
    required = {f"djangostack:{s.key}" for s in sections() if s.required}
    assert set(document["config"]) == required
    summaries = {f"djangostack:{s.key}": s.summary for s in sections()}
    for key, declared in document["config"].items():
        assert declared["description"] == summaries[key]
    assert document["name"] == "djangostack"


def test_missing_markers_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"README\.md: markers not found"):
        replace_between("no markers here\n", README_MARKERS, "x", "README.md")
    text = f"a\n{PULUMI_MARKERS.begin}\nold\n{PULUMI_MARKERS.end}\nb\n"
    assert replace_between(text, PULUMI_MARKERS, "new", "Pulumi.yaml") == "a\nnew\nb\n"


def test_the_docs_command_checks_and_rewrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    files = committed()
    stale_readme = files["README.md"].replace("| `web` |", "| `web` | stale |", 1)
    assert stale_readme != files["README.md"]
    (tmp_path / "README.md").write_text(stale_readme, encoding="utf-8")
    (tmp_path / "Pulumi.yaml").write_text(files["Pulumi.yaml"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["docs", "--check"]) == 1
    out = capsys.readouterr()
    assert "-| `web` | stale |" in out.out and "out of date" in out.err
    assert not (tmp_path / REFERENCE_PATH).exists()
    assert main(["docs"]) == 0
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == files["README.md"]
    assert (tmp_path / REFERENCE_PATH).read_text(encoding="utf-8") == files[REFERENCE_PATH]
    assert main(["docs", "--check"]) == 0
