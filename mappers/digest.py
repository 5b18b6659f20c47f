"""A content hash that is the same in every process and run (sorted keys, no hash randomization)."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(value: Any) -> str:
    """sha256 hex of `value` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
