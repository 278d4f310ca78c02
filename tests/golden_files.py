"""Golden files: rendered job scripts pinned in ``tests/golden/`` so changes show as diffs.

Run the tests with ``QXUB_UPDATE_GOLDEN=1`` to rewrite them after an intended change, then read
the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def assert_matches_golden(name: str, text: str) -> None:
    """``text`` equals the golden file ``name`` (rewritten instead when asked to)."""
    path = GOLDEN_DIR / name
    if os.environ.get("QXUB_UPDATE_GOLDEN") == "1":
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert text.encode("utf-8", "surrogateescape") == path.read_bytes(), (
        f"{path.name} differs; rerun with QXUB_UPDATE_GOLDEN=1 and review the diff"
    )
