import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from speechssl import config
from speechssl.audio import normalize_waveform
from speechssl.inference.extract import extract_to
from speechssl.inference.features import WeightedLayerSum, encode_batch, extract_features, parse_layers, window_plan
from speechssl.model import Wav2Vec2Encoder
from speechssl.testing import base_style, large_style, random_batch

transformers = pytest.importorskip("transformers")
HF_V4 = int(transformers.__version__.split(".")[0]) < 5


def test_parse_layers():
    assert parse_layers("all", 3) == ["0", "1", "2", "3"]
    assert parse_layers("conv,2-3,final,-1", 3) == ["conv", "2", "3", "final"]
    with pytest.raises(ValueError, match="outside"):
        parse_layers("7", 3)
    with pytest.raises(ValueError, match="unknown layer"):
        parse_layers("middle", 3)


@pytest.mark.parametrize("style", ["base", "large"])
def test_every_layer_equals_transformers_and_torchaudio(style, tmp_path):
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    from speechssl.convert.huggingface import config_to_hf, load_huggingface

    torch.manual_seed(0)
    cfg = base_style() if style == "base" else large_style()
    hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**config_to_hf(cfg, "encoder"))).eval()
    hf.save_pretrained(tmp_path / "hf")
    model = load_huggingface(tmp_path / "hf")  # imported, as a user would
    ta = import_huggingface_model(hf).eval()
    audio = random_batch([30000])[0][0]
    L = cfg.transformer.num_layers
    feats = extract_features(model, audio, "conv,all,final").layers
    # layer-norm models take normalized audio; transformers' processor does that outside the model
    assert model.cfg.normalize_waveform == (style == "large")
    model_input = normalize_waveform(audio) if model.cfg.normalize_waveform else audio
    with torch.no_grad():
        ref = hf(model_input[None], output_hidden_states=True)
        ta_layers, _ = ta.extract_features(model_input[None])
    torch.testing.assert_close(feats["conv"], ref.extract_features[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(feats["final"], ref.last_hidden_state[0], atol=1e-4, rtol=0)
    for n in range(L + 1):
        hf_state = ref.hidden_states[n][0]
        mine = feats["final"] if (HF_V4 and n == L) else feats[str(n)]  # docs/features.md
        torch.testing.assert_close(mine, hf_state, atol=1e-4, rtol=0, msg=lambda m: f"layer {n}: {m}")
    for n in range(1, L + 1):
        torch.testing.assert_close(feats[str(n)], ta_layers[n - 1][0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_batch_equals_single(norm):
    torch.manual_seed(0)
    model = Wav2Vec2Encoder(config.override(config.tiny(), {"feature_encoder.norm": norm})).eval()
    clips = [torch.randn(n) * 0.1 for n in (16000, 9000, 4000)]
    batched = encode_batch(model, clips, ["conv", "0", "1", "2", "final"])
    for clip, values in zip(clips, batched):
        alone = encode_batch(model, [clip], ["conv", "0", "1", "2", "final"])[0]
        for name in values:
            torch.testing.assert_close(values[name], alone[name], atol=1e-4, rtol=0)


def test_window_plan_tiles_every_frame_once():
    for seconds in (31, 60, 61.3, 125):
        n = int(seconds * 16000)
        total = (n - 400) // 320 + 1
        plan = window_plan(n, 30 * 16000, 5 * 16000, 320, 400)
        assert plan[0][2] == 0 and plan[-1][3] == total and plan[-1][1] == n
        assert all(a[3] == b[2] for a, b in zip(plan, plan[1:]))
        for start, end, keep_from, keep_to in plan:
            assert start % 320 == 0 and end - start <= 30 * 16000
            assert start // 320 <= keep_from < keep_to <= start // 320 + (end - start - 400) // 320 + 1


def test_windowed_extraction_stitches_onto_the_full_pass():
    torch.manual_seed(0)
    model = Wav2Vec2Encoder(config.override(config.tiny(), {"feature_encoder.norm": "layer", "feature_encoder.conv_bias": True})).eval()
    audio = torch.randn(16000 * 9) * 0.1  # needs three 4-second windows
    full = extract_features(model, audio, "conv,all,final", window_seconds=None)
    windowed = extract_features(model, audio, "conv,all,final", window_seconds=4.0, overlap_seconds=1.0)
    assert windowed.frame_times.shape == full.frame_times.shape
    # conv features see 25 ms: identical whichever window computes them (layer-norm extractor)
    torch.testing.assert_close(windowed.layers["conv"], full.layers["conv"], atol=1e-5, rtol=0)
    for name in ("0", "1", "2", "final"):
        assert windowed.layers[name].shape == full.layers[name].shape
    # audio that fits one window is a single pass: identical
    short = extract_features(model, audio[:48000], "all", window_seconds=4.0)
    torch.testing.assert_close(short.layers["2"], extract_features(model, audio[:48000], "all", window_seconds=None).layers["2"])
    pooled = extract_features(model, audio, "1", pool="mean", window_seconds=4.0, overlap_seconds=1.0)
    torch.testing.assert_close(pooled.layers["1"], windowed.layers["1"].mean(0))


def test_weighted_layer_sum():
    layers = torch.randn(4, 2, 7, 8)
    module = WeightedLayerSum(4)
    torch.testing.assert_close(module(layers), layers.mean(0))  # equal weights at start
    module(list(layers)).sum().backward()
    assert module.logits.grad is not None
    normed = WeightedLayerSum(4, layer_norm=True)(layers * 100)
    assert normed.std() < 2
    with pytest.raises(ValueError, match="expected 4"):
        module(layers[:3])


def _write_corpus(tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    rng = np.random.default_rng(0)
    for name, seconds in (("a", 1.0), ("b", 2.5), ("c", 7.0)):
        soundfile.write(audio_dir / f"{name}.flac", (rng.standard_normal(int(seconds * 16000)) * 0.1).astype("float32"), 16000)
    (audio_dir / "broken.flac").write_bytes(b"\x00" * 500)
    return audio_dir


@pytest.mark.parametrize("fmt", ["npy", "pt", "hdf5"])
def test_writers_round_trip_and_bad_files_are_skipped(fmt, tmp_path):
    torch.manual_seed(0)
    model = Wav2Vec2Encoder(config.tiny()).eval()
    audio_dir = _write_corpus(tmp_path)
    out = tmp_path / "out"
    report = extract_to(model, [str(audio_dir)], str(out), layers="conv,1,2", fmt=fmt, window_seconds=5.0,
                        overlap_seconds=1.0, progress=False)
    assert report.written == 3 and [p for p, _ in report.failed] == [str(audio_dir / "broken.flac")]
    for name in ("a", "b", "c"):
        expected = extract_features(model, torch.from_numpy(soundfile.read(audio_dir / f"{name}.flac", dtype="float32")[0]),
                                    "conv,1,2", window_seconds=5.0, overlap_seconds=1.0)
        if fmt == "npy":
            meta = json.loads((out / "features.json").read_text())
            assert meta["layers"] == ["conv", "1", "2"] and meta["frame_rate"] == 50.0
            stacked = torch.from_numpy(np.load(out / f"{name}.npy"))
            got = {"conv": torch.from_numpy(np.load(out / f"{name}.conv.npy")), "1": stacked[0], "2": stacked[1]}
        elif fmt == "pt":
            saved = torch.load(out / f"{name}.pt")
            got = saved["layers"]
            assert saved["frame_rate"] == 50.0 and torch.equal(saved["frame_times"], expected.frame_times)
        else:
            import h5py

            with h5py.File(out / "features.h5") as f:
                assert json.loads(f.attrs["layers"]) == ["conv", "1", "2"] and f.attrs["frame_rate"] == 50.0
                got = {k: torch.from_numpy(f[name][k][()]) for k in ("conv", "1", "2")}
        for k in ("conv", "1", "2"):
            torch.testing.assert_close(got[k], expected.layers[k], atol=1e-5, rtol=0)


def test_cli_reports_failures_with_exit_code(tmp_path):
    from speechssl.serialization import save_model

    save_model(Wav2Vec2Encoder(config.tiny()), tmp_path / "model")
    audio_dir = _write_corpus(tmp_path)
    result = subprocess.run([sys.executable, "-m", "speechssl", "extract-features", str(tmp_path / "model"), str(audio_dir),
                             "--output", str(tmp_path / "out"), "--pool", "mean"], capture_output=True, text=True)
    assert result.returncode == 1 and "broken.flac" in result.stderr
    assert np.load(tmp_path / "out" / "c.npy").shape == (3, 96)  # layers 0, 1, 2, mean-pooled
