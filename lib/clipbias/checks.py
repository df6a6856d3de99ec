"""Argument checks shared by every layer (level 0: imports nothing from clipbias)."""

from __future__ import annotations

import numpy as np


def check_int(value: object, name: str, *, low: int | None = None,
              high: int | None = None, what: str = "") -> int:
    """Return ``value`` as a Python int after checking that it is an integer in ``[low, high]``.

    Accepts Python ints and numpy integers (``np.int64`` ...); rejects bools, floats (even
    ``3.0``) and everything else. ``low`` and ``high`` are inclusive bounds; ``None`` leaves that
    side open. ``what`` is a short hint appended to the message (e.g. "the number of classes").

    Raises:
        ValueError: naming the argument, the allowed range and the value received.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer{_range(low, high, what)}, "
                         f"got {value!r} ({type(value).__name__})")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range(low, high, what)}, got {value!r}")
    return int(value)


def _range(low: int | None, high: int | None, what: str) -> str:
    """The range clause of a :func:`check_int` message."""
    hint = f" ({what})" if what else ""
    if low is not None and high is not None:
        return f" in [{low}, {high}]{hint}"
    if low is not None:
        return {0: " >= 0 (non-negative)", 1: " >= 1 (positive)"}.get(low, f" >= {low}") + hint
    if high is not None:
        return f" <= {high}{hint}"
    return hint
