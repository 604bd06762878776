"""PNG files whose text chunks Pillow wrote, the way AUTOMATIC1111 writes its `parameters` chunk (PngInfo.add_text),
for Diffusion.Imaging.Skia's PngTextChunk reader. Deterministic; run with Debian's python3 (python3-pil):

    /usr/bin/python3 generate_png_text.py ../../../tests/Diffusion.Imaging.Skia.Tests/TestData/png-text
"""
import json
import sys
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

LATIN1 = ("a photo of a café, (masterpiece:1.2)\nNegative prompt: blurry, lowres\n"
          "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 64x48, Model hash: 6ce0161689, "
          "Model: v1-5-pruned-emaonly, Lora hashes: \"detail: 1a2b3c4d5e6f, style: 0f0e0d0c0b0a\", Version: v1.10.1")
UNICODE = "富士山の油絵, 夕焼け <lora:ukiyoe:0.8>\nNegative prompt: 低品質\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 7, Size: 32x32"

def save(path, chunks):
    image = Image.new("RGB", (8, 6), (200, 30, 60))
    info = PngInfo()
    for kind, key, text in chunks:
        if kind == "text":
            info.add_text(key, text)               # tEXt when Latin-1, else iTXt (as A1111 calls it)
        elif kind == "ztext":
            info.add_text(key, text, zip=True)     # zTXt / compressed iTXt
        elif kind == "itxt":
            info.add_itxt(key, text, lang="", tkey="", zip=False)
    image.save(path, pnginfo=info)

def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cases = {
        "text-latin1.png": [("text", "parameters", LATIN1)],
        "text-unicode.png": [("text", "parameters", UNICODE)],
        "ztxt-latin1.png": [("ztext", "Comment", "first"), ("ztext", "parameters", LATIN1)],
        "itxt-compressed.png": [("ztext", "parameters", UNICODE)],
        "no-parameters.png": [("text", "Software", "Pillow")],
    }
    expected = {}
    for name, chunks in cases.items():
        save(out / name, chunks)
        found = [text for _, key, text in chunks if key == "parameters"]
        expected[name] = found[0] if found else None
        # Pillow reads back what it wrote (the reference for the C# reader).
        assert Image.open(out / name).text.get("parameters") == expected[name]
    (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")

if __name__ == "__main__":
    main(sys.argv[1])
