import math

import pytest

from speechssl.text.ngram import BOS, UNK, build_arpa, estimate_kneser_ney, prob

SENTENCES = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the cat saw the dog",
    "a dog sat", "the mat was red", "on the log sat a cat",
]]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_is_a_probability_distribution(order):
    probs, backoffs = estimate_kneser_ney(SENTENCES, order)
    vocab = [g[0] for g in probs[0] if g[0] != BOS]
    assert UNK in vocab and "</s>" in vocab
    contexts = {()} | {g[:-1] for n in range(1, order) for g in probs[n]}
    contexts |= {("never", "seen")[: order - 1]} if order > 1 else set()
    for h in contexts:
        h = h[-(order - 1):] if order > 1 else ()
        total = sum(prob(probs, backoffs, h + (w,)) for w in vocab)
        assert math.isclose(total, 1.0, abs_tol=1e-9), (h, total)


def test_seen_continuations_beat_unseen_ones():
    probs, backoffs = estimate_kneser_ney(SENTENCES, 3)
    assert prob(probs, backoffs, ("sat", "on", "the")) > prob(probs, backoffs, ("sat", "on", "a"))
    assert prob(probs, backoffs, ("the", "cat")) > prob(probs, backoffs, ("the", "sat"))


def test_arpa_file_counts_and_kenlm_loads_it(tmp_path):
    path = tmp_path / "lm.arpa"
    counts = build_arpa([" ".join(s) for s in SENTENCES], path, order=3)
    text = path.read_text()
    for n in (1, 2, 3):
        assert f"ngram {n}={counts[f'{n}-grams']}" in text
        section = text.split(f"\\{n}-grams:\n")[1].split("\n\n")[0].splitlines()
        assert len(section) == counts[f"{n}-grams"]
    from torchaudio.models.decoder import ctc_decoder

    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("".join(f"{w}\t{' '.join(w)} |\n" for w in ["THE", "CAT"]))
    tokens = ["-", "|", "T", "H", "E", "C", "A"]
    ctc_decoder(lexicon=str(lexicon), tokens=tokens, lm=str(path))  # KenLM parses the file
