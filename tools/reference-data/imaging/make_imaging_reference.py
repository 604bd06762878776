#!/usr/bin/env python3
"""Reference data for Diffusion.Core.Imaging (ImageTensorConverter, ImageOperations).

Usage: python3 make_imaging_reference.py <core-test-data-folder> <skia-test-data-folder> <shared-folder>

Writes <core-test-data-folder>/imaging-reference.json:
  - "tensor_to_image": float32 inputs and the bytes diffusers' VaeImageProcessor.postprocess produces for them
    (denormalize in torch: (x * 0.5 + 0.5).clamp(0, 1); numpy_to_pil: (x * 255).round().astype("uint8")).
  - "image_to_tensor": the float32 that VaeImageProcessor.preprocess produces for each byte 0..255
    (pil_to_numpy: astype(float32) / 255.0; normalize in torch: 2.0 * x - 1.0).
  - "image_to_unit_tensor": the same without normalize (do_normalize=False, ControlNet images): float32(b) / 255.0.
  - "mask": random RGB pixels and diffusers' mask processor result for them (convert("L"), / 255.0, binarize >= 0.5).
  - "resize": a seeded random 23x17 RGB image resized by Pillow's Image.resize with each filter to several sizes.
  - "cover": the same image through diffusers' _resize_and_crop rule (resize_mode="crop"), with lanczos.
and <skia-test-data-folder>/decode-reference.json:
  - "decode": small encoded files (RGBA/gray/palette PNG, BMP, lossless WebP, JPEGs carrying each EXIF orientation,
    a synthetic 48x48 texture as 4:2:0 and 4:2:2 JPEG)
    and the RGB bytes diffusers' load_image gives for them (ImageOps.exif_transpose, then convert("RGB")),
and <skia-test-data-folder>/photo-resize-reference.json:
  - "photos": SHA-256 of the RGB bytes of ../shared/images photos as Pillow decodes them (convert("RGB")), and of
    Pillow resize / diffusers crop-mode results on them.
The steps above restate diffusers' image_processor.py (commit 58eb52c) in a few lines so no diffusers import is needed.
"""
import base64
import hashlib
import io
import json
import os
import sys

import numpy as np
import torch
import PIL
from PIL import Image, ImageOps

FILTERS = {"Lanczos": Image.LANCZOS, "Bicubic": Image.BICUBIC, "Bilinear": Image.BILINEAR, "Box": Image.BOX}


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def postprocess(values):
    x = torch.from_numpy(values)
    x = (x * 0.5 + 0.5).clamp(0, 1)
    return (x.numpy() * 255).round().astype("uint8")


def resize_and_crop(image, width, height):
    ratio = width / height
    src_ratio = image.width / image.height
    src_w = width if ratio > src_ratio else image.width * height // image.height
    src_h = height if ratio <= src_ratio else image.height * width // image.width
    resized = image.resize((src_w, src_h), resample=Image.LANCZOS)
    res = Image.new("RGB", (width, height))
    res.paste(resized, box=(width // 2 - src_w // 2, height // 2 - src_h // 2))
    return res


def load_image_like_diffusers(encoded):
    image = Image.open(io.BytesIO(encoded))
    image = ImageOps.exif_transpose(image)
    return image.convert("RGB")


def decode_cases(rng):
    cases = []

    def add(name, image, fmt, **save_args):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **save_args)
        encoded = buffer.getvalue()
        expected = load_image_like_diffusers(encoded)
        cases.append({"name": name, "encoded": base64.b64encode(encoded).decode("ascii"), "width": expected.width,
                      "height": expected.height, "pixels": b64(np.asarray(expected))})

    rgba = rng.integers(0, 256, size=(4, 5, 4), dtype=np.uint8)
    rgba[0, :, 3] = 0  # fully transparent row whose colours must survive (alpha is dropped, not composited)
    add("rgba.png", Image.fromarray(rgba, "RGBA"), "PNG")
    add("gray.png", Image.fromarray(rng.integers(0, 256, size=(4, 5), dtype=np.uint8), "L"), "PNG")
    rgb = Image.fromarray(rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8), "RGB")
    add("palette.png", rgb.quantize(colors=7), "PNG")
    add("rgb.bmp", rgb, "BMP")
    add("lossless.webp", rgb, "WEBP", lossless=True)
    # A smooth 6x4 gradient keeps JPEG error small; quality 100 and 4:4:4 avoid chroma upsampling differences.
    yy, xx = np.mgrid[0:4, 0:6]
    smooth = np.stack([xx * 40 + 10, yy * 60 + 20, 200 - xx * 20 - yy * 10], axis=-1).astype(np.uint8)
    smooth_image = Image.fromarray(smooth, "RGB")
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(f"orientation{orientation}.jpg", smooth_image, "JPEG", quality=100, subsampling=0, exif=exif.tobytes())
    # A synthetic 48x48 texture (colour waves + noise; shared photos stay out of the repo) with 4:2:0 and 4:2:2
    # chroma subsampling: decoders must upsample chroma the way libjpeg-turbo does.
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float64)
    waves = np.stack([128 + 100 * np.sin(xx / 3.0 + yy / 7.0), 128 + 90 * np.cos(yy / 2.5 - xx / 9.0),
                      128 + 80 * np.sin((xx + yy) / 4.0)], axis=-1) + rng.normal(0, 12, size=(48, 48, 3))
    texture = Image.fromarray(np.clip(waves, 0, 255).astype(np.uint8), "RGB")
    add("texture-420.jpg", texture, "JPEG", quality=90, subsampling=2)
    add("texture-422.jpg", texture, "JPEG", quality=75, subsampling=1)
    return cases


def main():
    out_dir, skia_dir, shared = sys.argv[1], sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(20261125)

    edge = [-1.0, 1.0, 0.0, -2.0, 2.0, -1e30, 1e30, float("inf"), float("-inf"), float("nan"), -0.0]
    # x whose x*0.5+0.5 times 255 lands exactly on k + 0.5 (ties): x = (2k+1)/255 - 1, plus its float neighbours.
    ties = []
    for k in range(0, 255):
        t = np.float32((2 * k + 1) / 255.0 - 1.0)
        ties += [t, np.nextafter(t, np.float32(-2)), np.nextafter(t, np.float32(2))]
    randoms = rng.uniform(-1.2, 1.2, 2000)
    values = np.array(edge + ties + list(randoms), dtype=np.float32)
    expected = postprocess(values)
    ties_hit = int(np.sum((((values * np.float32(0.5) + np.float32(0.5)) * np.float32(255)) % 1) == 0.5))

    byte_values = np.arange(256, dtype=np.uint8)
    unit = torch.from_numpy(byte_values.astype(np.float32) / 255.0)
    normalized = (2.0 * unit - 1.0).numpy().astype(np.float32)

    mask_rng = np.random.default_rng(128)
    mask_rgb = mask_rng.integers(0, 256, size=(1, 4096, 3), dtype=np.uint8)
    mask_rgb[0, :256] = np.arange(256, dtype=np.uint8)[:, None]  # every gray level
    luma = np.asarray(Image.fromarray(mask_rgb, "RGB").convert("L")).astype(np.float32) / 255.0
    mask = np.where(luma < 0.5, 0.0, 1.0).astype(np.float32)  # binarize: < 0.5 -> 0, >= 0.5 -> 1

    source = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    src_image = Image.fromarray(source, "RGB")
    sizes = [(11, 9), (40, 31), (23, 8), (7, 17), (5, 3), (46, 34), (1, 1)]
    resize = []
    for name, flt in FILTERS.items():
        for (w, h) in sizes:
            resize.append({"filter": name, "width": w, "height": h, "pixels": b64(np.asarray(src_image.resize((w, h), resample=flt)))})
    cover = []
    for (w, h) in [(16, 16), (30, 10), (8, 20), (23, 17), (9, 5)]:
        cover.append({"width": w, "height": h, "pixels": b64(np.asarray(resize_and_crop(src_image, w, h)))})

    photos = []
    for name, jobs in [("astronaut.png", [("Lanczos", 256, 256), ("Bicubic", 300, 200), ("Lanczos", 768, 640)]),
                       ("coffee.png", [("Lanczos", 512, 344), ("Bilinear", 64, 64)])]:
        im = Image.open(os.path.join(shared, "images", name)).convert("RGB")
        photos.append({"file": "images/" + name, "mode": "decode", "filter": "Lanczos", "width": im.width,
                       "height": im.height, "sha256": hashlib.sha256(np.asarray(im).tobytes()).hexdigest()})
        for (flt, w, h) in jobs:
            data = np.asarray(im.resize((w, h), resample=FILTERS[flt])).tobytes()
            photos.append({"file": "images/" + name, "mode": "resize", "filter": flt, "width": w, "height": h,
                           "sha256": hashlib.sha256(data).hexdigest()})
        for (w, h) in [(512, 512), (512, 768)]:
            data = np.asarray(resize_and_crop(im, w, h)).tobytes()
            photos.append({"file": "images/" + name, "mode": "cover", "filter": "Lanczos", "width": w, "height": h,
                           "sha256": hashlib.sha256(data).hexdigest()})

    doc = {
        "generator": "tools/reference-data/imaging/make_imaging_reference.py",
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "pillow": PIL.__version__},
        "tensor_to_image": {"values_f32": b64(values), "expected_u8": b64(expected), "exact_ties": ties_hit},
        "image_to_tensor": {"expected_f32": b64(normalized)},
        "image_to_unit_tensor": {"expected_f32": b64(byte_values.astype(np.float32) / 255.0)},
        "mask": {"width": 4096, "height": 1, "pixels": b64(mask_rgb), "expected_f32": b64(mask.reshape(-1))},
        "source": {"width": 23, "height": 17, "pixels": b64(source)},
        "resize": resize,
        "cover": cover,
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "imaging-reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
    os.makedirs(skia_dir, exist_ok=True)
    with open(os.path.join(skia_dir, "decode-reference.json"), "w") as f:
        json.dump({"generator": doc["generator"], "versions": doc["versions"], "decode": decode_cases(rng)}, f, indent=1)
    with open(os.path.join(skia_dir, "photo-resize-reference.json"), "w") as f:
        json.dump({"generator": doc["generator"], "versions": doc["versions"], "photos": photos}, f, indent=1)
    print("ties hit:", ties_hit, "values:", len(values))


if __name__ == "__main__":
    main()
