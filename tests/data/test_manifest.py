import numpy as np
import pytest
import soundfile

from speechssl.data.manifest import Manifest, Utterance, letters_to_words, make_manifests, words_to_letters


def test_letters_round_trip_fairseq_convention():
    assert words_to_letters("HELLO WORLD") == "H E L L O | W O R L D |"
    assert letters_to_words("H E L L O | W O R L D |") == "HELLO WORLD"


def test_write_and_read_back_with_labels(tmp_path):
    m = Manifest(tmp_path, [Utterance("a/x.flac", 32000, "HELLO THERE"), Utterance("b/y.flac", 16000, "HI")])
    m.write(tmp_path / "train.tsv")
    lines = (tmp_path / "train.tsv").read_text().splitlines()
    assert lines[0] == str(tmp_path.resolve()) and lines[1] == "a/x.flac\t32000"
    assert (tmp_path / "train.ltr").read_text().splitlines()[1] == "H I |"
    back = Manifest.read(tmp_path / "train.tsv")
    assert back.utterances == m.utterances and back.labeled
    # a fairseq data dir with only .ltr labels reads too
    (tmp_path / "train.wrd").unlink()
    assert Manifest.read(tmp_path / "train.tsv")[0].text == "HELLO THERE"


def test_malformed_manifest_names_the_line(tmp_path):
    (tmp_path / "bad.tsv").write_text("/root\nfile.flac\tnot-a-number\n")
    with pytest.raises(ValueError, match="bad.tsv:2"):
        Manifest.read(tmp_path / "bad.tsv")


def test_scan_reports_unreadable_files_and_filters_durations(tmp_path, caplog):
    audio = tmp_path / "audio"
    (audio / "spk").mkdir(parents=True)
    for i, seconds in enumerate([0.5, 2.0, 3.0, 40.0]):
        soundfile.write(audio / "spk" / f"ok{i}.flac", np.zeros(int(seconds * 8000), "float32"), 8000)  # 8 kHz on disk
    (audio / "spk" / "corrupt.flac").write_bytes(b"garbage" * 100)
    (audio / "empty.wav").write_bytes(b"")
    counts = make_manifests(audio, tmp_path / "out", valid_percent=0.0, min_seconds=1.0, max_seconds=30.0, progress=False)
    assert counts == {"train": 2, "valid": 0, "filtered": 2, "unreadable": 2}
    assert "corrupt.flac" in caplog.text and "empty.wav" in caplog.text
    m = Manifest.read(tmp_path / "out" / "train.tsv")
    assert sorted(u.num_samples for u in m.utterances) == [32000, 48000]  # counted at 16 kHz
    assert all(m.audio_path(i).exists() for i in range(len(m)))
