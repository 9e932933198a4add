import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

transformers = pytest.importorskip("transformers")

from speechssl import config  # noqa: E402
from speechssl.audio import load_audio  # noqa: E402
from speechssl.convert.huggingface import config_to_hf  # noqa: E402
from speechssl.data.manifest import Manifest  # noqa: E402
from speechssl.inference.transcribe import Transcriber, Transcript  # noqa: E402
from speechssl.decoding.timestamps import Word  # noqa: E402
from speechssl.inference.transcript_writers import cues, render  # noqa: E402
from speechssl.model import Wav2Vec2ForCTC  # noqa: E402
from speechssl.testing import large_style  # noqa: E402
from speechssl.text.tokenizer import CharTokenizer  # noqa: E402

LETTERS = list("ETAONIHSRDLUMWCFGYPBVK'XJQZ")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "speechssl", *args], capture_output=True, text=True)


def save_hf_ctc(directory, vocab: dict, seed=0):
    """A transformers Wav2Vec2ForCTC with random weights, its tokenizer and feature extractor."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    pad = "[PAD]" if "[PAD]" in vocab else "<pad>"
    unk = "[UNK]" if "[UNK]" in vocab else "<unk>"
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(directory / "vocab.json"), pad_token=pad, unk_token=unk)
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    cfg = config_to_hf(large_style(vocab_size=len(tokenizer)), "ctc")
    cfg["pad_token_id"] = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**cfg)).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    extractor.save_pretrained(directory)
    return model, tokenizer, extractor


def corpus_files(corpus, n=5):
    manifest = Manifest.read(corpus / "test.tsv")
    return [manifest.root / u.path for u in manifest.utterances[:n]]


@pytest.mark.parametrize("layout", ["fairseq_port", "pad_last"])
def test_transcribe_cli_gives_transformers_greedy_text_exactly(synthetic_corpus, tmp_path, layout):
    if layout == "fairseq_port":  # facebook/wav2vec2-base-960h: <pad> (the blank) at 0
        vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(LETTERS)}}
    else:  # the community recipe: letters first, [UNK] and [PAD] (the blank) last, <s> </s> added
        vocab = {c: i for i, c in enumerate(["|"] + LETTERS)}
        vocab["[UNK]"], vocab["[PAD]"] = len(vocab), len(vocab) + 1
    hf_dir = tmp_path / "hf"
    model, tokenizer, extractor = save_hf_ctc(hf_dir, vocab)
    files = corpus_files(synthetic_corpus)
    expected = {}
    for path in files:
        audio, _ = soundfile.read(path, dtype="float32")
        inputs = extractor(audio, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            ids = model(inputs.input_values).logits.argmax(-1)
        expected[path.stem] = tokenizer.batch_decode(ids)[0]
    result = run_cli("transcribe", str(hf_dir), *map(str, files), "--no-progress")
    assert result.returncode == 0, result.stderr
    ours = dict(line.split("\t", 1) for line in result.stdout.splitlines())
    assert ours == expected
    assert all(len(t) > 10 for t in expected.values())  # random weights still emit plenty of letters


def long_audio(corpus, seconds):
    """Real speech: the corpus's utterances end to end (repeated if the corpus is shorter)."""
    paths = [m.root / u.path for split in ("train_unlabeled", "dev", "test") for m in [Manifest.read(corpus / f"{split}.tsv")]
             for u in m.utterances]
    clips, total = [], 0
    while total < seconds * 16000:
        clips.append(load_audio(paths[len(clips) % len(paths)]))
        total += clips[-1].numel()
    return torch.cat(clips)[: seconds * 16000]


def trained_like_model(num_layers=2, norm="layer"):
    """A CTC model whose head separates classes clearly (random, but confident); ``norm="layer"``
    is LARGE-style, ``"group"`` the tiny BASE-style stack (conv 0 normalized over time)."""
    tokenizer = CharTokenizer.build(["THE QUICK BROWN FOX JUMPS OVER A LAZY DOG"])
    torch.manual_seed(1)
    architecture = large_style(num_layers) if norm == "layer" else config.override(config.tiny(), {"transformer.num_layers": num_layers})
    model = Wav2Vec2ForCTC(config.override(architecture, {"vocab_size": len(tokenizer)})).eval()
    with torch.no_grad():
        model.ctc_head.weight.mul_(20.0)
    model.tokenizer = tokenizer
    return model


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_chunked_equals_unchunked_on_a_60_s_file(synthetic_corpus, norm):
    """Without attention every frame sees at most +-1.3 s (the positional conv), less than half
    the overlap: stitching must then reproduce the one-pass output exactly, which checks the
    window plan, the frame bookkeeping and (group norm) the utterance-level conv statistics.
    With attention, frames see less context than in one pass; docs/recognition.md measures
    that on a trained model."""
    audio = long_audio(synthetic_corpus, 60)
    assert audio.numel() == 60 * 16000
    model = trained_like_model(num_layers=0, norm=norm)
    whole = Transcriber(model, window_seconds=None, timestamps="none")
    chunked = Transcriber(model, window_seconds=20.0, overlap_seconds=5.0, timestamps="none")
    a, b = whole.utterance_log_probs(audio), chunked.utterance_log_probs(audio)
    assert a.shape == b.shape == (2999, len(model.tokenizer))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)
    text = whole.transcribe([audio])[0].text
    assert text == chunked.transcribe([audio])[0].text and len(text) > 50


def test_segmented_alignment_equals_one_alignment(synthetic_corpus):
    audio = long_audio(synthetic_corpus, 40)
    model = trained_like_model()
    one = Transcriber(model, window_seconds=None, align_seconds=1000.0).transcribe([audio])[0]
    pieces = Transcriber(model, window_seconds=None, align_seconds=3.0).transcribe([audio])[0]
    assert one.text == pieces.text and len(one.words) == len(pieces.words) > 5
    starts = np.array([w.start for w in one.words]) - np.array([w.start for w in pieces.words])
    assert np.abs(starts).max() <= 0.2 and np.median(np.abs(starts)) == 0.0


def test_batch_equals_single(synthetic_corpus):
    files = corpus_files(synthetic_corpus, 4)
    model = trained_like_model()
    t = Transcriber(model)
    audios = [load_audio(f) for f in files]
    batched = t.transcribe(audios)
    for audio, expected in zip(audios, batched):
        single = t.transcribe([audio])[0]
        assert single.text == expected.text
        assert [(w.start, w.end) for w in single.words] == [(w.start, w.end) for w in expected.words]


def test_bad_files_are_named_and_the_rest_are_transcribed(synthetic_corpus, tmp_path):
    from speechssl.serialization import save_model

    save_model(trained_like_model(), tmp_path / "model")
    good = corpus_files(synthetic_corpus, 3)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    empty = tmp_path / "empty.flac"
    soundfile.write(empty, np.zeros(0, dtype="float32"), 16000)
    nan = tmp_path / "nan.wav"  # readable header, rejected only once loaded
    soundfile.write(nan, np.full(16000, np.nan, dtype="float32"), 16000, subtype="FLOAT")
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(100, dtype="float32"), 16000)
    out = tmp_path / "out"
    bad = [corrupt, empty, nan, short]
    result = run_cli("transcribe", str(tmp_path / "model"), *map(str, good[:2]), *map(str, bad), str(good[2]),
                     "--output-dir", str(out), "--format", "txt,json,srt,vtt,tsv", "--no-progress")
    assert result.returncode == 1
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert sorted(line.split(": ")[0] for line in failed_lines) == sorted(f"FAILED {p}" for p in bad)
    assert not any(f"{p}: {p}" in result.stderr for p in bad)  # each line names its file once
    assert all(sum(str(p) in line for line in result.stderr.splitlines()) == 1 for p in bad)  # in one line
    assert any("NaN" in line for line in failed_lines) and any("400-sample minimum" in line for line in failed_lines)
    for path in good:
        for fmt in ("txt", "json", "srt", "vtt", "tsv"):
            assert (out / f"{path.stem}.{fmt}").exists()
        record = json.loads((out / f"{path.stem}.json").read_text())
        assert record["text"] == (out / f"{path.stem}.txt").read_text().strip()
        assert all(0 <= w["start"] <= w["end"] <= record["duration"] + 0.05 for w in record["words"])
    assert not (out / "corrupt.txt").exists()


def test_subtitle_and_table_formats():
    words = [Word("HELLO", 0.5, 0.9, 0.9), Word("WORLD", 1.0, 1.4, 0.8), Word("AGAIN", 4.0, 4.5, 0.7)]
    t = Transcript("x", "HELLO WORLD AGAIN", 5.0, words)
    assert [len(c) for c in cues(words)] == [2, 1]  # the 2.6 s pause starts a new cue
    assert render(t, "srt") == "1\n00:00:00,500 --> 00:00:01,400\nHELLO WORLD\n\n2\n00:00:04,000 --> 00:00:04,500\nAGAIN\n"
    assert render(t, "vtt").startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.400\nHELLO WORLD\n")
    assert render(t, "tsv").splitlines()[1] == "0.500\t0.900\tHELLO\t0.900"
    assert json.loads(render(t, "json"))["words"][2] == {"text": "AGAIN", "start": 4.0, "end": 4.5, "confidence": 0.7}


def test_python_api_takes_paths_arrays_and_models(synthetic_corpus, tmp_path):
    import speechssl
    from speechssl.serialization import save_model

    model = trained_like_model()
    save_model(model, tmp_path / "m")
    path = corpus_files(synthetic_corpus, 1)[0]
    from_path = speechssl.transcribe(str(tmp_path / "m"), str(path))
    from_array = speechssl.transcribe(model, load_audio(path).numpy())
    assert isinstance(from_path, Transcript) and from_path.text == from_array.text
    many = speechssl.transcribe(model, [str(path), str(path)])
    assert [t.text for t in many] == [from_path.text] * 2
    with pytest.raises(ValueError, match="CTC model"):
        speechssl.transcribe(speechssl.load_model(str(tmp_path / "m")).encoder, str(path))
    assert os.path.exists(path)


def test_evaluate_cli_scores_and_keeps_every_hypothesis(synthetic_corpus, tmp_path):
    from speechssl.serialization import save_model
    from speechssl.text.scoring import error_counts

    tokenizer = CharTokenizer.build(u.text for u in Manifest.read(synthetic_corpus / "dev.tsv").utterances)
    model = Wav2Vec2ForCTC(config.override(large_style(), {"vocab_size": len(tokenizer)})).eval()
    model.tokenizer = tokenizer
    save_model(model, tmp_path / "model")
    result = run_cli("evaluate", str(tmp_path / "model"), str(synthetic_corpus / "test.tsv"), "--output-dir",
                     str(tmp_path / "greedy"), "--no-progress")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "greedy" / "wer.json").read_text())
    rows = (tmp_path / "greedy" / "hypotheses.tsv").read_text().splitlines()[1:]
    assert len(rows) == report["utterances"] == len(Manifest.read(synthetic_corpus / "test.tsv"))
    errors = words = 0
    for row in rows:
        _, _, _, _, _, reference, hypothesis, failed = row.split("\t")
        counts = error_counts(reference, hypothesis)
        errors, words = errors + counts.word_errors, words + counts.words
    assert abs(report["wer"] - 100 * errors / words) < 1e-3
    assert f"WER {report['wer']:.2f}" in result.stdout
    # the same through beam search with an LM built from transcripts by the CLI
    assert run_cli("build-lm", str(synthetic_corpus / "dev.wrd"), "--output", str(tmp_path / "lm.arpa"), "--order", "2").returncode == 0
    with_lm = run_cli("evaluate", str(tmp_path / "model"), str(synthetic_corpus / "test.tsv"), "--lm", str(tmp_path / "lm.arpa"),
                      "--beam-size", "5", "--output-dir", str(tmp_path / "lm"), "--no-progress")
    assert with_lm.returncode == 0, with_lm.stderr
    lm_words = {w for row in (tmp_path / "lm" / "hypotheses.tsv").read_text().splitlines()[1:] for w in row.split("\t")[6].split()}
    vocabulary = set((synthetic_corpus / "dev.wrd").read_text().split())
    assert lm_words <= vocabulary  # lexicon decoding only spells words the LM knows


def test_alignment_segments_stay_bounded_inside_long_words(monkeypatch):
    """A model that never emits a word boundary still aligns in bounded segments (torchaudio's
    aligner crashes past 2^31 frames x units), and every unit gets its span in order."""
    from speechssl.decoding import timestamps
    from speechssl.decoding.greedy import TokenPath

    model = trained_like_model()
    transcriber = Transcriber(model, align_seconds=2.0)  # 100 frames
    T, letters = 3000, [model.tokenizer.index[c] for c in "THEQUICK"]
    frames = list(range(5, T - 5, 7))  # one letter every 7 frames, no "|": a single 3000-frame word
    tokens = [letters[i % len(letters)] for i in range(len(frames))]
    log_probs = torch.full((T, len(model.tokenizer)), -10.0)
    log_probs[:, 0] = 0.0
    for f, t in zip(frames, tokens):
        log_probs[f, 0], log_probs[f, t] = -10.0, 0.0
    seen = []
    original = timestamps.token_spans
    monkeypatch.setattr("speechssl.inference.transcribe.token_spans",
                        lambda lp, toks: seen.append(lp.shape[0]) or original(lp, toks))
    spans = transcriber._aligned_spans(log_probs.log_softmax(-1), TokenPath(tokens, frames))
    assert len(seen) > 10 and max(seen) <= 2 * 100 + 10
    assert [s for s, _, _ in spans] == frames


def test_int8_quantizes_only_the_transformer_linears_and_keeps_the_transcripts(synthetic_corpus, tmp_path):
    from speechssl.inference.quantize import quantize_int8
    from speechssl.serialization import save_model

    model = trained_like_model()
    files = corpus_files(synthetic_corpus, 4)
    audios = [load_audio(f) for f in files]
    fp32 = Transcriber(model).transcribe(audios)
    quantized = quantize_int8(trained_like_model())
    layer = quantized.encoder.transformer.layers[0]
    assert "quantized" in type(layer.fc1).__module__ and "quantized" in type(layer.attention.qkv).__module__
    assert type(quantized.ctc_head) is torch.nn.Linear and type(quantized.encoder.projection) is torch.nn.Linear
    assert quantized.encoder.feature_encoder.conv_layers[0].conv.weight.dtype == torch.float32
    with torch.inference_mode():
        reference, approximate = model(audios[0][None]).logits, quantized(audios[0][None]).logits
    assert (approximate - reference).abs().max() < 0.05 * reference.abs().max()
    # a random model's transcripts of speech are long and fragile: int8 may flip a few characters
    from speechssl.text.scoring import error_counts

    counts = [error_counts(a.text, b.text) for a, b in zip(fp32, Transcriber(quantized).transcribe(audios))]
    assert sum(c.char_errors for c in counts) < 0.05 * sum(c.chars for c in counts)
    save_model(model, tmp_path / "model")
    result = run_cli("transcribe", str(tmp_path / "model"), str(files[0]), "--quantize", "int8", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\t", 1)[1].strip() == Transcriber(quantized).transcribe(audios[:1])[0].text
