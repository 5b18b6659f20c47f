"""mappers/ stays pure: it imports nothing of ours but mappers/* (no clients, store, webhooks, workers)."""
from __future__ import annotations

import ast
from pathlib import Path

OURS = {"clients", "store", "webhooks", "workers", "config", "sandbox", "qb24", "bench", "tests"}


def test_mappers_import_only_mappers_and_libraries():
    offenders = []
    for path in (Path(__file__).parents[2] / "mappers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in OURS]
    assert offenders == []
