"""Vectorised numpy rendering of synthetic scenes into uint8 RGB arrays.

Geometry is laid out on a 32-unit grid and scaled to ``image_size``. A scene with ``f`` figures
splits the width into ``f`` slots; each figure is a head (group shape), a body (group colour) and
a held object (concept shape and colour) to the body's right. A slot with group ``-1`` draws no
figure (only its object, where the figure would hold it); a slot with concept ``-1``, or whose
``shown`` flag is false, draws no object. Positions and colours jitter per item and are drawn
whether or not a part is painted, so hiding a part changes no other pixel's random draws;
Gaussian pixel noise is added last. Everything is drawn for a whole batch at once with
boolean masks of shape ``(n, H, W)``.
"""

from __future__ import annotations

import numpy as np

from clipbias.data.synthetic.config import WorldConfig

__all__ = ["SHAPES", "render_scenes", "shape_mask"]

#: Object shapes the renderer knows.
SHAPES: tuple[str, ...] = ("circle", "triangle", "square", "plus", "diamond", "ring", "bar",
                           "cross")
_HEADS: tuple[str, ...] = ("circle", "square", "diamond")
_TEXTURES: tuple[str, ...] = ("checker", "horizon", "stripes", "dots")
_CHUNK = 2048  # items rendered at once (bounds the memory of the (n, H, W) masks)


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Bool mask of ``shape`` (an object shape of :data:`SHAPES` or a head shape) of half-size
    ``r`` centred at the origin of the offsets ``dx, dy`` (arrays of one broadcast shape)."""
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        return (ax <= r) & (ay <= r)
    if shape == "diamond":
        return ax + ay <= r * 1.3
    if shape == "triangle":
        return (dy <= r) & (dy >= -r) & (ax <= (dy + r) * 0.55)
    if shape == "plus":
        return ((ax <= r * 0.38) & (ay <= r)) | ((ay <= r * 0.38) & (ax <= r))
    if shape == "cross":
        return (np.abs(dx - dy) <= r * 0.5) & (ax <= r) & (ay <= r) | \
               (np.abs(dx + dy) <= r * 0.5) & (ax <= r) & (ay <= r)
    if shape == "ring":
        d2 = dx**2 + dy**2
        return (d2 <= r**2) & (d2 >= (r * 0.5) ** 2)
    if shape == "bar":
        return (ax <= r * 1.2) & (ay <= r * 0.45)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _paint(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """Set ``canvas[i][mask[i]] = colour[i]`` for every item i (in place)."""
    np.copyto(canvas, colour[:, None, None, :], where=mask[..., None])


def _by_kind(kinds: np.ndarray, names: tuple[str, ...], dx: np.ndarray, dy: np.ndarray,
             r: np.ndarray) -> np.ndarray:
    """Per-item shape masks: item i gets shape ``names[kinds[i]]``."""
    mask = np.zeros(dx.shape, dtype=bool)
    for k in np.unique(kinds):
        rows = kinds == k
        mask[rows] = shape_mask(names[k], dx[rows], dy[rows], r[rows])
    return mask


def _backgrounds(contexts: np.ndarray, config: WorldConfig, rng: np.random.Generator,
                 yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Background canvases ``(n, H, W, 3)`` float32 for the given context ids."""
    n, size = len(contexts), config.image_size
    ctx = config.contexts
    base = np.array([c.colour for c in ctx], dtype=np.float32)[contexts]
    accent = np.array([c.accent for c in ctx], dtype=np.float32)[contexts]
    jitter = rng.normal(0.0, 8.0, size=(n, 3)).astype(np.float32)
    canvas = np.broadcast_to((base + jitter)[:, None, None, :], (n, size, size, 3)).copy()
    unit = size / 32.0
    phase = rng.integers(0, 4, size=(n, 1, 1))
    texture = np.array([_TEXTURES.index(c.texture) for c in ctx])[contexts]
    patterns = {
        "checker": ((xx // (4 * unit)).astype(int) + (yy // (4 * unit)).astype(int) + phase) % 2 == 0,
        "horizon": np.broadcast_to(yy >= size * 0.55 + phase * unit, (n, size, size)),
        "stripes": ((xx // (2 * unit)).astype(int) + phase) % 3 == 0,
        "dots": ((xx + phase * unit) % (6 * unit) < 2 * unit) & ((yy % (6 * unit)) < 2 * unit),
    }
    for k, name in enumerate(_TEXTURES):
        rows = texture == k
        if rows.any():
            mask = np.broadcast_to(patterns[name], (n, size, size))[rows]
            sub = canvas[rows]
            _paint(sub, mask, accent[rows] + jitter[rows])
            canvas[rows] = sub
    return canvas


def _render_chunk(groups: np.ndarray, concepts: np.ndarray, contexts: np.ndarray,
                  shown: np.ndarray, config: WorldConfig, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Render one chunk; returns images ``(n, H, W, 3)`` uint8 and boxes ``(n, f, 4)`` int."""
    n, f = groups.shape
    size = config.image_size
    unit = size / 32.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy, xx = yy[None], xx[None]
    canvas = _backgrounds(contexts, config, rng, yy, xx)
    group_colour = np.array([g.colour for g in config.groups], dtype=np.float32)
    head_kind = np.array([_HEADS.index(g.head) for g in config.groups])
    obj_colour = np.array([c.colour for c in config.concepts], dtype=np.float32)
    obj_kind = np.array([SHAPES.index(c.shape) for c in config.concepts])
    slot = 32.0 / f
    scale = 1.0 if f == 1 else (0.75 if f == 2 else 0.6)
    boxes = np.zeros((n, f, 4), dtype=np.int64)
    for j in range(f):
        s = scale * unit
        cx = (slot * (j + 0.5) - 3.0 * scale + rng.uniform(-1.5, 1.5, n) * scale) * unit
        top = (16.0 - 12.0 * scale + rng.uniform(-2.0, 2.0, n) * scale) * unit
        head_r = np.full(n, 3.2 * s, dtype=np.float32)
        head_cy = top + 3.2 * s
        body_top, body_bottom = head_cy + 4.4 * s, head_cy + 17.0 * s
        half_w = 3.6 * s
        figure = groups[:, j] >= 0
        drawn = shown[:, j] & (concepts[:, j] >= 0)
        g = np.maximum(groups[:, j], 0)
        colour = group_colour[g] + rng.normal(0.0, 10.0, size=(n, 3)).astype(np.float32)
        body = ((np.abs(xx - cx[:, None, None]) <= half_w)
                & (yy >= body_top[:, None, None]) & (yy <= body_bottom[:, None, None]))
        body &= figure[:, None, None]
        _paint(canvas, body, colour)
        head = _by_kind(head_kind[g], _HEADS, xx - cx[:, None, None],
                        yy - head_cy[:, None, None], head_r[:, None, None])
        _paint(canvas, head & figure[:, None, None], colour)
        obj_r = np.full(n, 4.2 * s, dtype=np.float32)
        ox = cx + half_w + obj_r + 0.5 * s
        oy = body_top + 4.5 * s + rng.uniform(-1.0, 1.0, n) * s
        c = np.maximum(concepts[:, j], 0)
        obj = _by_kind(obj_kind[c], SHAPES, xx - ox[:, None, None], yy - oy[:, None, None],
                       obj_r[:, None, None])
        _paint(canvas, obj & drawn[:, None, None],
               obj_colour[c] + rng.normal(0.0, 6.0, size=(n, 3)).astype(np.float32))
        # the box spans what is drawn: figure and object, either alone, or nothing (all zero)
        x0 = np.where(figure, cx - half_w, ox - obj_r * 1.3)
        y0 = np.where(figure, top, oy - obj_r * 1.3)
        x1 = np.where(drawn, ox + obj_r * 1.3, cx + half_w)
        y1 = np.where(figure, body_bottom, oy + obj_r * 1.3)
        box = np.stack([np.floor(x0), np.floor(y0), np.ceil(x1), np.ceil(y1)], axis=1)
        boxes[:, j] = np.where((figure | drawn)[:, None], box, 0)
    if config.pixel_noise > 0:
        canvas += rng.normal(0.0, config.pixel_noise, size=canvas.shape).astype(np.float32)
    np.clip(boxes, 0, size, out=boxes)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), boxes


def render_scenes(groups: np.ndarray, concepts: np.ndarray, contexts: np.ndarray, *,
                  config: WorldConfig, rng: np.random.Generator,
                  shown: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw scenes with the given ground truth.

    ``groups`` and ``concepts`` are int arrays ``(n, f)`` (one column per figure, left to right;
    group ``-1``: no figure in that slot, concept ``-1``: no object), ``contexts`` is ``(n,)``,
    ``shown`` a bool ``(n, f)`` (default all true): whether each object is drawn. Returns
    ``images`` uint8 ``(n, H, W, 3)`` and ``boxes`` int ``(n, f, 4)`` as ``[x0, y0, x1, y1]``
    pixel boxes around what is drawn of each slot (all zero when nothing is). Deterministic given
    ``rng``'s state.
    """
    groups, concepts = np.asarray(groups), np.asarray(concepts)
    contexts = np.asarray(contexts)
    if groups.ndim != 2 or groups.shape != concepts.shape or contexts.shape != groups.shape[:1]:
        raise ValueError(f"groups and concepts must be (n, f) and contexts (n,); got "
                         f"{groups.shape}, {concepts.shape}, {contexts.shape}")
    shown = np.ones(groups.shape, dtype=bool) if shown is None else np.asarray(shown, dtype=bool)
    if shown.shape != groups.shape:
        raise ValueError(f"shown must be (n, f) like groups {groups.shape}, got {shown.shape}")
    if groups.size and (groups.min() < -1 or groups.max() >= config.n_groups):
        raise ValueError(f"group ids must be in [0, {config.n_groups}) or -1 (no figure)")
    if concepts.size and (concepts.min() < -1 or concepts.max() >= config.n_concepts):
        raise ValueError(f"concept ids must be in [0, {config.n_concepts}) or -1 (no object)")
    if contexts.size and (contexts.min() < 0 or contexts.max() >= config.n_contexts):
        raise ValueError(f"context ids must be in [0, {config.n_contexts})")
    n, f = groups.shape
    size = config.image_size
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    boxes = np.empty((n, f, 4), dtype=np.int64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        images[start:stop], boxes[start:stop] = _render_chunk(
            groups[start:stop], concepts[start:stop], contexts[start:stop], shown[start:stop],
            config, rng)
    return images, boxes
