"""Transcript normalization keeps every letter of non-English alphabets."""

from speechssl.text.normalize import TextNormalizer


def test_case_folding_keeps_diacritics_and_combining_marks():
    lower, upper = TextNormalizer(case="lower"), TextNormalizer(case="upper")
    assert lower("Příliš ŽLUŤOUČKÝ kůň, úpěl ďábelské ódy!") == "příliš žluťoučký kůň úpěl ďábelské ódy"
    assert upper("ďábelské ódy") == "ĎÁBELSKÉ ÓDY"
    assert lower("e\u0301cole") == "\u00e9cole"  # decomposed accents are composed (NFKC), not dropped
    assert lower("नमस्ते, दुनिया।") == "नमस्ते दुनिया"  # vowel signs and the virama are marks, not punctuation
    assert lower("q\u0303 x") == "q\u0303 x"  # a mark with no precomposed letter stays on its letter
    assert upper("don't 'quote' it_now") == "DON'T QUOTE IT NOW"
