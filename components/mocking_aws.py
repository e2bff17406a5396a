"""Mock answers for the AWS resources and invokes the program uses (see components/mocking.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ATTRIBUTES: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {}
"""Type token -> output attributes a real AWS resource would have (camelCase)."""

INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Invoke token -> a realistic result."""
