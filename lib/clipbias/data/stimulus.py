"""Shared shapes of stimuli: a named set of texts or images, and one embedding association test.

The real battery (:mod:`clipbias.data.battery`) and the synthetic one
(:mod:`clipbias.data.synthetic`) both produce these objects, so the studies treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ORDERS", "EATSpec", "StimulusSet"]

Modality = Literal["text", "image"]
#: Modality orders of the battery: targets' modality, then attributes' modality.
ORDERS: tuple[str, ...] = ("image-image", "text-text", "image-text", "text-image")


@dataclass(frozen=True)
class StimulusSet:
    """A named set of stimuli of one modality.

    ``items`` are the texts (modality ``"text"``) or image paths, absolute or relative to
    ``root`` (modality ``"image"``).
    """

    name: str
    modality: Modality
    items: tuple[str, ...]
    source: str = ""
    licence: str = ""
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.modality not in ("text", "image"):
            raise ValueError(f"stimulus set {self.name!r}: modality must be 'text' or 'image', "
                             f"got {self.modality!r}")
        if not self.items:
            raise ValueError(f"stimulus set {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.items)

    def paths(self) -> list[Path]:
        """Absolute image paths (image sets only)."""
        if self.modality != "image":
            raise ValueError(f"stimulus set {self.name!r} holds texts, not images")
        base = self.root or Path(".")
        return [p if p.is_absolute() else base / p for p in map(Path, self.items)]


@dataclass(frozen=True)
class EATSpec:
    """One embedding association test in one modality order.

    Targets ``x`` and ``y`` against attributes ``a`` and ``b``; by convention a positive effect
    size means ``x`` is closer to ``a`` (the stereotype-congruent direction).
    """

    test: str      # test definition, e.g. "Insect-Flower"
    category: str  # e.g. "Gender", "Race", "Age", "Insect-Flower"
    order: str     # one of ORDERS
    x: StimulusSet
    y: StimulusSet
    a: StimulusSet
    b: StimulusSet

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"EAT {self.test!r}: order must be one of {ORDERS}, got {self.order!r}")
        target_mod, attr_mod = self.order.split("-")
        for role, s, want in (("x", self.x, target_mod), ("y", self.y, target_mod),
                              ("a", self.a, attr_mod), ("b", self.b, attr_mod)):
            if s.modality != want:
                raise ValueError(f"EAT {self.test!r} ({self.order}): {role} set {s.name!r} is "
                                 f"{s.modality}, expected {want}")

    @property
    def name(self) -> str:
        """``"<test>/<order>"``, unique within a battery."""
        return f"{self.test}/{self.order}"
