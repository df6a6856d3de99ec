"""Test-wide settings: caches go to a fresh temporary folder, progress bars stay quiet."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config) -> None:
    """Point every clipbias cache at a per-run temporary folder before any test imports run."""
    if "CLIPBIAS_CACHE" not in os.environ:
        os.environ["CLIPBIAS_CACHE"] = tempfile.mkdtemp(prefix="clipbias-test-cache-")
    os.environ.setdefault("CLIPBIAS_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
