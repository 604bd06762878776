"""Reference data for the C# port of the demo-model scene analyser and renderer (tests/Diffusion.Evaluation.Tests).

Usage: /usr/bin/python3 make_analyser_fixture.py <train-demo-model dir> <out dir> [model sample PNG ...]

Runs the demo trainer's own scenes.py / analyser.py (from the given folder) and writes into <out dir>:
  renders.json  scenes drawn by scenes.render with their parameters and the SHA-256 of the uint8 pixels
                (the C# renderer must reproduce them byte for byte);
  readings.json analyser.analyse readings (attributes, fill, measured background median, foreground pixel count)
                of the PNGs in images/: noisy and stray-pixel versions of ground-truth scenes, edge cases, and any
                model sample PNGs given on the command line (real generated images, copied in; the committed ones are
                demo-model images from DemoModelEvaluation --samples: DDIM at 64 and 128, and the SD-factor control).
Deterministic: numpy default_rng(20261125).
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np
from PIL import Image


def main():
    tool_dir, out = sys.argv[1], sys.argv[2]
    samples = sys.argv[3:]
    sys.path.insert(0, tool_dir)
    import analyser  # noqa: E402 (the trainer's module)
    import scenes  # noqa: E402

    rng = np.random.default_rng(20261125)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)

    # Renders: every shape/colour/background, jittered as scenes.scene does, plus fractional centres and extents.
    renders = []
    combos = scenes.all_combinations()
    for i, (shape, fg, bg) in enumerate(combos):
        size = list(scenes.SIZES)[i % 2]
        position = scenes.POSITIONS[i % len(scenes.POSITIONS)]
        extent = scenes.SIZES[size] + int(rng.integers(-2, 3))
        cx, cy = scenes.nominal_centre(size, position)
        cx += int(rng.integers(-2, 3))
        cy += int(rng.integers(-2, 3))
        if i % 7 == 0:  # off-grid geometry exercises the supersampling edges
            cx += 0.37
            cy -= 0.81
            extent += 0.5
        img = scenes.render(shape, fg, bg, cx, cy, extent)
        renders.append({"shape": shape, "foreground": fg, "background": bg, "cx": cx, "cy": cy, "extent": extent,
                        "sha256": hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()})

    # Images for the analyser.
    images = []

    def add(name, img):
        Image.fromarray(img).save(os.path.join(out, "images", name))
        images.append(name)

    for i in range(8):
        shape, fg, bg = combos[int(rng.integers(len(combos)))]
        size = list(scenes.SIZES)[i % 2]
        position = scenes.POSITIONS[i % len(scenes.POSITIONS)]
        img, _, _ = scenes.scene(rng, shape, fg, bg, size, position)
        noisy = np.clip(img.astype(np.float64) + rng.normal(0, 12 + 4 * i, img.shape), 0, 255).round().astype(np.uint8)
        if i < 5:  # noise does not compress: five are enough
            add(f"noisy-{i}.png", noisy)
        stray = img.copy()
        for _ in range(6):  # single stray pixels: rows/columns with one pixel must not widen the box
            y, x = int(rng.integers(64)), int(rng.integers(64))
            stray[y, x] = scenes.FOREGROUND_COLOURS[fg]
        add(f"stray-{i}.png", stray)
    blank = np.full((64, 64, 3), 128, np.uint8)
    add("edge-blank.png", blank)
    few = blank.copy()
    few[10, 10:29] = (230, 30, 30)  # 19 pixels: below the 20-pixel minimum
    add("edge-19-pixels.png", few)
    line = blank.copy()
    line[30, 5:45] = (230, 30, 30)  # 40 pixels in one row: a shape, but no column holds 2 pixels
    add("edge-one-row.png", line)
    even = blank.copy()
    even[20:30, 20:30] = (230, 30, 30)
    even[20:30, 30:40] = (150, 40, 200)  # even count, two colours: median is the mean of the two middle values
    add("edge-two-colours.png", even)
    border = np.full((64, 64, 3), 240, np.uint8)
    border[0, :32] = (20, 20, 20)
    border[:, 0] = (20, 20, 20)  # half the border dark: even-count border median
    border[30:50, 30:50] = (30, 70, 230)
    add("edge-mixed-border.png", border)
    for path in samples:
        name = "sample-" + os.path.basename(path)
        shutil.copyfile(path, os.path.join(out, "images", name))
        images.append(name)

    readings = []
    for name in images:
        img = np.asarray(Image.open(os.path.join(out, "images", name)).convert("RGB"))
        got = analyser.analyse(img)
        f = img.astype(np.float64)
        h, w = f.shape[:2]
        border_px = np.concatenate([f[0, :], f[h - 1, :], f[1:h - 1, 0], f[1:h - 1, w - 1]], axis=0)
        bg = np.median(border_px, axis=0)
        count = int((np.sqrt(np.sum((f - bg) ** 2, axis=2)) > analyser.FOREGROUND_DISTANCE).sum())
        readings.append({"file": name, "found": {a: got[a] for a in analyser.ATTRIBUTES}, "fill": got.get("fill"),
                         "background_median": [float(v) for v in bg], "foreground_pixels": count})

    with open(os.path.join(out, "renders.json"), "w") as fh:
        json.dump(renders, fh, indent=1)
    with open(os.path.join(out, "readings.json"), "w") as fh:
        json.dump(readings, fh, indent=1)
    print(f"{len(renders)} renders, {len(readings)} readings -> {out}")


if __name__ == "__main__":
    main()
