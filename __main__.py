"""Pulumi entry point: everything lives in components/ (see components/program.py)."""

from components.program import main

main()
