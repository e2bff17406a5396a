"""The component package's provider: hosts ``DjangoStack`` for programs in other languages.

``pulumi package add`` reads the schema the component provider host infers from the annotations
of ``DjangoStack`` and ``DjangoStackArgs`` (the SDK's ``pulumi.provider.experimental``), and the
engine asks this process to construct each ``djangostack:index:DjangoStack`` a program declares.

Two ways to run it: the source plugin in ``provider/`` (``PulumiPlugin.yaml``, run by the Python
language host), or the ``pulumi-resource-djangostack`` executable that ``pip install`` puts next to
the package's Python (a plugin directory for any Pulumi CLI: ``packages: {djangostack: <venv>/bin}``).
"""

from importlib import metadata

from pulumi.provider.experimental import component_provider_host

from .stack import DjangoStack

PACKAGE = "djangostack"


def version() -> str:
    """The installed distribution's version (the schema's), ``0.0.0`` when run from a checkout."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def main() -> None:
    component_provider_host([DjangoStack], name=PACKAGE, version=version())


if __name__ == "__main__":
    main()
