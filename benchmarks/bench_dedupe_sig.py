"""Signatures per second for 600-word articles (issue 4).

    .venv/bin/python benchmarks/bench_dedupe_sig.py [--articles 500] [--words 600] [--json]

Times, per article: ``text_fingerprint``, ``minhash_signature`` (128 permutations,
tokenizing included) and ``lsh_bands`` (16 bands). The texts are synthetic (words drawn
from a generated vocabulary, paragraphs of 60 words) so the run needs no data files. When
``datasketch`` is importable (it is not a dependency) its MinHash over the same 3-word
shingles is timed as well, for comparison. ``--json`` prints one JSON object a line instead
of the table (for benchmarks/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from ingest.dedupe import lsh_bands, minhash_signature, text_fingerprint
from ingest.dedupe.minhash import DEFAULT_BANDS


def make_texts(count: int, words: int, seed: int = 4) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 11))) for _ in range(20_000)
    ]
    texts = []
    for _ in range(count):
        chosen = [rng.choice(vocabulary) for _ in range(words)]
        texts.append("\n\n".join(" ".join(chosen[i : i + 60]) for i in range(0, words, 60)))
    return texts


def measure(
    label: str, func: Callable[[str], object], texts: list[str], as_json: bool = False
) -> None:
    func(texts[0])  # warm-up: lazy constants, regex compilation
    per_text = []
    for text in texts:
        start = time.perf_counter()
        func(text)
        per_text.append(time.perf_counter() - start)
    rate = len(texts) / sum(per_text)
    median_ms = statistics.median(per_text) * 1e3
    p99_ms = sorted(per_text)[int(len(per_text) * 0.99) - 1] * 1e3
    if as_json:
        figure = {"bench": "dedupe_sig", "what": label, "per_s": round(rate),
                  "median_ms": round(median_ms, 3), "p99_ms": round(p99_ms, 3)}  # fmt: skip
        print(json.dumps(figure), flush=True)
        return
    print(f"{label:<34} {rate:>9.0f}/s   median {median_ms:.3f} ms   p99 {p99_ms:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    args = parser.parse_args()
    texts = make_texts(args.articles, args.words)
    if not args.json:
        print(f"{args.articles} synthetic articles of {args.words} words")
    measure("text_fingerprint", text_fingerprint, texts, args.json)
    measure("minhash_signature (128)", minhash_signature, texts, args.json)
    signature = minhash_signature(texts[0])
    measure(
        f"lsh_bands ({DEFAULT_BANDS} bands)", lambda _text: lsh_bands(signature), texts, args.json
    )

    try:
        from datasketch import MinHash  # type: ignore[import-not-found]
    except ImportError:
        if not args.json:
            print("datasketch not installed: comparison skipped")
        return

    def datasketch_signature(text: str) -> object:
        words = text.split()
        grams = {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
        minhash = MinHash(num_perm=128)
        minhash.update_batch(list(grams))
        return minhash.hashvalues

    measure("datasketch MinHash (128, batch)", datasketch_signature, texts, args.json)


if __name__ == "__main__":
    main()
