#!/usr/bin/env python3
"""Reference data for Diffusion.Core's A1111 prompt handling (PromptParser, WeightedPromptTokenizer).

Runs AUTOMATIC1111 stable-diffusion-webui's own code, taken from a checkout passed on the command line
(nothing of it is committed here):

  * modules/prompt_parser.py: the part from `re_attention = re.compile` up to `if __name__`
    (re_attention, re_break, parse_prompt_attention; it needs only `re`);
  * modules/sd_hijack_clip.py: `FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line`, run on a stub `self`
    whose tokenizer looks whole words up in CLIP's vocab.json as `word</w>` (every prompt of the chunk cases
    uses only words that are one vocabulary entry, so the stub gives CLIP's ids), with A1111's defaults
    (emphasis "Original", comma_padding_backtrack 20, chunk_length 75) and no textual-inversion embeddings.

usage: /usr/bin/python3 generate_prompt_reference.py <webui checkout> <vocab.json> <out.json>
"""
import json
import re
import sys
import textwrap
import types


def load_section(path, start, end):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    i = source.index(start)
    j = source.index(end, i)
    return source[i:j]


PARSER_CASES = [
    # parse_prompt_attention's docstring examples
    "normal text",
    "an (important) word",
    "(unbalanced",
    "\\(literal\\]",
    "(unnecessary)(parens)",
    "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
    # unbalanced and stray brackets
    "[unbalanced",
    "unbalanced)",
    "stray ] bracket",
    "((a)",
    "(a))",
    "[[a]",
    ")(",
    "((",
    "]]",
    "()",
    "[]",
    "(a[b)c]",
    "([a])",
    "[(a)]",
    "[[a]]",
    "(((a)))",
    "((a:2):3)",
    "(a:1.5]",
    "[a:1.5]",
    "a:1.5)",
    "(:1.5)",
    # weights
    "(a:1.5)",
    "(a: 1.5 )",
    "(a :1.5)",
    "(a:-0.5)",
    "(a:+2)",
    "(a:1.)",
    "(a:.5)",
    "(a:0)",
    "(a:1e3)",
    "(a: 1.5x)",
    "(a:1.1)(b)",
    "(a)(b)",
    "(a)b(c)",
    "[a](b:0.9090909090909091)",
    "(a:\u0661.\u0665)",
    "a:b:c",
    "(a:b:1.2)",
    # escapes
    "a \\ b",
    "a \\\\ b",
    "\\x",
    "a\\",
    "\\(\\)\\[\\]\\\\",
    "(\\(a\\):1.2)",
    "\\\\(a)",
    # BREAK
    "a BREAK b",
    "aBREAK b",
    "a BREAKb",
    "BREAK",
    " BREAK ",
    "a BREAK",
    "BREAK a",
    "a BREAK BREAK b",
    "(a BREAK b)",
    "[x BREAK y] z",
    "(x [BREAK] y)",
    "a\nBREAK\tb",
    "break",
    "a_BREAK b",
    "(a) BREAK (b)",
    "a BREAK(b)",
    "\u00b2BREAK",
    "\u3000BREAK\u3000x",
    "a\x1cBREAK\x1cb",
    "\U0001F600BREAK",
    "\U0001D400BREAK",
    # empty and whitespace
    "",
    "   ",
    # unicode text
    "caf\u00e9 (na\u00efve:1.2)",
]

CHUNK_CASES = [
    "",
    "a cat",
    "a (red:1.5) cat, [blue] dog",
    " ".join(["cat"] * 200),
    " ".join(["cat"] * 75),
    " ".join(["cat"] * 76),
    " ".join(["cat"] * 150),
    " ".join(["cat"] * 151),
    # a comma every 7 words: chunks break after the last comma within 20 tokens of the end
    ", ".join(" ".join(["cat"] * 6) for _ in range(20)),
    # a comma exactly 20 and 21 tokens before the 75th token
    " ".join(["cat"] * 54) + " , " + " ".join(["dog"] * 40),
    " ".join(["cat"] * 53) + " , " + " ".join(["dog"] * 40),
    " ".join(["cat"] * 55) + " , " + " ".join(["dog"] * 40),
    # a comma as the 75th and as the 76th token
    " ".join(["cat"] * 74) + " , dog dog",
    " ".join(["cat"] * 75) + " , dog dog",
    " ".join(["cat"] * 73) + " , dog dog",
    # weighted text split across chunks
    "(" + " ".join(["red"] * 40) + ":1.3) " + ", ".join(["cat dog"] * 30) + " [blue]",
    # BREAK
    "a cat BREAK a dog",
    "BREAK",
    "a BREAK",
    "BREAK a",
    "a BREAK BREAK b",
    "(a BREAK b)",
    " ".join(["cat"] * 75) + " BREAK dog",
    " ".join(["cat"] * 70) + ", dog BREAK dog",
]


class Opts:
    emphasis = "Original"
    comma_padding_backtrack = 20


class PromptChunk:
    def __init__(self):
        self.tokens = []
        self.multipliers = []
        self.fixes = []


class NoEmbeddings:
    def find_embedding_at_position(self, tokens, offset):
        return None, None


def main():
    webui, vocab_path, out_path = sys.argv[1:4]
    parser_ns = {"re": re}
    exec(load_section(f"{webui}/modules/prompt_parser.py", "re_attention = re.compile", "if __name__"), parser_ns)
    parse = parser_ns["parse_prompt_attention"]

    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)

    tokenize_line_source = textwrap.dedent(load_section(f"{webui}/modules/sd_hijack_clip.py", "    def tokenize_line(self, line):", "    def process_texts"))
    prompt_parser = types.SimpleNamespace(parse_prompt_attention=parse)
    hijack_ns = {"opts": Opts, "prompt_parser": prompt_parser, "PromptChunk": PromptChunk, "PromptChunkFix": None}
    exec(tokenize_line_source, hijack_ns)

    word_pattern = re.compile(r"[a-z]+|[0-9]|[^\sa-z0-9]+")

    def tokenize(texts):
        out = []
        for text in texts:
            ids = []
            for word in word_pattern.findall(text.lower()):
                ids.append(vocab[word + "</w>"])
            out.append(ids)
        return out

    embedder = types.SimpleNamespace(
        chunk_length=75,
        comma_token=vocab[",</w>"],
        id_start=vocab["<|startoftext|>"],
        id_end=vocab["<|endoftext|>"],
        tokenize=tokenize,
        hijack=types.SimpleNamespace(embedding_db=NoEmbeddings()),
    )

    parser_out = [{"prompt": p, "fragments": [[t, float(w)] for t, w in parse(p)]} for p in PARSER_CASES]
    chunk_out = []
    for p in CHUNK_CASES:
        chunks, token_count = hijack_ns["tokenize_line"](embedder, p)
        chunk_out.append({
            "prompt": p,
            "token_count": token_count,
            "tokens": [c.tokens for c in chunks],
            "multipliers": [[float(m) for m in c.multipliers] for c in chunks],
        })

    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({
            "source": "AUTOMATIC1111/stable-diffusion-webui modules/prompt_parser.py parse_prompt_attention and "
                      "modules/sd_hijack_clip.py tokenize_line (emphasis Original, comma_padding_backtrack 20)",
            "parse": parser_out,
            "chunks": chunk_out,
        }, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
