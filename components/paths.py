"""Where the program finds its files, in one place.

Everything is relative to the Pulumi project directory: the directory holding ``Pulumi.yaml``
(``pulumi`` runs the program there; the CLI, the tests and the offline plan run from it or below
it). The package itself needs no repository: an installed ``djangostack`` works in any project.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed package (templates and other package data live below it)."""

ARTIFACTS = Path(".cache") / "artifacts"
"""Release archives built for hosts, relative to the project directory (one folder for every target)."""


SOURCE_CHECKOUT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "Pulumi.yaml").is_file() else None
"""The repository this package runs from, when it runs from its source tree (an editable install)."""


def project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) that holds a
    ``Pulumi.yaml``. Outside any project: the source checkout when the package runs from one, else
    ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return SOURCE_CHECKOUT or here


def stack_file(stack: str, project: Path | None = None) -> Path:
    """A stack name (``prod``) or a path to a stack file -> the stack file's path.

    A name means ``stacks/Pulumi.<name>.yaml`` in the project directory (``stackConfigDir``).
    """
    candidate = Path(stack)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return (project or project_dir()) / "stacks" / f"Pulumi.{stack}.yaml"
