"""LibriSpeech + Libri-light: preparation from the release layout, and the recipe end to end."""

import json
import shutil
import subprocess
import sys

import pytest
import soundfile

from speechssl.data.corpora.librispeech import prepare_librispeech
from speechssl.data.corpora.prepare import CorpusError
from speechssl.data.manifest import Manifest
from tests.corpora.layouts import TOY_TRAINING, make_librispeech, run_recipe


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("librispeech_release")
    return root, make_librispeech(root)


def test_prepare_writes_every_split_with_labels_lengths_and_librilight_subsets(corpus, tmp_path):
    root, counts = corpus
    summary = prepare_librispeech(root, tmp_path, librilight_dir=root / "librispeech_finetuning", progress=False)
    assert {name: s["utterances"] for name, s in summary["splits"].items()} == counts
    assert "train-960" not in summary["splits"]  # only one of the three training parts is present
    manifest = Manifest.read(tmp_path / "dev-clean.tsv")
    assert manifest.labeled
    for i, utterance in enumerate(manifest.utterances):
        assert utterance.num_samples == soundfile.info(str(manifest.audio_path(i))).frames  # 16 kHz flac
        chapter = manifest.audio_path(i).parent
        transcript = dict(line.split(" ", 1) for line in (chapter / "84-121123.trans.txt").read_text().splitlines())
        assert utterance.text == transcript[manifest.audio_path(i).stem]
    ltr = (tmp_path / "dev-clean.ltr").read_text().splitlines()[0]
    wrd = (tmp_path / "dev-clean.wrd").read_text().splitlines()[0]
    assert ltr == " ".join(" ".join(w) + " |" for w in wrd.split())  # fairseq's libri_labels.py format
    ten_min = Manifest.read(tmp_path / "train-10min.tsv")
    assert all(u.path.startswith("1h/0/") for u in ten_min.utterances)  # fold 0 is the 10-minute split
    assert {u.path.split("/")[2] for u in ten_min.utterances} == {"clean", "other"}
    ten_h = [u.path for u in Manifest.read(tmp_path / "train-10h.tsv").utterances]
    assert sum(p.startswith("9h/") for p in ten_h) == 2 and len(ten_h) == 14
    symbols = [line.split()[0] for line in (tmp_path / "dict.ltr.txt").read_text().splitlines()]
    assert symbols[0] == "|" and set(symbols) >= set("".join(wrd.split()))


def test_prepare_is_idempotent_and_names_bad_files(corpus, tmp_path):
    root, _ = corpus
    first = prepare_librispeech(root, tmp_path / "a", progress=False)
    before = (tmp_path / "a" / "train-clean-100.tsv").stat().st_mtime_ns
    assert prepare_librispeech(root, tmp_path / "a", progress=False) == first
    assert (tmp_path / "a" / "train-clean-100.tsv").stat().st_mtime_ns == before  # found done, not rewritten

    # a corrupt flac is left out and listed; a flac with no transcript line is an error naming it
    broken = tmp_path / "broken"
    for split in ("dev-clean", "test-clean"):
        shutil.copytree(root / "LibriSpeech" / split, broken / "LibriSpeech" / split)
    corrupt = next((broken / "LibriSpeech" / "dev-clean").rglob("*.flac"))
    corrupt.write_bytes(b"not audio at all")
    with pytest.raises(CorpusError, match="no training split"):
        prepare_librispeech(broken, tmp_path / "b", progress=False)
    (broken / "LibriSpeech" / "dev-clean").rename(broken / "LibriSpeech" / "train-clean-100")
    summary = prepare_librispeech(broken, tmp_path / "b", progress=False)
    assert [s["path"] for s in summary["skipped"]] == [str(corrupt).replace("dev-clean", "train-clean-100")]
    assert summary["splits"]["train-clean-100"]["utterances"] == 2
    stray = broken / "LibriSpeech" / "test-clean" / "1089" / "134686" / "1089-134686-0099.flac"
    soundfile.write(stray, [0.0] * 1600, 16000)
    result = subprocess.run([sys.executable, "-m", "speechssl", "prepare", "librispeech", str(broken),
                             "--output-dir", str(tmp_path / "c"), "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 1 and "1089-134686-0099.flac" in result.stderr


def test_recipe_prepares_pretrains_finetunes_two_splits_and_decodes_with_a_4gram(corpus, tmp_path):
    root, counts = corpus
    conf = f"""
CORPUS_DIR={root}
DATA={tmp_path}/data
LIBRILIGHT_FOLD=0
NUM_GPUS=1
PRETRAIN_CONFIG=recipes/synthetic/configs.py:pretrain_tiny
PRETRAIN_MANIFEST=train-clean-100
PRETRAIN_SET="{TOY_TRAINING}"
FINETUNE_SPLITS="10min 1h"
FINETUNE_CONFIG=recipes/librispeech/configs.py:finetune_{{split}}
FINETUNE_SET="{TOY_TRAINING}"
EVAL_SETS="dev-clean dev-other test-clean test-other"
LM=build
LM_ORDER=4
LM_TEXT={tmp_path}/data/train-clean-100.wrd
BEAM_SIZE=10
LM_WEIGHT=2.0
WORD_SCORE=-1.0
SEED=1
"""
    result, exp = run_recipe("librispeech", conf, tmp_path, "--stage", "1")
    for stage in ("prepare", "pretrain", "finetune", "lm", "evaluate"):
        assert (exp / f".done.{stage}").exists(), stage
    for split in ("10min", "1h"):
        run_config = json.loads((exp / f"finetune_{split}" / "config.json").read_text())
        assert run_config["data"]["train_manifest"].endswith(f"train-{split}.tsv")
        assert run_config["finetune"]["freeze_encoder_updates"] == 10_000  # the real split config, shrunk only in time
        for decoder in ("greedy", "4gram"):
            for name in ("dev-clean", "dev-other", "test-clean", "test-other"):
                wer = json.loads((exp / "eval" / split / decoder / name / "wer.json").read_text())
                assert wer["utterances"] == counts[name] and wer["failed"] == []
    assert "\\4-grams:" in (exp / "lm" / "4-gram.arpa").read_text()
    results = (exp / "results.md").read_text()
    assert "| 10min/4gram |" in results and "| 1h/greedy |" in results and "test-other WER %" in results
