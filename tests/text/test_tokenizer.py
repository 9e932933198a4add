import pytest
import torch

from speechssl import config
from speechssl.data.manifest import words_to_letters
from speechssl.model import Wav2Vec2ForCTC
from speechssl.models import load_model
from speechssl.serialization import save_model
from speechssl.text.normalize import TextNormalizer
from speechssl.text.tokenizer import CharTokenizer, SentencePieceTokenizer, tokenizer_from_dict

TEXTS = ["the quick brown fox", "jumps over the lazy dog", "don't stop the music", "a cat and a dog"] * 5


def test_normalizer_removes_punctuation_keeps_inner_apostrophes_and_digits():
    n = TextNormalizer()
    assert n("Hello, world!  It's 'quoted' 42 times\u2019.") == "HELLO WORLD IT'S QUOTED 42 TIMES"
    assert TextNormalizer(case="lower", remove_punctuation=False)("Hi, There") == "hi, there"
    assert TextNormalizer(case="keep")("MiXed-Case") == "MiXed Case"


def test_char_tokenizer_encodes_fairseq_ltr_lines_with_blank_zero(tmp_path):
    tok = CharTokenizer.build(TEXTS)
    assert tok.tokens[:5] == ["<s>", "<pad>", "</s>", "<unk>", "|"]
    ids = tok.encode("Don't stop!")
    assert " ".join(tok.tokens[i] for i in ids) == words_to_letters("DON'T STOP")
    assert 0 not in ids and tok.decode(ids) == "DON'T STOP"
    assert tok.encode("\u00e9t\u00e9")[0] == tok.unk  # unseen letter -> <unk>
    tok.write_fairseq_dict(tmp_path / "dict.ltr.txt")
    assert CharTokenizer.from_fairseq_dict(tmp_path / "dict.ltr.txt").tokens == tok.tokens


def test_char_words_group_positions_between_boundaries():
    tok = CharTokenizer.build(TEXTS)
    ids = tok.encode("the fox")
    words = tok.words(ids)
    assert [w for w, _ in words] == ["THE", "FOX"]
    assert [ids[p] for p in words[1][1]] == tok.encode("fox")[:-1]


def test_sentencepiece_round_trip_and_classes_shift_past_the_blank():
    tok = SentencePieceTokenizer.build(TEXTS, vocab_size=40)
    ids = tok.encode("the lazy dog")
    assert min(ids) >= 1 and tok.tokens[0] == "<blank>"
    assert tok.decode(ids) == "THE LAZY DOG"
    assert [w for w, _ in tok.words(ids)] == ["THE", "LAZY", "DOG"]
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode("the lazy dog") == ids and again.tokens == tok.tokens
    bpe = SentencePieceTokenizer.build(TEXTS, vocab_size=40, model_type="bpe")
    assert bpe.decode(bpe.encode("a quick dog")) == "A QUICK DOG"


@pytest.mark.parametrize("kind", ["char", "sentencepiece"])
def test_tokenizer_is_saved_with_the_model(tmp_path, kind):
    tok = CharTokenizer.build(TEXTS) if kind == "char" else SentencePieceTokenizer.build(TEXTS, vocab_size=40)
    model = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": len(tok)}))
    model.tokenizer = tok
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.tokenizer.to_dict() == tok.to_dict()
    assert loaded.tokenizer.encode("the dog") == tok.encode("the dog")
    wrong = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": len(tok) + 1}))
    wrong.tokenizer = tok
    with pytest.raises(ValueError, match="classes"):
        save_model(wrong, tmp_path / "bad")
    assert torch.equal(loaded.ctc_head.weight, model.ctc_head.weight)


def test_unit_tokenizer_treats_each_phone_as_a_class_and_round_trips():
    from speechssl.text.tokenizer import UnitTokenizer, build_tokenizer, tokenizer_from_dict

    tokenizer = build_tokenizer("unit", ["sil dh ah k ae t sil", "sil k ae t s sil"])
    assert isinstance(tokenizer, UnitTokenizer) and tokenizer.tokens[:2] == ["<blank>", "<unk>"]
    ids = tokenizer.encode("sil k ae t sil")
    assert len(ids) == 5 and 0 not in ids
    assert tokenizer.decode(ids) == "sil k ae t sil"
    assert tokenizer.encode("zh")[0] == tokenizer.unk  # unseen phone
    assert [w for w, _ in tokenizer.words(ids)] == ["sil", "k", "ae", "t", "sil"]
    again = tokenizer_from_dict(tokenizer.to_dict())
    assert again.tokens == tokenizer.tokens and again.encode("ax-h dh") == tokenizer.encode("ax-h dh")
