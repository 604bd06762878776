"""Reads the attributes of a generated 64x64 scene back. Rules documented in ANALYSER.md (keep in sync)."""
import numpy as np

from scenes import BACKGROUND_COLOURS, FOREGROUND_COLOURS

# A pixel belongs to the foreground when its Euclidean RGB distance (0..255 units) from the measured
# background colour is larger than this.
FOREGROUND_DISTANCE = 60.0
# Rows/columns with fewer foreground pixels than this are ignored when finding the bounding box.
MIN_LINE_PIXELS = 2
# Fewer foreground pixels than this: no shape found.
MIN_SHAPE_PIXELS = 20
# Fill ratio (foreground pixels inside the bounding box / bounding-box area) thresholds.
SQUARE_MIN_FILL = 0.89
CIRCLE_MIN_FILL = 0.64
# Bounding-box side (max of width and height) at or above which the shape is "large".
LARGE_MIN_EXTENT = 30
# Bounding-box centre within this many pixels of the image centre on both axes: "center".
CENTER_MAX_OFFSET = 5.0


def _nearest(colour, palette):
    best, best_d = None, None
    for name, rgb in palette.items():
        d = float(np.sum((np.asarray(rgb, dtype=np.float64) - colour) ** 2))
        if best_d is None or d < best_d:
            best, best_d = name, d
    return best


def analyse(image):
    """image: uint8 [64, 64, 3] (H, W, RGB). Returns a dict of attributes (None where not found)."""
    img = image.astype(np.float64)
    h, w, _ = img.shape
    border = np.concatenate([img[0, :], img[h - 1, :], img[1:h - 1, 0], img[1:h - 1, w - 1]], axis=0)
    bg_rgb = np.median(border, axis=0)
    result = {"background": _nearest(bg_rgb, BACKGROUND_COLOURS), "foreground": None, "shape": None,
              "size": None, "position": None}
    dist = np.sqrt(np.sum((img - bg_rgb) ** 2, axis=2))
    mask = dist > FOREGROUND_DISTANCE
    if mask.sum() < MIN_SHAPE_PIXELS:
        return result
    result["foreground"] = _nearest(np.median(img[mask], axis=0), FOREGROUND_COLOURS)
    rows = np.nonzero(mask.sum(axis=1) >= MIN_LINE_PIXELS)[0]
    cols = np.nonzero(mask.sum(axis=0) >= MIN_LINE_PIXELS)[0]
    if len(rows) == 0 or len(cols) == 0:
        return result
    y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
    bh, bw = y1 - y0 + 1, x1 - x0 + 1
    fill = mask[y0:y1 + 1, x0:x1 + 1].sum() / float(bh * bw)
    result["fill"] = float(fill)
    if fill >= SQUARE_MIN_FILL:
        result["shape"] = "square"
    elif fill >= CIRCLE_MIN_FILL:
        result["shape"] = "circle"
    else:
        result["shape"] = "triangle"
    result["size"] = "large" if max(bh, bw) >= LARGE_MIN_EXTENT else "small"
    cx, cy = (x0 + x1 + 1) / 2.0, (y0 + y1 + 1) / 2.0
    dx, dy = cx - w / 2.0, cy - h / 2.0
    if abs(dx) <= CENTER_MAX_OFFSET and abs(dy) <= CENTER_MAX_OFFSET:
        result["position"] = "center"
    else:
        result["position"] = ("top" if dy < 0 else "bottom") + " " + ("left" if dx < 0 else "right")
    return result


ATTRIBUTES = ["foreground", "background", "shape", "size", "position"]


def score(images, expected):
    """Per-attribute accuracy of analysed images against expected attribute dicts."""
    hits = {a: 0 for a in ATTRIBUTES}
    found = []
    for img, exp in zip(images, expected):
        got = analyse(img)
        found.append(got)
        for a in ATTRIBUTES:
            hits[a] += int(got[a] == exp[a])
    n = max(len(expected), 1)
    return {a: hits[a] / n for a in ATTRIBUTES}, found
