#!/usr/bin/env python3
"""Reference token ids for the CLIP BPE tokenizer (tests/Diffusion.Core.Tests/TestData/tokenizer/clip_reference.json).

Runs OpenAI CLIP's own `clip/simple_tokenizer.py` (with ftfy, as CLIP and Stable Diffusion use it) over a
list of varied prompts. Neither CLIP's nor ftfy's code is part of this repository: pass the paths of
checkouts (github.com/openai/CLIP, github.com/rspeer/python-ftfy) on the command line.

Usage:
  /usr/bin/python3 generate_clip_tokens.py --clip <CLIP checkout> --ftfy <python-ftfy checkout> \
      --vocab-dir <folder with vocab.json + merges.txt> --out <clip_reference.json>

Needs the `regex` package (Debian python3-regex). ftfy imports `wcwidth` only for its terminal-formatting
helpers, which fix_text never calls; when wcwidth is not installed a stub stands in for it.

Each case records:
  prompt   the input text
  cleaned  the text CLIP's tokenizer splits into words: whitespace_clean(basic_clean(prompt)).lower()
  ids      SimpleTokenizer.encode(prompt): no <|startoftext|>/<|endoftext|>, no padding, no truncation
  hf_cleaned, hf_ids   only where they differ from the above: the same with Hugging Face CLIPTokenizer's
           cleanup, whitespace_clean(ftfy.fix_text(prompt)).lower() (its _tokenize; transformers itself is not
           run, and its splitting of special-token text before cleanup is not modelled)
The vocab.json/merges.txt given by --vocab-dir are checked to describe the same tokenizer as CLIP's
bpe_simple_vocab_16e6.txt.gz (same merges, same token -> id map), so the ids hold for those files.
Prompts whose text ftfy changes through its mojibake repair (fix_encoding) are written to a separate
"mojibake_cases" list (hand-picked, plus 80 seeded random ones): the C# port of fix_encoding must match them too.
"""
import argparse
import importlib.util
import json
import os
import sys
import types


def load_reference(clip_dir, ftfy_dir):
    try:
        import wcwidth  # noqa: F401
    except ImportError:
        stub = types.ModuleType("wcwidth")
        stub.wcwidth = lambda ch: 1
        stub.wcswidth = lambda text: len(text)
        sys.modules["wcwidth"] = stub
    sys.path.insert(0, ftfy_dir)
    import ftfy
    # Load simple_tokenizer.py alone: clip/__init__.py would import torch for the model code.
    path = os.path.join(clip_dir, "clip", "simple_tokenizer.py")
    spec = importlib.util.spec_from_file_location("clip_simple_tokenizer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokenizer = module.SimpleTokenizer(os.path.join(clip_dir, "clip", "bpe_simple_vocab_16e6.txt.gz"))
    return ftfy, module, tokenizer


def check_vocab_files(tokenizer, vocab_dir):
    with open(os.path.join(vocab_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    assert vocab == tokenizer.encoder, "vocab.json differs from CLIP's vocabulary"
    with open(os.path.join(vocab_dir, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0].startswith("#version")
    merges = {tuple(line.split()): rank for rank, line in enumerate(lines[1:]) if line}
    assert merges == tokenizer.bpe_ranks, "merges.txt differs from CLIP's merges"


LONG_PROMPT = (
    "a highly detailed matte painting of a sprawling cyberpunk city at night, neon lights reflecting on wet "
    "streets, flying cars, towering skyscrapers covered in holographic advertisements, crowds of people with "
    "umbrellas, steam rising from vents, cinematic lighting, volumetric fog, by greg rutkowski and alphonse "
    "mucha, trending on artstation, 8k resolution, unreal engine 5, octane render, sharp focus, intricate "
    "details, award winning photograph"
)

PROMPTS = [
    # plain prompts
    "a photo of a cat",
    "a photo of a dog",
    "A Photo Of A Cat",
    "A PHOTO OF A CAT",
    "an astronaut riding a horse on mars",
    "a watercolor painting of a fox in a snowy forest",
    "portrait of an old man, oil on canvas, rembrandt lighting",
    "a cozy cabin in the woods, warm light, winter evening",
    "isometric 3d render of a tiny island with a lighthouse",
    "studio ghibli style landscape with rolling hills and clouds",
    "cat",
    "a",
    "I",
    "the quick brown fox jumps over the lazy dog",
    # empty and whitespace only
    "",
    " ",
    "   ",
    "\t",
    "\n",
    " \t\n\r ",
    "\u00a0",
    "\u3000",
    # whitespace inside
    "a  photo   of\ta\ncat",
    "  leading and trailing spaces  ",
    "line one\nline two\r\nline three\rline four",
    "tabs\t\tand\t\ttabs",
    "non\u00a0breaking\u00a0space",
    "em\u2003space and thin\u2009space",
    "line\u2028separator and paragraph\u2029separator",
    "next\x85line",
    "form\x0cfeed and vertical\x0btab",
    # punctuation
    "hello, world!",
    "what?! no... really?!",
    "(masterpiece:1.2), best quality, ((ultra detailed)), [bad hands]",
    "a [cat|dog] in a {red|blue} hat",
    "photo of a cat --ar 16:9 --v 5",
    "C++ and C# programming",
    "snake_case_word and kebab-case-word",
    "https://example.com/path?query=1&other=two#anchor",
    "someone@example.com",
    "#sunset #beach @photographer",
    "$100 and 50% off, 3 * 4 = 12",
    "a/b\\c|d",
    "~~~ *** ### !!! ??? ...",
    "--- ___ +++ === <<< >>>",
    "\"quoted\" and 'single quoted'",
    "`backticks` and ^carets^",
    "emoticons :) :-( ;) <3 xD",
    "ellipsis\u2026 and em\u2014dash and en\u2013dash",
    "\u00bfque? \u00a1si!",
    "\u00ab guillemets \u00bb and \u2039 single \u203a",
    "bullet \u2022 point \u00b7 middle dot",
    "copyright \u00a9 registered \u00ae trademark \u2122",
    "degrees 90\u00b0 and plus\u00b1minus",
    # numbers
    "1,000.5",
    "3.14159",
    "2024",
    "1234567890",
    "10x zoom, 4k, 8k uhd, 35mm, f/1.8",
    "version 1.5 vs 2.1",
    "0.000001",
    "-42",
    "1st 2nd 3rd 4th",
    "\u0661\u0662\u0663 arabic-indic digits",
    "\u0967\u0968\u0969 devanagari digits",
    "fractions \u00bd \u00bc \u00be",
    "superscript x\u00b2 and subscript h\u2082o",
    "roman numerals \u2160 \u2161 \u216b",
    "circled \u2460 \u2461 \u2462",
    # contractions and apostrophes
    "don't",
    "it's a dog's life",
    "you're we've they'll he'd I'm",
    "DON'T STOP, IT'S LATE",
    "o'clock rock'n'roll",
    "the dogs' toys",
    "'s 't 're 've 'm 'll 'd",
    "don\u2019t stop",
    "it\u2018s",
    "\u201ccurly double quotes\u201d",
    "\u2018curly single quotes\u2019",
    "\u201elow quotes\u201f",
    "modifier letter apostrophe don\u02bct",
    "'quoted' \"words\"",
    "can''t",
    "''",
    # accents and Latin scripts
    "caf\u00e9",
    "cafe\u0301 (combining accent)",
    "na\u00efve r\u00e9sum\u00e9",
    "\u00fcber m\u00fcnchen stra\u00dfe",
    "STRASSE STRA\u00dfE",
    "ma\u00f1ana espa\u00f1ol",
    "\u00c5ngstr\u00f6m and \u212b sign",
    "\u0141\u00f3d\u017a \u017c\u00f3\u0142w",
    "\u0130stanbul \u0131\u015f\u0131k",
    "Dvo\u0159\u00e1k",
    "\u00e6sir \u00f8resund \u0153uvre",
    "\u0132sselmeer \u0133s",
    "\u01c4 \u01c5 \u01c6 \u01c7 \u01c8 \u01c9 \u01ca \u01cb \u01cc \u01f1 \u01f2 \u01f3",
    "\u0149",
    "\ufb01sh \ufb02ower o\ufb00 o\ufb03ce wa\ufb04e \ufb05 \ufb06",
    "long s \u017f and kelvin \u212a",
    "\u1e9e capital sharp s",
    # Greek, Cyrillic and others
    "\u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3",
    "\u03b1\u03b8\u03ae\u03bd\u03b1",
    "\u043a\u043e\u0448\u043a\u0430 \u041a\u041e\u0428\u041a\u0410",
    "\u0562\u0561\u0580\u0565\u0582 armenian",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 georgian",
    "\u13a0\u13a1 cherokee",
    "\U00010400\U00010428 deseret",
    # CJK
    "\u4e00\u53ea\u732b",
    "\u732b\u306e\u5199\u771f",
    "\u30cd\u30b3 \u306d\u3053",
    "\uace0\uc591\uc774 \uc0ac\uc9c4",
    "\u5bcc\u58eb\u5c71\u3068\u685c",
    "\u3002\u3001\u300c\u300d",
    "\U00020000 extension b",
    # other scripts
    "\u0642\u0637\u0629",
    "\u0635\u0648\u0631\u0629 \u0642\u0637\u0629 \u062c\u0645\u064a\u0644\u0629",
    "\u05d7\u05ea\u05d5\u05dc",
    "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd",
    "\u092c\u093f\u0932\u094d\u0932\u0940",
    "\u0e41\u0e21\u0e27",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u12f5\u1218\u1275 ethiopic",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd sinhala",
    # emoji
    "\U0001f431",
    "a cat \U0001f431 and a dog \U0001f436",
    "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "\U0001f1ef\U0001f1f5 \U0001f1fa\U0001f1f8",
    "\u2764\ufe0f love",
    "1\ufe0f\u20e3 keycap",
    "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f wales",
    "\U0001f9d1\U0001f3ff\u200d\U0001f680",
    "\U0001f525\U0001f525\U0001f525",
    "sparkles\u2728stars\u2b50",
    "\u263a \u2639 \u2620",
    # HTML entities
    "tom &amp; jerry",
    "&lt;3",
    "I &lt;3 cats",
    "it&#39;s",
    "it&#x27;s",
    "&quot;quoted&quot;",
    "&amp;lt;3",
    "&amp;amp;amp;",
    "caf&eacute;",
    "CAF&EACUTE;",
    "&nTILDE; &Ntilde; &ntilde;",
    "&copy; 2024 &reg; &trade;",
    "&hellip; &mdash; &ndash;",
    "&nbsp;space",
    "&#128512;",
    "&#x1F600;",
    "&#128;",
    "&#0;",
    "&#1;",
    "&#xD800;",
    "&#99999999999;",
    "&amp",
    "&ampfoo",
    "&notit; &notin;",
    "&unknownentity;",
    "&",
    "& & &",
    "a < b &amp; c",
    "<b>bold</b> &amp; strong",
    "first line &lt;\nsecond <line> &amp;",
    "first line <\nsecond line &amp;",
    "AT&T",
    "R&D department",
    # control characters
    "bell\x07character",
    "null\x00byte",
    "escape\x1bchar",
    "\x1b[31mred text\x1b[0m",
    "delete\x7fchar",
    "\ufeffbyte order mark",
    "zero\u200bwidth space",
    "zero\u200cwidth\u200dnon joiner",
    "left\u200eto\u200fright marks",
    "object\ufffcreplacement",
    "replacement\ufffdchar",
    "c1 control \x80 and \x9f",
    "interlinear\ufff9annotation\ufffb",
    "deprecated\u206aarabic\u206f",
    "soft\u00adhyphen",
    "unit\x1fseparator",
    # full width and half width forms
    "\uff21\uff22\uff23\uff11\uff12\uff13\uff01\uff1f",
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33",
    "\uff41\uff42\uff43 lower full width",
    "\uff76\uff80\uff76\uff85 half width katakana",
    "\uff76\uff9e\uff77\uff9e voiced",
    "\uffa1 half width hangul",
    "\uffe0\uffe1\uffe5 full width signs",
    "\uff08\uff09\uff3b\uff3d",
    # normalization
    "e\u0301 o\u0308 n\u0303",
    "\u1100\u1161\u11a8 hangul jamo",
    "\u0041\u030a and \u212b",
    "\u00bd vs 1\u20442",
    "\u2460 stays circled",
    "a\u0345b ypogegrammeni \u1fb3 \u03b1\u0345",
    "\u3392 squared",
    # special token text
    "<|startoftext|>",
    "<|endoftext|>",
    "a cat<|endoftext|>a dog",
    "<|STARTOFTEXT|> upper case",
    "?<|endoftext|>",
    "<|endoftext",
    # BPE stress
    "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababab",
    "zzzzzzzzzz",
    "qwertyuiopasdfghjklzxcvbnm",
    "llllllllllll",
    "mmmmhmmmm",
    "antidisestablishmentarianism",
    "photorealistic hyperrealistic ultrarealistic",
    "iPhone McDonald's YouTube",
    "thisisaverylongwordwithoutanyspacesinsideitatall",
    "x" * 100,
    "xyzzy plugh",
    "unbelievably unforgettable",
    "tokenization tokenizer tokenized",
    "\u00e9\u00e9\u00e9\u00e9\u00e9",
    "\u732b" * 20,
    # long prompts
    LONG_PROMPT,
    LONG_PROMPT + ", " + LONG_PROMPT,
    "cat " * 80,
    "cat, " * 40,
    "a " * 74,
    "a " * 75,
    "a " * 76,
    "\U0001f431" * 30,
    ", ".join(str(i) for i in range(100)),
    # negative prompts
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped, "
    "worst quality, low quality, normal quality, jpeg artifacts, signature, watermark, username, blurry",
    "ugly, tiling, poorly drawn hands, poorly drawn feet, poorly drawn face, out of frame, extra limbs, "
    "disfigured, deformed, body out of frame, blurry, bad anatomy, blurred, watermark, grainy, signature, "
    "cut off, draft",
]

# Random mixes, fixed by their seed: prompt-like pieces, scripts, entities, controls and emoji run together,
# then single code points drawn from the whole of Unicode (only characters Python's Unicode tables assign,
# since CLIP's classes for unassigned ones depend on the Unicode version).
FUZZ_POOLS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\r\x0b\x0c",
    ".,;:!?'\"()[]{}<>/\\|-_+=*&^%$#@~`", "\u00e9\u00fc\u00f1\u00e7\u00f8\u00e5\u00df\u00c9\u0130\u0131\u017f\u03a3\u03c3\u03c2\u039f\u0394",
    "\uff21\uff22\uff41\uff11\uff01\u3000\uff76\uff9e", "\u201c\u201d\u2018\u2019\u201a\u201e\u2039\u00ab\u02bc",
    "\x00\x01\x1b\x7f\x80\x85\x92\x9d\ufeff\u200b\u200d\u2028\u206a\ufffc\u0345",
    "\u732b\u306e\u5199\u771f\uace0\uc591\uc774", "\u0642\u0637\u0629\u05e9\u05b8\u05c1", "\u0301\u0308\u0e31\u093f",
    "\ufb01\ufb02\u0132\u01c5\u0149", "\u00bd\u00b2\u216b\u2460\u0661",
    ["&amp;", "&lt;", "&#39;", "&#x27;", "&eacute;", "&EACUTE;", "&amp;lt;", "&nbsp;", "&#128;", "&#0;", "&amp",
     "&notit;", "&#12ab;", "&quot", "&#xD800;", "&LT;", "&Amp;"],
    ["\U0001f431", "\U0001f44d\U0001f3fd", "\u200d", "\ufe0f", "\U0001f1ef", "\U00010400", "\U0001d400", "\U00020000"],
    ["<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ll", "'d", "'m", "'ve", "\x1b[31m"],
    ["photo", "cat", "masterpiece", "highly detailed", "trending on artstation", " ", ", "],
]


def fuzz_prompts(ftfy, count_mixed=80, count_code_points=40, seed=20261125):
    import random
    import unicodedata
    rng = random.Random(seed)
    prompts = []
    while len(prompts) < count_mixed:
        text = "".join(rng.choice(rng.choice(FUZZ_POOLS)) for _ in range(rng.randint(1, 40)))
        if ftfy.fix_text(text) == ftfy.fix_text(text, fix_encoding=False) and text not in prompts:
            prompts.append(text)
    while len(prompts) < count_mixed + count_code_points:
        chars = []
        for _ in range(rng.randint(1, 30)):
            if rng.random() < 0.3:
                chars.append(rng.choice(" abc'&;#"))
                continue
            r = rng.random()
            cp = rng.randint(0x20, 0x2FFF) if r < 0.5 else rng.randint(0x3000, 0xFFFF) if r < 0.8 else rng.randint(0x10000, 0x2FFFF)
            if 0xD800 <= cp <= 0xDFFF or unicodedata.category(chr(cp)) in ("Cn", "Co", "Cs"):
                cp = 0x41
            chars.append(chr(cp))
        text = "".join(chars)
        if ftfy.fix_text(text) == ftfy.fix_text(text, fix_encoding=False) and text not in prompts:
            prompts.append(text)
    return prompts


MOJIBAKE_PROMPTS = [
    "\u00e2\u0153\u201d No problems",
    "caf\u00c3\u00a9 au lait",
    "\u00c3\u00a0 la mode",
    "The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.",
    "caf\u00C3\u00A9",  # the hardening issue's case
    "\u00c3\u00a0 quelle heure, \u00c3 la plage",  # restore_byte_a0: an A0 byte turned into a space
    "na\u00c3\u00afve r\u00c3\u00a9sum\u00c3\u00a9 \u00e2\u20ac\u201c a portrait",  # en dash through sloppy-windows-1252
    "\u00d0\u00bf\u00d1\u20ac\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u201a world",  # Russian as windows-1252 mojibake
    "\u0420\u0457\u0421\u0402\u0420\u0451\u0420\u0406\u0420\u00b5\u0421\u201a",  # Russian as windows-1251 mojibake
    "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d text",  # C1 control inside mojibake
    "smile \u00f0\u0178\u02dc\u20ac please",  # an emoji (4-byte UTF-8) as windows-1252
    "price 10\u00e2\u201a\u00ac, caf\u00e9 ok",  # inconsistent: mojibake beside correct text
    "lossy caf\u00c3? and \u00e2\u20ac\u001a end",  # lost bytes ('?' and 0x1A)
    "macroman caf\u221a\u00a9 au lait",  # UTF-8 read as Mac Roman
    "cp437 caf\u251c\u2310 au lait",  # UTF-8 read as code page 437
    "Sch\u00c3\u00b6ne Gr\u00c3\u00bc\u00c3\u0178e aus M\u00c3\u00bcnchen",
    "\u00c3\u00a9\u00c3\u00a9 double \u00c3\u0192\u00c2\u00a9 twice-encoded",
]


def mojibake_prompts(ftfy, count=80, seed=20261204):
    """Seeded random mojibake: short UTF-8 texts decoded in one of ftfy's one-byte encodings (the ones it repairs and
    the ones it leaves), mixed with clean words; kept only where ftfy's fix_encoding changes the text."""
    import random
    rng = random.Random(seed)
    words = ["caf\u00e9", "na\u00efve", "\u00fcber", "se\u00f1or", "\u00e0 la", "\u2014", "\u201cquote\u201d", "\u2019s", "\u20ac5",
             "\u043f\u0440\u0438\u0432\u0435\u0442", "\u03b1\u03b2\u03b3", "\u00bd", "\u00b0C", "\u2122", "\U0001F600", "\u65e5\u672c", "\u00c5ngstr\u00f6m", "\u0142\u00f3d\u017a"]
    encodings = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250", "macroman", "cp437",
                 "iso-8859-2"]
    prompts = []
    while len(prompts) < count:
        clean = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        encoding = rng.choice(encodings)
        try:
            broken = clean.encode("utf-8").decode(encoding)
        except UnicodeDecodeError:
            continue
        text = rng.choice(["", "a photo, ", "portrait of "]) + broken + rng.choice(["", " at dusk", ", 4k"])
        if ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False) and text not in prompts \
                and text not in MOJIBAKE_PROMPTS:
            prompts.append(text)
    return prompts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", required=True, help="checkout of github.com/openai/CLIP")
    parser.add_argument("--ftfy", required=True, help="checkout of github.com/rspeer/python-ftfy")
    parser.add_argument("--vocab-dir", required=True, help="folder with vocab.json and merges.txt")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    ftfy, module, tokenizer = load_reference(args.clip, args.ftfy)
    check_vocab_files(tokenizer, args.vocab_dir)

    def cleaned(text):
        return module.whitespace_clean(module.basic_clean(text)).lower()

    def words_to_ids(text):
        # SimpleTokenizer.encode after its cleanup: CLIP's pattern, byte-level symbols, BPE, vocabulary ids.
        ids = []
        for word in module.re.findall(tokenizer.pat, text):
            word = "".join(tokenizer.byte_encoder[b] for b in word.encode("utf-8"))
            ids.extend(tokenizer.encoder[token] for token in tokenizer.bpe(word).split(" "))
        return ids

    def case(prompt):
        result = {"prompt": prompt, "cleaned": cleaned(prompt), "ids": tokenizer.encode(prompt)}
        assert words_to_ids(result["cleaned"]) == result["ids"]
        hf_cleaned = module.whitespace_clean(ftfy.fix_text(prompt)).lower()
        if hf_cleaned != result["cleaned"]:
            result["hf_cleaned"] = hf_cleaned
            result["hf_ids"] = words_to_ids(hf_cleaned)
        return result

    prompts = PROMPTS + fuzz_prompts(ftfy)
    assert len(set(prompts)) == len(prompts), "duplicate prompt"
    for prompt in prompts:
        assert ftfy.fix_text(prompt) == ftfy.fix_text(prompt, fix_encoding=False), \
            f"ftfy repairs mojibake in {prompt!r}; move it to MOJIBAKE_PROMPTS"
    mojibake = MOJIBAKE_PROMPTS + mojibake_prompts(ftfy)
    for prompt in mojibake:
        assert ftfy.fix_text(prompt) != ftfy.fix_text(prompt, fix_encoding=False), prompt

    a_cat = tokenizer.encode("a photo of a cat")
    assert a_cat == [320, 1125, 539, 320, 2368], a_cat

    ftfy_version = getattr(ftfy, "__version__", None)
    result = {
        "description": "OpenAI CLIP SimpleTokenizer.encode (ids without <|startoftext|>/<|endoftext|>, unpadded, "
                       "untruncated) and the cleaned text it splits; written by "
                       "tools/reference-data/tokenizer/generate_clip_tokens.py",
        "reference": {
            "clip_simple_tokenizer": "github.com/openai/CLIP clip/simple_tokenizer.py",
            "ftfy": ftfy_version,
            "python": sys.version.split()[0],
            "unicode": __import__("unicodedata").unidata_version,
        },
        "bos": tokenizer.encoder["<|startoftext|>"],
        "eos": tokenizer.encoder["<|endoftext|>"],
        "cases": [case(p) for p in prompts],
        "mojibake_cases": [case(p) for p in mojibake],
    }
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        # One case a line keeps the file readable and its diffs small.
        text = json.dumps(result, ensure_ascii=True, indent=1)
        for key in ("cases", "mojibake_cases"):
            body = ",\n  ".join(json.dumps(c, ensure_ascii=True) for c in result[key])
            text = text.replace(json.dumps(result[key], ensure_ascii=True, indent=1).replace("\n", "\n "),
                                "[\n  " + body + "\n ]")
        json.loads(text)
        f.write(text + "\n")
    print(f"wrote {args.out}: {len(prompts)} cases, {len(mojibake)} mojibake cases")


if __name__ == "__main__":
    main()
