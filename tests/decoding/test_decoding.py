import math

import torch

from speechssl.decoding.beam import BeamSearchDecoder, arpa_unigrams, write_lexicon
from speechssl.decoding.greedy import greedy_decode
from speechssl.decoding.timestamps import FrameGrid, token_spans, words_from_spans
from speechssl.text.ngram import build_arpa
from speechssl.text.tokenizer import CharTokenizer

TOKENIZER = CharTokenizer.build(["CAT HAT THE A"])


def naive_greedy(logits, length):
    best = logits[:length].argmax(-1).tolist()
    out, frames, previous = [], [], None
    for t, b in enumerate(best):
        if b != previous and b != 0:
            out.append(b)
            frames.append(t)
        previous = b
    return out, frames


def test_greedy_batch_equals_each_utterance_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 40, 6, generator=g)
    lengths = torch.tensor([40, 25, 7])
    logits[1, 25:, 3] = 100.0  # padding that would decode to a token if it were read
    paths = greedy_decode(logits, lengths)
    for b in range(3):
        tokens, frames = naive_greedy(logits[b], lengths[b])
        assert paths[b].tokens == tokens and paths[b].frames == frames
        assert greedy_decode(logits[b : b + 1, : lengths[b]])[0].tokens == tokens


def emissions_for(spelling: list[list[str]], frames_per_unit=3, confusion=None):
    """Log-probs that spell the units, each unit for a few frames followed by a blank frame."""
    rows = []
    for unit in spelling:
        row = torch.full((len(TOKENIZER),), -8.0)
        for token, logp in unit:
            row[TOKENIZER.index[token]] = logp
        rows += [row] * frames_per_unit
        blank = torch.full((len(TOKENIZER),), -8.0)
        blank[0] = 0.0
        rows.append(blank)
    return torch.stack(rows).log_softmax(-1)


def test_lm_beam_search_overrules_an_ambiguous_acoustic_choice(tmp_path):
    # "?AT": H slightly beats C acoustically, but the LM has only ever seen "THE CAT".
    units = [[("T", 0.0)], [("H", 0.0)], [("E", 0.0)], [("|", 0.0)],
             [("H", -0.6), ("C", -0.9)], [("A", 0.0)], [("T", 0.0)], [("|", 0.0)]]
    log_probs = emissions_for(units)[None]
    greedy = TOKENIZER.decode(greedy_decode(log_probs)[0].tokens)
    assert greedy == "THE HAT"
    lm = tmp_path / "lm.arpa"
    build_arpa(["THE CAT"] * 20 + ["A HAT"], lm, order=2)
    assert sorted(arpa_unigrams(lm)) == ["A", "CAT", "HAT", "THE"]
    no_lm = BeamSearchDecoder(TOKENIZER, beam_size=20)(log_probs)[0]
    assert TOKENIZER.decode(no_lm.tokens) == "THE HAT"
    with_lm = BeamSearchDecoder(TOKENIZER, lm, beam_size=20, lm_weight=2.0)(log_probs)[0]
    assert with_lm.words == ["THE", "CAT"]


def test_lexicon_skips_words_the_tokenizer_cannot_spell(tmp_path):
    n = write_lexicon(["CAT", "DOG", "THE"], TOKENIZER, tmp_path / "lex.txt")
    assert n == 2 and (tmp_path / "lex.txt").read_text() == "CAT\tC A T |\nTHE\tT H E |\n"


def test_forced_alignment_recovers_known_spans():
    units = [[("C", 0.0)], [("A", 0.0)], [("T", 0.0)], [("|", 0.0)], [("A", 0.0)]]
    log_probs = emissions_for(units, frames_per_unit=4)
    tokens = TOKENIZER.encode("CAT A")[:-1]  # C A T | A
    spans = token_spans(log_probs, tokens)
    assert [(s, e) for s, e, _ in spans] == [(0, 4), (5, 9), (10, 14), (15, 19), (20, 24)]
    assert all(p > 0.99 for _, _, p in spans)
    grid = FrameGrid(stride=320, sample_rate=16000)
    words = words_from_spans(TOKENIZER, tokens, spans, grid)
    assert [w.text for w in words] == ["CAT", "A"]
    assert math.isclose(words[0].start, 0.0) and math.isclose(words[0].end, grid.time(14))
    assert token_spans(log_probs[:3], tokens) is None  # cannot fit: 5 units in 3 frames
