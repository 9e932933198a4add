"""Word n-gram LMs in ARPA format, estimated with interpolated Kneser-Ney.

PyPI has no maintained ARPA *estimator* (the ``kenlm`` module only queries; ``lmplz`` is a
C++ binary outside PyPI; NLTK's KN model has no ARPA export), so this is the one piece
written here. It matches KenLM's ``lmplz`` in method, not in every constant:

- the highest order uses raw counts, lower orders continuation counts ``N1+(. w)``, except
  n-grams that start with ``<s>``, which nothing can precede (raw counts, as lmplz does);
- one absolute discount per order, ``D = n1 / (n1 + 2 n2)`` (Ney et al.);
- interpolation converts exactly to backoff form: ``bow(h) = D * N1+(h .) / c(h)``;
- the unigram distribution is interpolated with a uniform one over the vocabulary plus
  ``<unk>``, so ``<unk>`` gets the discounted mass and every context's probabilities sum to 1.

Meant for transcripts of up to a few million words (pure Python, in memory).
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable

from speechssl.text.normalize import TextNormalizer

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
LOG10_ZERO = -99.0  # ARPA's "never" (the probability of <s>)


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)


def estimate_kneser_ney(sentences: Iterable[list[str]], order: int) -> tuple[list[dict], list[dict]]:
    """-> (probs, backoffs): ``probs[n-1][ngram] = p(w | h)``, ``backoffs[n-1][ngram] = bow``."""
    if order < 1:
        raise ValueError("order must be >= 1")
    raw: list[Counter] = [Counter() for _ in range(order)]
    for words in sentences:
        padded = [BOS] + words + [EOS]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                raw[n - 1][tuple(padded[i : i + n])] += 1
    if not raw[0]:
        raise ValueError("no text to estimate an LM from")
    # Adjusted counts: continuation counts below the top order, raw for the top and for <s> n-grams.
    adjusted: list[Counter] = [Counter() for _ in range(order)]
    adjusted[order - 1] = raw[order - 1]
    for n in range(order - 1, 0, -1):
        for gram in raw[n]:  # each distinct (n+1)-gram adds one left-context type to its suffix
            adjusted[n - 1][gram[1:]] += 1
        for gram, c in raw[n - 1].items():
            if gram[0] == BOS:
                adjusted[n - 1][gram] = c
    adjusted[0].pop((BOS,), None)

    probs: list[dict] = [dict() for _ in range(order)]
    backoffs: list[dict] = [dict() for _ in range(order)]
    vocab = [g[0] for g in raw[0] if g[0] != BOS]
    # Unigrams: discounted continuation counts, interpolated with uniform over vocab + <unk>.
    d1 = _discount(adjusted[0])
    total = sum(adjusted[0].values())
    uniform = 1.0 / (len(vocab) + (0 if UNK in vocab else 1))
    leftover = d1 * len(adjusted[0]) / total
    for w in vocab:
        probs[0][(w,)] = max(adjusted[0][(w,)] - d1, 0.0) / total + leftover * uniform
    probs[0].setdefault((UNK,), leftover * uniform)
    for n in range(2, order + 1):
        counts = adjusted[n - 1]
        d = _discount(counts)
        context_total: defaultdict[tuple, float] = defaultdict(float)
        context_types: defaultdict[tuple, int] = defaultdict(int)
        for gram, c in counts.items():
            context_total[gram[:-1]] += c
            context_types[gram[:-1]] += 1
        for gram, c in counts.items():
            h = gram[:-1]
            gamma = d * context_types[h] / context_total[h]
            probs[n - 1][gram] = max(c - d, 0.0) / context_total[h] + gamma * prob(probs, backoffs, gram[1:])
        for h, t in context_total.items():
            backoffs[n - 2][h] = d * context_types[h] / t
    return probs, backoffs


def prob(probs: list[dict], backoffs: list[dict], gram: tuple) -> float:
    """p(w | h) under the backoff model (for n-grams up to the model's order)."""
    if gram in probs[len(gram) - 1]:
        return probs[len(gram) - 1][gram]
    if len(gram) == 1:
        return probs[0][(UNK,)]
    return backoffs[len(gram) - 2].get(gram[:-1], 1.0) * prob(probs, backoffs, gram[1:])


def write_arpa(probs: list[dict], backoffs: list[dict], path: str | os.PathLike) -> None:
    order = len(probs)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\\data\\\n")
        sizes = [len(probs[0]) + 1] + [len(p) for p in probs[1:]]  # + <s> among the unigrams
        f.writelines(f"ngram {n}={size}\n" for n, size in enumerate(sizes, 1))
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            rows = sorted(probs[n - 1].items())
            if n == 1:
                rows = [((BOS,), None)] + rows
            for gram, p in rows:
                logp = LOG10_ZERO if p is None else math.log10(p)
                line = f"{logp:.6f}\t{' '.join(gram)}"
                if n < order and gram in backoffs[n - 1]:
                    line += f"\t{math.log10(backoffs[n - 1][gram]):.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def build_arpa(
    texts: Iterable[str], path: str | os.PathLike, order: int = 3, normalizer: TextNormalizer | None = None
) -> dict[str, int]:
    """Estimate an ``order``-gram LM from transcripts (one per item) and write it as ARPA.

    Returns the n-gram counts written.
    """
    normalizer = normalizer or TextNormalizer()
    sentences = [s.split() for s in (normalizer(t) for t in texts) if s]
    probs, backoffs = estimate_kneser_ney(sentences, order)
    write_arpa(probs, backoffs, path)
    return {f"{n}-grams": len(p) + (1 if n == 1 else 0) for n, p in enumerate(probs, 1)}
