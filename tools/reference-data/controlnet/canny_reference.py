#!/usr/bin/python3
"""numpy-only reference of OpenCV's cv2.Canny(image, low, high[, L2gradient]) as the ControlNet canny annotators call it
(A1111 sd-webui-controlnet, controlnet_aux's CannyDetector, the diffusers docs: on the RGB uint8 image, no blur).

Usage: /usr/bin/python3 canny_reference.py <coffee.png> <output dir>
Writes coffee_canny_<low>_<high>_<l1|l2>.bits (np.packbits of the 0/1 edge map, row-major, height 400 x width 600)
and canny_reference.json (thresholds, edge counts, sha256 of the 0/255 map).

The algorithm, as OpenCV's imgproc/src/canny.cpp (apertureSize 3) defines it:
 1. Per channel: 3x3 Sobel dx = [-1 0 1; -2 0 2; -1 0 1], dy its transpose, BORDER_REPLICATE, integers.
 2. Magnitude |dx| + |dy| (L1, the default) or dx^2 + dy^2 (L2, thresholds squared); with several channels each
    pixel keeps the channel of largest magnitude (the first on ties) with its dx, dy.
 3. Thresholds: swapped if low > high; integer low = floor(low), high = floor(high) (squared first for L2).
 4. Non-maximum suppression, magnitudes outside the image being 0, direction from tan 22.5 deg in 15-bit fixed
    point (TG22 = 13573): |dy|<<15 < |dx|*TG22 -> horizontal: m > left and m >= right; |dy|<<15 > |dx|*TG22 + |dx|<<16
    -> vertical: m > up and m >= down; else diagonal with s = -1 if dx, dy have opposite signs else 1:
    m > mag[y-1, x-s] and m > mag[y+1, x+s]. A pixel is a candidate when m > low and it survives.
 5. Hysteresis: candidates with m > high are edges; candidates 8-connected to an edge become edges.
Output: 255 on edges, 0 elsewhere (the annotators then stack it to 3 channels).
"""
import hashlib
import json
import os
import struct
import sys
import zlib

import numpy as np


def read_png(path):
    """Minimal PNG reader: 8-bit RGB or RGBA, non-interlaced (what shared/images holds)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    stride = width * channels
    out = np.zeros((height, stride), dtype=np.int32)
    for y in range(height):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y > 0 else np.zeros(stride, dtype=np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        if f == 0:
            cur = row
        elif f == 2:
            cur = (row + prev) & 255
        else:
            for x in range(stride):
                left = cur[x - channels] if x >= channels else 0
                if f == 1:
                    cur[x] = (row[x] + left) & 255
                elif f == 3:
                    cur[x] = (row[x] + ((left + prev[x]) >> 1)) & 255
                else:
                    up_left = prev[x - channels] if x >= channels else 0
                    p = left + prev[x] - up_left
                    pa, pb, pc = abs(p - left), abs(p - prev[x]), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else (prev[x] if pb <= pc else up_left)
                    cur[x] = (row[x] + pred) & 255
        out[y] = cur
    return out.reshape(height, width, channels)[:, :, :3].astype(np.uint8)


def canny(image, low, high, l2=False):
    img = image.astype(np.int64)
    h, w, _ = img.shape
    p = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    dx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    dy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = dx * dx + dy * dy if l2 else np.abs(dx) + np.abs(dy)
    best = np.argmax(mag, axis=2)  # first maximum on ties, as OpenCV's strict '>' scan
    rows, cols = np.indices((h, w))
    dx, dy, mag = dx[rows, cols, best], dy[rows, cols, best], mag[rows, cols, best]

    if low > high:
        low, high = high, low
    if l2:
        low = min(32767.0, low)
        high = min(32767.0, high)
        low = low * low if low > 0 else low
        high = high * high if high > 0 else high
    low, high = int(np.floor(low)), int(np.floor(high))

    m = np.pad(mag, 1)  # zeros outside the image
    c = m[1:-1, 1:-1]
    ax, ay = np.abs(dx), np.abs(dy) << 15
    tg22x = ax * 13573
    tg67x = tg22x + (ax << 16)
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg67x)
    diagonal = ~horizontal & ~vertical
    s = np.where((dx ^ dy) < 0, -1, 1)
    keep_h = (c > m[1:-1, :-2]) & (c >= m[1:-1, 2:])
    keep_v = (c > m[:-2, 1:-1]) & (c >= m[2:, 1:-1])
    up_minus = m[:-2, :-2]  # mag[y-1, x-1]
    up_plus = m[:-2, 2:]    # mag[y-1, x+1]
    down_minus = m[2:, :-2]
    down_plus = m[2:, 2:]
    keep_d = np.where(s < 0, (c > up_plus) & (c > down_minus), (c > up_minus) & (c > down_plus))
    candidate = (c > low) & ((horizontal & keep_h) | (vertical & keep_v) | (diagonal & keep_d))
    edges = candidate & (c > high)

    stack = list(zip(*np.nonzero(edges)))
    while stack:
        y, x = stack.pop()
        for ny in (y - 1, y, y + 1):
            for nx in (x - 1, x, x + 1):
                if 0 <= ny < h and 0 <= nx < w and candidate[ny, nx] and not edges[ny, nx]:
                    edges[ny, nx] = True
                    stack.append((ny, nx))
    return np.where(edges, 255, 0).astype(np.uint8)


def main():
    image = read_png(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    cases = []
    for low, high, l2 in [(100, 200, False), (50, 150, False), (100, 200, True)]:
        edges = canny(image, low, high, l2)
        name = f"coffee_canny_{low}_{high}_{'l2' if l2 else 'l1'}.bits"
        np.packbits(edges.reshape(-1) > 0).tofile(os.path.join(out, name))
        cases.append({"file": name, "low": low, "high": high, "l2_gradient": l2, "height": int(edges.shape[0]),
                      "width": int(edges.shape[1]), "edge_pixels": int((edges > 0).sum()),
                      "sha256_of_0_255_map": hashlib.sha256(edges.tobytes()).hexdigest()})
        print(name, cases[-1]["edge_pixels"])
    with open(os.path.join(out, "canny_reference.json"), "w") as f:
        json.dump({"image": "shared/images/coffee.png (600x400 RGB)", "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
