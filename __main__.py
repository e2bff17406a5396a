"""Pulumi entry point: the program is the `djangostack` package (source in components/, see
components/stack.py), installed into the project's .venv by `pip install -e .`."""

try:
    from djangostack.stack import main
except ModuleNotFoundError as exc:  # pragma: no cover - a venv built from requirements.txt alone
    if exc.name != "djangostack":
        raise
    raise SystemExit(
        "djangostack is not installed in the project's virtualenv; run `.venv/bin/pip install --no-deps -e .` "
        "(scripts/setup.sh does) after `pulumi install`"
    ) from None

main()
