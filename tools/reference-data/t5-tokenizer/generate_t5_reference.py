#!/usr/bin/python3
"""Reference ids for the T5 (SentencePiece unigram) tokenizer: Debian's python3-sentencepiece encoding a prompt list
with the two committed models (train_t5_style_model.py), written to
tests/Diffusion.Core.Tests/TestData/t5-tokenizer/t5_reference.json.

Usage: /usr/bin/python3 generate_t5_reference.py

Prompts: the 357 CLIP reference prompts (accents, CJK, emoji, control characters, HTML references, random mixes)
plus T5-specific ones (whitespace runs and kinds, full-width forms, numbers, the special tokens' text, very long
prompts, the variant model's user-defined symbols).
"""
import json
import os

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "tests", "Diffusion.Core.Tests", "TestData")

EXTRA = [
    "", " ", "   ", "\t\n", "\x07", "a", "  leading spaces", "trailing spaces   ", "many    inner     spaces",
    "tab\tseparated\twords", "new\nline", "ideographic\u3000space", "no\u00a0break\u00a0space", "thin\u2009space",
    "zero\u200bwidth", "ＡＢＣ１２３ full width", "ｶﾀｶﾅ half width", "①②③ circled", "ﬁ ﬂ ligatures", "Ⅻ roman",
    "1234567890", "3.14159265358979", "1,000,000 dollars", "2024-12-05T08:00:00Z", "v1.5 vs v2.1", "100%",
    "</s>", "<pad>", "<unk>", "a cat</s>a dog", "<extra_id_0> fills <extra_id_1>", "<s>", "▁ already escaped ▁▁",
    "<lora> masterpiece, <lora:detail:0.8>", "masterpiecemasterpiece",
    "e\u0301 combining acute", "\u1100\u1161 jamo", "한국어 문장입니다", "日本語の文章です。", "中文句子，标点符号。",
    "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Привет, мир!", "Γειά σου Κόσμε", "שלום עולם",
    "👩‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇺🇸🇯🇵 flags", "🐱🐶🐭", "❤️‍🔥",
    "A photograph of an astronaut riding a horse on Mars, highly detailed, 8k, trending on artstation",
    "a photo of a cat " * 120,
    " ".join(f"word{i}" for i in range(700)),
    "猫" * 600,
    "The quick brown fox jumps over the lazy dog. " * 40,
    "(masterpiece:1.2), [blurry], {best quality}, ((ultra detailed)), <lora:add_detail:0.5> BREAK landscape",
]


def prompts():
    with open(os.path.join(DATA, "tokenizer", "clip_reference.json"), encoding="utf-8") as f:
        clip = [case["prompt"] for case in json.load(f)["cases"]]
    return clip + EXTRA


def main():
    out = {"description": "python3-sentencepiece " + spm.__version__ + " encode() ids of each prompt; see tools/reference-data/t5-tokenizer",
           "models": {}}
    for name in ["spiece", "variant"]:
        model = spm.SentencePieceProcessor(model_file=os.path.join(DATA, "t5-tokenizer", name + ".model"))
        out["models"][name] = [{"prompt": p, "ids": model.encode(p)} for p in prompts()]
    path = os.path.join(DATA, "t5-tokenizer", "t5_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes,", len(prompts()), "prompts per model")


if __name__ == "__main__":
    main()
