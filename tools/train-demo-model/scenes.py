"""Synthetic captioned scenes: one filled shape on a flat background, 64x64 RGB.

Everything here is deterministic given a numpy Generator; the palettes and geometry are the
single source of truth for the trainer, the analyser and ANALYSER.md.
"""
import itertools

import numpy as np

IMAGE_SIZE = 64

SHAPES = ["circle", "square", "triangle"]

# Foreground palette (sRGB 0..255). Chosen so every pair is >= ~80 apart (Euclidean RGB).
FOREGROUND_COLOURS = {
    "red": (230, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (240, 230, 40),
    "purple": (150, 40, 200),
    "orange": (250, 130, 0),
}

# Background palette. "blue" is the same colour as the foreground blue; blue-on-blue is never drawn.
BACKGROUND_COLOURS = {
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
    "blue": (30, 70, 230),
}

# Nominal extent (bounding-box side in pixels) of each size; a scene jitters it by -2..+2.
SIZES = {"small": 22, "large": 38}

POSITIONS = ["top left", "top right", "bottom left", "bottom right", "center"]

# Gap between the image edge and the nominal bounding box of a shape in a corner position.
CORNER_MARGIN = 3
# Maximum jitter (pixels, each axis) of the shape centre and of the extent.
JITTER = 2

# (shape, foreground, background) combinations never shown in training: each attribute value still
# occurs in training in other combinations, so these measure compositional generalisation.
HELD_OUT = [
    ("circle", "red", "gray"),
    ("square", "green", "black"),
    ("triangle", "yellow", "blue"),
    ("circle", "purple", "white"),
    ("square", "orange", "blue"),
    ("triangle", "blue", "gray"),
]


def all_combinations():
    """Every drawable (shape, foreground, background) combination (foreground != background)."""
    return [
        (s, f, b)
        for s, f, b in itertools.product(SHAPES, FOREGROUND_COLOURS, BACKGROUND_COLOURS)
        if FOREGROUND_COLOURS[f] != BACKGROUND_COLOURS[b]
    ]


def training_combinations():
    held = set(HELD_OUT)
    return [c for c in all_combinations() if c not in held]


def caption(shape, fg, bg, size, position):
    return f"a {size} {fg} {shape} on a {bg} background, {position}"


def nominal_centre(size, position):
    """Centre (x, y) in pixel units (pixel i spans [i, i+1]) of the nominal bounding box."""
    s = SIZES[size]
    near = CORNER_MARGIN + s / 2.0
    far = IMAGE_SIZE - CORNER_MARGIN - s / 2.0
    mid = IMAGE_SIZE / 2.0
    if position == "center":
        return mid, mid
    x = near if "left" in position else far
    y = near if "top" in position else far
    return x, y


_SUPERSAMPLE = 4
_sub = (np.arange(IMAGE_SIZE * _SUPERSAMPLE, dtype=np.float64) + 0.5) / _SUPERSAMPLE
_SUB_X, _SUB_Y = np.meshgrid(_sub, _sub)  # [y, x]


def coverage(shape, cx, cy, extent):
    """Fraction of each pixel covered by the shape (4x4 supersampling), float64 [64, 64]."""
    h = extent / 2.0
    x, y = _SUB_X, _SUB_Y
    if shape == "circle":
        m = (x - cx) ** 2 + (y - cy) ** 2 <= h * h
    elif shape == "square":
        m = (np.abs(x - cx) <= h) & (np.abs(y - cy) <= h)
    elif shape == "triangle":
        # Isosceles, apex up: apex at (cx, cy - h), base from (cx - h, cy + h) to (cx + h, cy + h).
        top = cy - h
        m = (y >= top) & (y <= cy + h) & (np.abs(x - cx) <= (y - top) / 2.0)
    else:
        raise ValueError(shape)
    k = _SUPERSAMPLE
    return m.reshape(IMAGE_SIZE, k, IMAGE_SIZE, k).mean(axis=(1, 3))


def render(shape, fg, bg, cx, cy, extent):
    """uint8 [64, 64, 3] image."""
    c = coverage(shape, cx, cy, extent)[..., None]
    f = np.array(FOREGROUND_COLOURS[fg], dtype=np.float64)
    b = np.array(BACKGROUND_COLOURS[bg], dtype=np.float64)
    img = b * (1.0 - c) + f * c
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def random_scene(rng, combos):
    """Draws one scene; returns (image uint8 [64,64,3], caption, attributes dict)."""
    shape, fg, bg = combos[rng.integers(len(combos))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    position = POSITIONS[rng.integers(len(POSITIONS))]
    return scene(rng, shape, fg, bg, size, position)


def scene(rng, shape, fg, bg, size, position):
    extent = SIZES[size] + int(rng.integers(-JITTER, JITTER + 1))
    cx, cy = nominal_centre(size, position)
    cx += int(rng.integers(-JITTER, JITTER + 1))
    cy += int(rng.integers(-JITTER, JITTER + 1))
    # Keep the shape at least one pixel inside the image.
    lo, hi = extent / 2.0 + 1, IMAGE_SIZE - extent / 2.0 - 1
    cx, cy = min(max(cx, lo), hi), min(max(cy, lo), hi)
    attrs = {"shape": shape, "foreground": fg, "background": bg, "size": size, "position": position}
    return render(shape, fg, bg, cx, cy, extent), caption(shape, fg, bg, size, position), attrs


def make_pool(seed, count, combos):
    rng = np.random.default_rng(seed)
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    captions = []
    for i in range(count):
        img, cap, _ = random_scene(rng, combos)
        images[i] = img
        captions.append(cap)
    return images, captions


def caption_words():
    """Every word the captions use (for the tokenizer's merges)."""
    words = {"a", "on", "background", ","}
    words.update(SHAPES, FOREGROUND_COLOURS, BACKGROUND_COLOURS, SIZES)
    for p in POSITIONS:
        words.update(p.split())
    return sorted(words)
