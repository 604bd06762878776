#!/usr/bin/python3
"""Trains the small T5-style SentencePiece unigram model the T5 tokenizer tests use, with Debian's
python3-sentencepiece, and writes it to tests/Diffusion.Core.Tests/TestData/t5-tokenizer/spiece.model.

Usage: /usr/bin/python3 train_t5_style_model.py [output-dir]

T5's own spiece.model (google/t5-v1_1-xxl, the tokenizer_2/ of FLUX.1 and tokenizer_3/ of SD3) is a unigram model
with nmt_nfkc normalization, a dummy prefix, extra whitespace removed, <pad>=0, </s>=1, <unk>=2, no <s>, and no
byte fallback; the same settings are used here with a 1,000-piece vocabulary. The training text is the CLIP
reference prompts committed in this repository (accents, CJK, emoji, control characters) plus the licence texts
Debian ships in /usr/share/common-licenses (plain English), so every script the test prompts use has pieces, and
characters outside them map to <unk> as in T5.
"""
import json
import os
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "Diffusion.Core.Tests", "TestData", "t5-tokenizer")


def corpus_lines():
    with open(os.path.join(ROOT, "tests", "Diffusion.Core.Tests", "TestData", "tokenizer", "clip_reference.json"), encoding="utf-8") as f:
        prompts = [case["prompt"] for case in json.load(f)["cases"]]
    lines = []
    for prompt in prompts:
        lines.extend(line for line in prompt.splitlines() if line.strip())
    for name in ["Apache-2.0", "GPL-3", "LGPL-2.1", "MPL-2.0"]:
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines.extend(line.strip() for line in f if line.strip())
    return lines


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    corpus = os.path.join(OUT_DIR, "corpus.tmp")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus_lines()) + "\n")
    try:
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(OUT_DIR, "spiece"), model_type="unigram", vocab_size=1000,
            hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name="nmt_nfkc",
            add_dummy_prefix=True, remove_extra_whitespaces=True, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", byte_fallback=False,
            num_threads=1, seed_sentencepiece_size=100000, shuffle_input_sentence=False,
            max_sentence_length=100000, minloglevel=1)
        # A second, small model for the code paths T5 does not take: identity normalization (no charsmap), byte
        # fallback, user-defined symbols, no dummy prefix, whitespace kept.
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(OUT_DIR, "variant"), model_type="unigram", vocab_size=600,
            hard_vocab_limit=False, character_coverage=0.98, normalization_rule_name="identity",
            add_dummy_prefix=False, remove_extra_whitespaces=False, byte_fallback=True,
            user_defined_symbols=["<lora>", "masterpiece", "▁▁"], pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            num_threads=1, seed_sentencepiece_size=100000, shuffle_input_sentence=False,
            max_sentence_length=100000, minloglevel=1)
    finally:
        os.remove(corpus)
    for name in ["spiece", "variant"]:
        os.remove(os.path.join(OUT_DIR, name + ".vocab"))
        print(os.path.join(OUT_DIR, name + ".model"), os.path.getsize(os.path.join(OUT_DIR, name + ".model")), "bytes")


if __name__ == "__main__":
    main()
