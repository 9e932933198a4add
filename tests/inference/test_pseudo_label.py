import math
import subprocess
import sys

import pytest
import torch

from speechssl import config
from speechssl.audio import load_audio
from speechssl.data.manifest import Manifest
from speechssl.inference.pseudo_label import pseudo_label, select_confident
from speechssl.inference.transcribe import Transcriber
from speechssl.model import Wav2Vec2ForCTC
from speechssl.serialization import save_model
from speechssl.text.tokenizer import CharTokenizer


def confident_random_model():
    """A tiny CTC model whose head separates classes clearly: random, but it emits letters."""
    tokenizer = CharTokenizer.build(["THE QUICK BROWN FOX JUMPS OVER A LAZY DOG"])
    torch.manual_seed(1)
    model = Wav2Vec2ForCTC(config.override(config.tiny(), {"vocab_size": len(tokenizer)})).eval()
    with torch.no_grad():
        model.ctc_head.weight.mul_(20.0)
    model.tokenizer = tokenizer
    return model


def test_select_confident_keeps_the_top_share_of_non_empty_transcripts():
    texts = {"a": ("X", 0.9), "b": ("Y", 0.5), "c": ("", 0.99), "d": ("Z W", 0.7), "e": ("V", 0.1)}
    assert select_confident(texts, 1.0) == {"a", "b", "d", "e"}  # the empty one never
    assert select_confident(texts, 0.5) == {"a", "d"}
    assert select_confident(texts, 0.3) == {"a", "d"}  # ceil(0.3 * 4) = 2
    with pytest.raises(ValueError, match="keep_fraction"):
        select_confident(texts, 0.0)


def test_pseudo_labels_are_the_single_utterance_transcripts_most_confident_first(synthetic_corpus, tmp_path):
    transcriber = Transcriber(confident_random_model(), timestamps="none")
    unlabeled = Manifest.read(synthetic_corpus / "train_unlabeled.tsv")
    labeled = Manifest.read(synthetic_corpus / "train_labeled.tsv")
    report = pseudo_label(transcriber, synthetic_corpus / "train_unlabeled.tsv", tmp_path / "pl.tsv",
                          keep_fraction=0.5, include=[synthetic_corpus / "train_labeled.tsv"], batch_seconds=8.0,
                          progress=False)

    # each utterance alone: the batched, padded pass must give the same text and confidence
    single = {}
    for u in unlabeled.utterances:
        (t,) = transcriber.transcribe([load_audio(unlabeled.root / u.path)], [u.id])
        single[u.id] = t
    labeled_ids = {u.id for u in labeled.utterances}  # train_unlabeled holds the labeled audio too
    non_empty = [i for i, t in single.items() if t.text.split() and i not in labeled_ids]
    assert len(non_empty) >= 4, "the test model should emit letters"

    out = Manifest.read(tmp_path / "pl.tsv")
    assert out.labeled and out.root == unlabeled.root
    assert [(u.path, u.text) for u in out.utterances[: len(labeled)]] == [(u.path, u.text) for u in labeled.utterances]
    kept = out.utterances[len(labeled):]
    assert report.included == len(labeled) and report.kept == len(kept) == math.ceil(0.5 * len(non_empty))
    order = [u.id for u in unlabeled.utterances]
    assert [u.id for u in kept] == [i for i in order if i in {k.id for k in kept}]  # manifest order
    for u in kept:
        assert u.text == single[u.id].text
    kept_ids = {u.id for u in kept}
    lowest_kept = min(single[i].confidence for i in kept_ids)
    assert all(single[i].confidence <= lowest_kept + 1e-6 for i in non_empty if i not in kept_ids)
    assert report.min_kept_confidence == pytest.approx(lowest_kept, abs=1e-5)
    assert all(0.0 < t.confidence <= 1.0 for t in single.values())


def test_cli_writes_the_manifest_and_rejects_an_unlabeled_include_in_one_line(synthetic_corpus, tmp_path):
    save_model(confident_random_model(), tmp_path / "model")
    run = [sys.executable, "-m", "speechssl", "pseudo-label", str(tmp_path / "model"),
           str(synthetic_corpus / "train_unlabeled.tsv"), "--no-progress"]
    ok = subprocess.run(run + ["--output", str(tmp_path / "all.tsv")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "transcripts kept" in ok.stdout
    assert (tmp_path / "all.wrd").exists() and (tmp_path / "all.ltr").exists()
    bad = subprocess.run(run + ["--output", str(tmp_path / "x.tsv"), "--include", str(synthetic_corpus / "train_unlabeled.tsv")],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("error:") and "train_unlabeled.tsv" in bad.stderr
