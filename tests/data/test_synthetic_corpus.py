import json

import soundfile

from speechssl.data.corpora.synthetic import TEST_VARIANTS, plan_corpus
from speechssl.data.manifest import Manifest


def test_plan_is_deterministic_and_test_voices_are_held_out():
    a = plan_corpus(0.2, seed=1, labeled_fraction=0.1, dev_fraction=0.05, test_fraction=0.05)
    assert a == plan_corpus(0.2, seed=1, labeled_fraction=0.1, dev_fraction=0.05, test_fraction=0.05)
    assert a != plan_corpus(0.2, seed=2, labeled_fraction=0.1, dev_fraction=0.05, test_fraction=0.05)
    voices = {split: {s.speaker for s in a if s.split == split} for split in ("train", "train_labeled", "dev", "test")}
    assert not voices["test"] & (voices["train"] | voices["train_labeled"] | voices["dev"])
    assert not voices["dev"] & (voices["train"] | voices["train_labeled"])
    assert all(s.speaker.split("+")[1] in TEST_VARIANTS for s in a if s.split == "test")


def test_corpus_files_manifests_and_word_times(synthetic_corpus):
    summary = json.loads((synthetic_corpus / "corpus.json").read_text())["splits"]
    assert summary["train_unlabeled"]["utterances"] > summary["train_labeled"]["utterances"] > 0
    for split in ("train_labeled", "dev", "test"):
        m = Manifest.read(synthetic_corpus / f"{split}.tsv")
        assert m.labeled and len(m) == summary[split]["utterances"]
        info = soundfile.info(m.audio_path(0))
        assert info.samplerate == 16000 and info.channels == 1 and info.frames == m[0].num_samples
        words = [json.loads(line) for line in (synthetic_corpus / f"{split}.words.jsonl").read_text().splitlines()]
        timed = total = 0
        for record, utt in zip(words, m.utterances):
            transcript, times = utt.text.split(), iter(utt.text.split())
            assert all(w in times for w, _ in record["words"]), "timed words must follow the transcript's order"
            starts = [t for _, t in record["words"]]
            assert starts == sorted(starts) and starts[-1] < utt.seconds
            timed, total = timed + len(starts), total + len(transcript)
        assert timed / total > 0.8  # espeak merges a few function words ("in the") into one event
    unlabeled = Manifest.read(synthetic_corpus / "train_unlabeled.tsv")
    assert not unlabeled.labeled
    symbols = [line.split()[0] for line in (synthetic_corpus / "dict.ltr.txt").read_text().splitlines()]
    assert "|" in symbols and "E" in symbols


def test_preparing_again_is_a_no_op(synthetic_corpus):
    from speechssl.data.corpora.synthetic import prepare_synthetic

    stamp = (synthetic_corpus / "corpus.json").stat().st_mtime_ns
    prepare_synthetic(synthetic_corpus, hours=0.02, seed=3, labeled_fraction=0.2, dev_fraction=0.15, test_fraction=0.15,
                      progress=False)
    assert (synthetic_corpus / "corpus.json").stat().st_mtime_ns == stamp
