"""A tiny CLIP-format byte-level BPE vocabulary whose merges build every caption word whole.

Layout exactly like OpenAI CLIP's vocabulary: ids 0..255 are the byte symbols (bytes_to_unicode order),
256..511 the same symbols with "</w>", then one id per merge in rank order, then <|startoftext|> and
<|endoftext|> as the last two ids. The tokenizer below is CLIP's algorithm (regex split, lower case,
"</w>" on the last symbol, lowest-rank merge first), written from its description.
"""
import json
import os

import regex

START = "<|startoftext|>"
END = "<|endoftext|>"
MAX_LENGTH = 77

_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _symbols(token):
    return tuple(token[:-1]) + (token[-1] + "</w>",)


def bpe(token, ranks):
    word = _symbols(token)
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        out, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                out.append(first + second)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = tuple(out)
    return word


def build_merges(words):
    """Merges (rank order) after which bpe(word) is one symbol for every word; unused merges dropped."""
    b2u = bytes_to_unicode()
    encoded = ["".join(b2u[b] for b in w.encode("utf-8")) for w in words]
    merges = []
    seen = set()
    for w in encoded:
        sym = _symbols(w)
        acc = sym[0]
        for s in sym[1:]:
            if (acc, s) not in seen:
                merges.append((acc, s))
                seen.add((acc, s))
            acc = acc + s
    # Repair: a merge from one word can fire inside another and leave it stuck; append the merge that
    # continues from where it got stuck, until every word is whole.
    for _ in range(1000):
        ranks = {m: i for i, m in enumerate(merges)}
        stuck = [bpe(w, ranks) for w in encoded if len(bpe(w, ranks)) > 1]
        if not stuck:
            break
        merges.append((stuck[0][0], stuck[0][1]))
    else:
        raise RuntimeError("could not build whole-word merges")
    # Drop merges no word uses (removing a merge that never fires changes no tokenization).
    used = set()
    ranks = {m: i for i, m in enumerate(merges)}
    for w in encoded:
        word = _symbols(w)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if bigram not in ranks:
                break
            used.add(bigram)
            word = bpe_step(word, bigram)
    merges = [m for m in merges if m in used]
    results = ["".join(m) for m in merges]
    if len(set(results)) != len(results):
        raise RuntimeError("two merges produce the same symbol; vocab.json would be ambiguous")
    return merges


def bpe_step(word, bigram):
    first, second = bigram
    out, i = [], 0
    while i < len(word):
        if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
            out.append(first + second)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class Tokenizer:
    def __init__(self, merges):
        b2u = bytes_to_unicode()
        self.byte_encoder = b2u
        symbols = list(b2u.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
        self.vocab = vocab
        self.encoder = {t: i for i, t in enumerate(vocab)}
        if len(self.encoder) != len(vocab):
            raise RuntimeError("duplicate vocabulary entries")
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.start_id = self.encoder[START]
        self.end_id = self.encoder[END]

    def tokenize(self, text):
        text = " ".join(text.split()).strip().lower()
        ids = []
        for tok in regex.findall(_PATTERN, text):
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[s] for s in bpe(tok, self.ranks))
        return ids

    def encode_padded(self, text):
        """[<|startoftext|>, tokens..., <|endoftext|>] padded with <|endoftext|> to 77 (SD's CLIPTokenizer)."""
        ids = [self.start_id] + self.tokenize(text)[:MAX_LENGTH - 2] + [self.end_id]
        return ids + [self.end_id] * (MAX_LENGTH - len(ids))

    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        config = {
            "add_prefix_space": False,
            "bos_token": START,
            "do_lower_case": True,
            "eos_token": END,
            "errors": "replace",
            "model_max_length": MAX_LENGTH,
            "pad_token": END,
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": END,
        }
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        special = {"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
            f.write("\n")
