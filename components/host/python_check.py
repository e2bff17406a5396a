"""Refuse a Python the app cannot run on, before its venv is built and before the switch.

The release script runs this file's source with the app's interpreter (``python -I - <source dir>
<hint>``), so it is standard library only and runs on every Python a host can have (3.9 and newer). It
reads what the app says about Python, without importing or building anything:

- ``requires-python`` in pyproject.toml (``[project]``) and in uv.lock;
- ``python = "^3.12"`` under ``[tool.poetry.dependencies]``;
- the Django version: the locked one (uv.lock, poetry.lock) or the lowest one requirements.txt
  allows, against the oldest Python that Django series supports.

It prints one line and exits 1 when the interpreter does not fit, else prints what it checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DJANGO_MIN_PYTHON: dict[tuple[int, int], tuple[int, int]] = {
    (3, 2): (3, 6),
    (4, 0): (3, 8),
    (4, 1): (3, 8),
    (4, 2): (3, 8),
    (5, 0): (3, 10),
    (5, 1): (3, 10),
    (5, 2): (3, 10),
    (6, 0): (3, 12),
}
"""Oldest Python of each Django series (Django's "What Python version can I use" FAQ)."""

_CLAUSE = re.compile(r"^(~=|===|==|!=|<=|>=|<|>|\^|~)?\s*v?([0-9]+(?:\.[0-9]+)*)(\.\*)?$")
_VERSION = tuple[int, ...]


def version_tuple(text: str) -> _VERSION:
    """``3.12.1`` -> (3, 12, 1); stops at the first part that is not a number (``3.13.0rc1``)."""
    parts: list[int] = []
    for part in text.split("."):
        digits = re.match(r"[0-9]+", part)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(parts)


def _pad(version: _VERSION, length: int) -> _VERSION:
    return version + (0,) * (length - len(version))


def _compare(left: _VERSION, right: _VERSION) -> int:
    length = max(len(left), len(right))
    a, b = _pad(left, length), _pad(right, length)
    return (a > b) - (a < b)


def satisfies(version: _VERSION, spec: str) -> bool:
    """Whether ``version`` meets a PEP 440 specifier set (or Poetry's ``^``/``~``).

    A clause this function does not understand is ignored, so an odd spec never blocks a release.
    """
    for raw in spec.split(","):
        clause = raw.strip()
        if not clause:
            continue
        match = _CLAUSE.match(clause)
        if not match:
            continue
        op, text, star = match.group(1) or "==", match.group(2), match.group(3)
        wanted = version_tuple(text)
        if op in ("==", "===", "!=") and star:
            prefix = version[: len(wanted)] == _pad(wanted, len(wanted))
            if prefix != (op != "!="):
                return False
            continue
        cmp = _compare(version, wanted)
        if op == "^":  # Poetry: >=X.Y, < next major (or next minor for 0.x)
            upper = (wanted[0] + 1,) if wanted[0] > 0 else (0, wanted[1] + 1 if len(wanted) > 1 else 1)
            ok = cmp >= 0 and _compare(version, upper) < 0
        elif op == "~":  # Poetry: >=X.Y, < X.(Y+1)
            upper = (wanted[0], wanted[1] + 1) if len(wanted) > 1 else (wanted[0] + 1,)
            ok = cmp >= 0 and _compare(version, upper) < 0
        elif op == "~=":
            ok = cmp >= 0 and version[: len(wanted) - 1] == wanted[: len(wanted) - 1]
        else:
            ok = {
                "==": cmp == 0,
                "===": cmp == 0,
                "!=": cmp != 0,
                "<=": cmp <= 0,
                ">=": cmp >= 0,
                "<": cmp < 0,
                ">": cmp > 0,
            }[op]
        if not ok:
            return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _toml_section(text: str, name: str) -> str:
    """The body of ``[name]`` (up to the next table header), or ''."""
    match = re.search(r"^\[" + re.escape(name) + r"\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def _string_value(section: str, key: str) -> str | None:
    match = re.search(r"^\s*" + re.escape(key) + r"\s*=\s*[\"']([^\"']*)[\"']", section, re.M)
    return match.group(1) if match else None


def python_specs(source: Path) -> list[tuple[str, str]]:
    """(where, specifier) pairs the app states about its Python."""
    found: list[tuple[str, str]] = []
    pyproject = _read(source / "pyproject.toml")
    spec = _string_value(_toml_section(pyproject, "project"), "requires-python")
    if spec:
        found.append(("pyproject.toml requires-python", spec))
    spec = _string_value(_toml_section(pyproject, "tool.poetry.dependencies"), "python")
    if spec:
        found.append(("pyproject.toml [tool.poetry.dependencies] python", spec))
    uv_lock = _read(source / "uv.lock")
    spec = _string_value(uv_lock.split("[[package]]", 1)[0], "requires-python")
    if spec:
        found.append(("uv.lock requires-python", spec))
    return found


def _locked_version(lock: str, package: str) -> str | None:
    pattern = r"^\[\[package\]\]\s*\nname\s*=\s*\"" + re.escape(package) + r"\"\s*\nversion\s*=\s*\"([^\"]+)\""
    match = re.search(pattern, lock, re.M | re.I)
    return match.group(1) if match else None


def _requirement_floor(text: str, package: str) -> tuple[str, str] | None:
    """The lowest version a requirements file allows for ``package`` (its ``==``, ``~=``, ``>=``)."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(re.escape(package) + r"(?:\[[^\]]*\])?\s*(.*)$", line, re.I)
        if not match or (match.group(1)[:1].isalnum() or match.group(1)[:1] in "-_."):
            continue
        spec = match.group(1).split(";", 1)[0]
        for clause in spec.split(","):
            clause_match = _CLAUSE.match(clause.strip())
            if clause_match and (clause_match.group(1) or "") in ("==", "===", "~=", ">=", ">"):
                return clause_match.group(2), line
    return None


def django_requirement(source: Path) -> tuple[str, str] | None:
    """(Django version, where it comes from): the locked version, else requirements.txt's floor."""
    for name in ("uv.lock", "poetry.lock"):
        version = _locked_version(_read(source / name), "django")
        if version:
            return version, f"{name} locks Django {version}"
    floor = _requirement_floor(_read(source / "requirements.txt"), "django")
    if floor:
        return floor[0], f"requirements.txt asks for {floor[1]}"
    return None


def django_min_python(version: str) -> tuple[int, int] | None:
    wanted = _pad(version_tuple(version), 2)[:2]
    known = [series for series in DJANGO_MIN_PYTHON if series <= wanted]
    return DJANGO_MIN_PYTHON[max(known)] if known else None


def problems(source: Path, python: _VERSION) -> list[str]:
    """Why ``python`` cannot run the app in ``source`` (empty when it can)."""
    found = []
    shown = ".".join(map(str, python))
    for where, spec in python_specs(source):
        if not satisfies(python, spec):
            found.append(f"{where} is {spec!r}")
    django = django_requirement(source)
    if django:
        minimum = django_min_python(django[0])
        if minimum and python[:2] < minimum:
            found.append(f"{django[1]}, which needs Python {minimum[0]}.{minimum[1]} or newer (not {shown})")
    return found


def main(argv: list[str]) -> int:
    source = Path(argv[1])
    hint = argv[2] if len(argv) > 2 else ""
    python = tuple(sys.version_info[:3])
    shown = ".".join(map(str, python))
    found = problems(source, python)
    if found:
        print(f"Python {shown} ({sys.executable}) cannot run this app: {'; '.join(found)}. {hint}".rstrip())
        return 1
    print(f"Python {shown} ({sys.executable}) fits the app's requirements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
