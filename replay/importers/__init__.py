"""Importers from formats people already record; one module per format."""

from __future__ import annotations

FORMATS: dict[str, str] = {}


def run_import(fmt: str, src: str, out: str, options: dict) -> None:
    raise NotImplementedError
