"""Common Voice: text normalization per language, preparation from the release layout (mp3
clips, TSV splits), and the recipe end to end with sentencepiece units."""

import json

import pytest
import soundfile

from speechssl.data.corpora.commonvoice import normalize_text, prepare_commonvoice, recommended_units
from speechssl.data.manifest import Manifest
from tests.corpora.layouts import TOY_TRAINING, make_commonvoice, run_recipe


def test_normalization_follows_the_language():
    assert normalize_text("“Hello,” she said — don’t SHOUT!", "en") == "hello she said don't shout"
    assert normalize_text("İstanbul'da IŞIK yandı.", "tr") == "istanbul'da ışık yandı"
    assert normalize_text("ISTANBUL", "en") == "istanbul"
    assert normalize_text("Ça va ? « Oui ! »", "fr") == "ça va oui"
    assert normalize_text("'quoted' words", "en") == "quoted words"
    assert normalize_text("…", "en") == ""


def test_units_are_characters_for_alphabets_and_sentencepiece_otherwise():
    assert recommended_units("en", ["hello world"]) == "char"
    assert recommended_units("ja", ["こんにちは"]) == "sentencepiece"
    assert recommended_units("xx", ["".join(chr(0x4E00 + i) for i in range(150))]) == "sentencepiece"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv_release")
    rows = make_commonvoice(root)
    return root / "en", rows


def test_prepare_reads_the_release_splits_and_builds_the_pretraining_pool(release, tmp_path):
    folder, rows = release
    corrupt = folder / "clips" / rows["train"][0][0]
    original = corrupt.read_bytes()
    corrupt.write_bytes(b"\xff\xfb broken mp3")
    try:
        summary = prepare_commonvoice(folder, tmp_path, progress=False)
    finally:
        corrupt.write_bytes(original)
    assert [s["path"] for s in summary["skipped"]].count(str(corrupt)) == 2  # train and the pool
    assert {k: v["utterances"] for k, v in summary["splits"].items()} == {"train": 7, "dev": 3, "test": 3, "unlabeled": 11}
    assert summary["units"] == "char"
    test = Manifest.read(tmp_path / "test.tsv")
    assert [u.path for u in test.utterances] == [clip for clip, _ in rows["test"]]
    assert [u.text for u in test.utterances] == [normalize_text(text, "en") for _, text in rows["test"]]
    info = soundfile.info(str(test.audio_path(0)))
    assert test.utterances[0].num_samples == round(info.frames * 16000 / info.samplerate)  # 48 kHz mp3 -> 16 kHz samples
    pool = {u.path for u in Manifest.read(tmp_path / "unlabeled.tsv").utterances}
    assert not pool & {clip for split in ("dev", "test") for clip, _ in rows[split]}  # held-out clips never pretrain
    assert pool >= {clip for clip, _ in rows["other"]} and len(pool) == 11  # train + other, deduplicated
    assert not (tmp_path / "unlabeled.wrd").exists()


def test_recipe_converts_to_flac_and_finetunes_sentencepiece_units(release, tmp_path):
    folder, rows = release
    conf = f"""
LANGUAGE_DIR={folder}
LANGUAGE=""
DATA={tmp_path}/data
FLAC=1
NUM_GPUS=1
INIT_MODEL=""
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
PRETRAIN_SET="{TOY_TRAINING}"
FINETUNE_CONFIG=recipes/commonvoice/configs.py:finetune
FINETUNE_SET="{TOY_TRAINING}"
UNITS=sentencepiece
SP_VOCAB=40
LM_ORDER=3
LM_TEXT=""
BEAM_SIZE=10
LM_WEIGHT=1.0
WORD_SCORE=0.0
EVAL_SETS="dev test"
SEED=1
"""
    _, exp = run_recipe("commonvoice", conf, tmp_path)
    train = Manifest.read(tmp_path / "data" / "train.tsv")
    assert train.utterances[0].path.endswith(".flac") and soundfile.info(str(train.audio_path(0))).samplerate == 16000
    assert json.loads((exp / "finetune" / "tokenizer.json").read_text())["kind"] == "sentencepiece"
    for name in ("dev", "test"):
        wer = json.loads((exp / "eval" / "finetune" / "greedy" / name / "wer.json").read_text())
        assert wer["utterances"] == 3 and wer["failed"] == []
    assert not (exp / "eval" / "finetune" / "3gram").exists()  # no word LM for sentencepiece units
