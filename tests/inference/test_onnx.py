"""ONNX export and the onnxruntime backend: numeric parity with PyTorch, the shared pipeline, int8, errors."""

import importlib.util
import json

import numpy as np
import onnx
import pytest
import soundfile
import torch

from speechssl import config
from speechssl.audio import load_audio
from speechssl.inference.backend import TorchBackend
from speechssl.inference.features import encode_batch, extract_features
from speechssl.inference.onnx_export import INSTALL_HINT, export_onnx, require_onnx
from speechssl.inference.onnx_runtime import OnnxBackend
from speechssl.inference.transcribe import Transcriber
from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining
from speechssl.serialization import save_model
from speechssl.smoke import synthesize_test_signal
from speechssl.testing import base_style, large_style, random_batch
from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

TOKENIZER = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
LENGTHS = [6_000, 23_456, 40_000]  # 0.4 s, 1.5 s, 2.5 s


def ctc_model(norm: str, num_layers: int = 2, sharp: bool = False) -> Wav2Vec2ForCTC:
    """Random weights (logits of order 1); ``sharp``: a head scaled so that the greedy text has
    plenty of letters (logits of order 50)."""
    cfg = base_style(num_layers) if norm == "group" else large_style(num_layers)
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(config.override(cfg, {"vocab_size": len(TOKENIZER)})).eval()
    if sharp:
        with torch.no_grad():
            model.ctc_head.weight.mul_(20.0)
    model.tokenizer = TOKENIZER
    return model


@pytest.fixture(scope="module", params=["group", "layer"])
def exported(request, tmp_path_factory):
    """(PyTorch model, its fp32 export on onnxruntime), with layers conv, 1 and final as outputs too."""
    model = ctc_model(request.param)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx", layers="conv,1,final")
    return model, OnnxBackend(path, threads=2)


def valid_max_diff(a: torch.Tensor, b: torch.Tensor, lengths: torch.Tensor) -> float:
    return max(float((a[i, :n] - b[i, :n]).abs().max()) for i, n in enumerate(lengths.tolist()))


def test_fp32_logits_equal_pytorch_at_three_lengths_and_on_a_padded_batch(exported):
    model, onnx_model = exported
    torch_model = TorchBackend(model)
    for n in LENGTHS:
        waveform, lengths = random_batch([n], seed=n)
        ours, frames = onnx_model.run(waveform, lengths, ["logits"])
        ref, ref_frames = torch_model.run(waveform, lengths, ["logits"])
        assert ours["logits"].shape == ref["logits"].shape and torch.equal(frames, ref_frames)
        assert valid_max_diff(ours["logits"], ref["logits"], frames) < 1e-4
    waveform, lengths = random_batch(LENGTHS, seed=1)
    ours, frames = onnx_model.run(waveform, lengths, ["logits", "conv", "1", "final"])
    ref, ref_frames = torch_model.run(waveform, lengths, ["logits"])
    assert torch.equal(frames, ref_frames) and frames.tolist() == [18, 73, 124]
    assert valid_max_diff(ours["logits"], ref["logits"], frames) < 1e-4
    layers, _ = torch_model.run(waveform, lengths, ["conv", "1", "final"])
    for name in ("conv", "1", "final"):
        assert valid_max_diff(ours[name], layers[name], frames) < 1e-4, name
    # padding-correct: the shortest row of the batch equals that utterance alone
    alone, _ = onnx_model.run(waveform[:1, : LENGTHS[0]], lengths[:1], ["logits"])
    assert valid_max_diff(ours["logits"][:1], alone["logits"], frames[:1]) < 1e-5


def test_windows_of_a_long_utterance_run_the_same_pipeline(exported, monkeypatch):
    """Windowed transcription and features through onnxruntime equal PyTorch's (group norm: the
    embedded conv-0 statistics graph gives the utterance's statistics to every window)."""
    model, onnx_model = exported
    audio = random_batch([80_000], seed=5)[0][0]
    options = dict(window_seconds=2.0, overlap_seconds=0.5, windows_per_batch=2)
    ours = Transcriber(onnx_model, **options).utterance_log_probs(audio)
    ref = Transcriber(model, **options).utterance_log_probs(audio)
    assert ours.shape == ref.shape == (249, len(TOKENIZER))
    assert float((ours - ref).abs().max()) < 1e-4
    features = extract_features(onnx_model, audio, "conv,final", window_seconds=2.0, overlap_seconds=0.5)
    ref_features = extract_features(model, audio, "conv,final", window_seconds=2.0, overlap_seconds=0.5)
    for name, values in features.layers.items():
        assert float((values - ref_features.layers[name]).abs().max()) < 1e-4
    if model.cfg.feature_encoder.norm == "group":
        stats, ref_stats = onnx_model.utterance_norm_stats(audio), TorchBackend(model).utterance_norm_stats(audio)
        torch.testing.assert_close(stats.mean, ref_stats.mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats.var, ref_stats.var, rtol=1e-5, atol=1e-6)
        monkeypatch.setattr(onnx_model, "utterance_norm_stats", lambda audio: None)  # each window alone instead
        alone = Transcriber(onnx_model, **options).utterance_log_probs(audio)
        assert float((alone - ref).abs().max()) > 1e-3  # so the statistics matter, and reached the graph
    else:
        assert onnx_model.utterance_norm_stats(audio) is None


def test_memory_options_share_one_arena_release_it_after_the_statistics_and_keep_outputs(exported):
    """Both sessions use the process's shared CPU arena; the conv-0 statistics hand their arena
    regions back on the last chunk only; and the options leave outputs bit for bit as onnxruntime's
    defaults give them."""
    import onnxruntime as ort

    model, onnx_model = exported
    sessions = [onnx_model.session] + ([onnx_model.stats_session] if onnx_model.stats_session else [])
    for session in sessions:
        assert session.get_session_options().get_session_config_entry("session.use_env_allocators") == "1"
    assert onnx_model.release_arena.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
    waveform, lengths = random_batch(LENGTHS, seed=2)
    ours, _ = onnx_model.run(waveform, lengths, ["logits", "conv", "final"])
    plain = ort.InferenceSession(onnx_model.name, providers=["CPUExecutionProvider"])
    plain_backend = type(onnx_model).__new__(type(onnx_model))
    plain_backend.__dict__.update(onnx_model.__dict__, session=plain)
    ref, _ = plain_backend.run(waveform, lengths, ["logits", "conv", "final"])
    for name in ("logits", "conv", "final"):
        assert torch.equal(ours[name], ref[name]), name
    if onnx_model.stats_session is None:
        return
    calls = []
    stats_session = onnx_model.stats_session

    class Recorder:
        def run(self, names, feeds, run_options=None):
            calls.append(run_options)
            return stats_session.run(names, feeds, run_options)

    audio = random_batch([1_000_000], seed=3)[0][0]  # several chunks of 16,000 frames
    expected = onnx_model.utterance_norm_stats(audio)
    onnx_model.stats_session = Recorder()
    try:
        stats = onnx_model.utterance_norm_stats(audio)
    finally:
        onnx_model.stats_session = stats_session
    assert len(calls) > 1 and calls[-1] is onnx_model.release_arena and all(c is None for c in calls[:-1])
    assert torch.equal(stats.mean, expected.mean) and torch.equal(stats.var, expected.var)


def test_encoder_export_gives_every_layer(tmp_path):
    torch.manual_seed(0)
    pretraining = Wav2Vec2ForPretraining(base_style(2)).eval()  # a pretraining checkpoint exports its encoder
    encoder = pretraining.encoder
    onnx_model = OnnxBackend(export_onnx(pretraining, tmp_path / "encoder.onnx"))
    assert onnx_model.layers == ["0", "1", "2"] and not onnx_model.is_ctc and onnx_model.tokenizer is None
    clips = [random_batch([n], seed=n)[0][0] for n in (9_000, 20_000)]
    ours, ref = encode_batch(onnx_model, clips, ["0", "2"]), encode_batch(encoder, clips, ["0", "2"])
    for a, b in zip(ours, ref):
        for name in ("0", "2"):
            assert a[name].shape == b[name].shape and float((a[name] - b[name]).abs().max()) < 1e-4
    with pytest.raises(ValueError, match="layer conv not exported .* export again with --layers"):
        extract_features(onnx_model, clips[0], "conv")
    with pytest.raises(ValueError, match=r"encoder.onnx \(fine-tune it first\)"):
        Transcriber(onnx_model)


def test_metadata_makes_the_file_self_contained(exported):
    model, onnx_model = exported
    props = {p.key: p.value for p in onnx.load(onnx_model.name).metadata_props}
    meta = json.loads(props["speechssl"])
    assert props["sample_rate"] == "16000" and float(props["frame_rate"]) == 50.0
    assert props["normalize_waveform"] == str(model.cfg.normalize_waveform).lower()
    assert meta["tokenizer"]["tokens"] == TOKENIZER.tokens and meta["opset"] == 17 and meta["int8"] is False
    assert meta["stride"] == 320 and meta["receptive_field"] == 400 and meta["layers"] == ["conv", "1", "final"]
    assert ("conv0_stats_graph" in meta) == (model.cfg.feature_encoder.norm == "group")
    graph = onnx.load(onnx_model.name).graph
    ops = {n.op_type for n in graph.node}
    assert not ops & {"Dropout", "RandomUniform", "RandomUniformLike", "RandomNormal", "Bernoulli"}
    assert "IsNaN" not in ops  # attention without the stock export's all-masked-row guard (onnx_export._attention)

    def dims(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    inputs, outputs = dims(graph.input), dims(graph.output)
    assert inputs["waveform"] == ["batch", "samples"] and inputs["lengths"] == ["batch"]
    assert outputs["logits"] == ["batch", "frames", len(TOKENIZER)] and outputs["frame_lengths"] == ["batch"]


def save_hf_ctc(directory):
    """A transformers Wav2Vec2ForCTC (LARGE-style, random weights) with vocab.json and its feature extractor."""
    import transformers

    from speechssl.convert.huggingface import config_to_hf

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{t: i + 4 for i, t in enumerate(TOKENIZER.tokens[4:])}}
    directory.mkdir(parents=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    transformers.Wav2Vec2CTCTokenizer(str(directory / "vocab.json")).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(directory)
    cfg = config_to_hf(large_style(2, vocab_size=len(vocab)), "ctc")
    torch.manual_seed(3)
    model = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**{**cfg, "pad_token_id": 0})).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    model.save_pretrained(directory)
    return model


def test_transformers_model_exports_and_transcribes_identically_through_the_cli(tmp_path, capsys):
    from speechssl.cli import main
    from speechssl.convert.huggingface import load_huggingface

    save_hf_ctc(tmp_path / "hf")
    files = []
    for i, seconds in enumerate((1.7, 3.1, 4.4)):
        files.append(tmp_path / f"clip{i}.wav")
        soundfile.write(files[-1], synthesize_test_signal(seconds, seed=i).numpy(), 16000)
    with pytest.raises(SystemExit) as done:
        main(["export-onnx", str(tmp_path / "hf"), str(tmp_path / "hf.onnx")])
    assert done.value.code == 0 and "opset 17" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["transcribe", str(tmp_path / "hf.onnx"), *map(str, files), "--output-dir", str(tmp_path / "out"),
              "--format", "json,srt", "--no-progress", "--window", "3.0", "--overlap", "1.0"])
    assert done.value.code == 0
    # the same pipeline on PyTorch: texts, word times and writers' files
    from speechssl.inference.transcribe_files import transcribe_files

    reference = Transcriber(load_huggingface(tmp_path / "hf"), window_seconds=3.0, overlap_seconds=1.0)
    transcribe_files(reference, list(map(str, files)), output_dir=tmp_path / "ref", formats=("json", "srt"), progress=False)
    for path in files:
        ours = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text())
        ref = json.loads((tmp_path / "ref" / f"{path.stem}.json").read_text())
        assert ours == ref and len(ref["text"]) > 10
        assert (tmp_path / "out" / f"{path.stem}.srt").read_text() == (tmp_path / "ref" / f"{path.stem}.srt").read_text()


def test_extract_features_cli_on_an_onnx_encoder(tmp_path, capsys):
    from speechssl.cli import main

    torch.manual_seed(0)
    encoder = Wav2Vec2Encoder(large_style(1)).eval()
    save_model(encoder, tmp_path / "encoder")
    audio = synthesize_test_signal(2.0)
    soundfile.write(tmp_path / "a.wav", audio.numpy(), 16000)
    with pytest.raises(SystemExit) as done:
        main(["export-onnx", str(tmp_path / "encoder"), str(tmp_path / "enc.onnx"), "--layers", "1,final"])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        main(["extract-features", str(tmp_path / "enc.onnx"), str(tmp_path / "a.wav"), "--output", str(tmp_path / "f"),
              "--layers", "final"])
    assert done.value.code == 0
    ours = np.load(tmp_path / "f" / "a.npy")[0]  # (layers, T, D): the one layer asked for
    ref = extract_features(encoder, load_audio(tmp_path / "a.wav"), "final").layers["final"]
    assert ours.shape == tuple(ref.shape) and np.abs(ours - ref.numpy()).max() < 1e-4
    with pytest.raises(SystemExit) as done:
        main(["extract-features", str(tmp_path / "enc.onnx"), str(tmp_path / "a.wav"), "--output", str(tmp_path / "g"),
              "--layers", "conv"])
    assert "layer conv not exported" in str(done.value.code) and "\n" not in str(done.value.code)


def test_int8_export_quantizes_the_transformer_only(tmp_path):
    model = ctc_model("group", sharp=True)
    fp32 = export_onnx(model, tmp_path / "fp32.onnx")
    int8 = export_onnx(model, tmp_path / "int8.onnx", int8=True)
    graph = onnx.load(str(int8)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("MatMulInteger") == 4 * 2  # QKV, attention output, fc1, fc2 per layer
    assert ops.count("Conv") == 7 + 1 and "ConvInteger" not in ops  # conv stack and positional conv stay fp32
    weights = {i.name: i for i in graph.initializer}
    conv_ranks = sorted(len(weights[n.input[1]].dims) for n in graph.node if n.op_type == "Conv")
    assert conv_ranks == [4] * 8  # front end and positional conv as 2-D convs (onnxruntime's NCHWc kernels)
    float_matmuls = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    shapes = {tuple(weights[n.input[1]].dims) for n in float_matmuls if n.input[1] in weights}
    assert (768, len(TOKENIZER)) in shapes and (512, 768) in shapes  # the CTC head and the feature projection
    assert all(weights[n.input[1]].data_type == onnx.TensorProto.FLOAT for n in float_matmuls if n.input[1] in weights)
    quantized_weights = 2 * sum(p.numel() for n, p in model.encoder.transformer.layers[0].named_parameters()
                                if n.endswith("weight") and p.dim() == 2)
    assert fp32.stat().st_size - int8.stat().st_size > 0.95 * 3 * quantized_weights  # 4 bytes -> 1 per weight
    quantized = OnnxBackend(int8)
    assert quantized.meta["int8"] is True
    waveform, lengths = random_batch([32_000, 20_000], seed=2)
    ours, frames = quantized.run(waveform, lengths, ["logits"])
    ref, _ = TorchBackend(model).run(waveform, lengths, ["logits"])
    scale = float(ref["logits"][0].abs().max())
    assert 0 < valid_max_diff(ours["logits"], ref["logits"], frames) < 0.2 * scale
    assert len(Transcriber(quantized).transcribe([waveform[0]])[0].text) > 10


def test_without_onnxruntime_the_commands_say_how_to_install_it(tmp_path, monkeypatch):
    from speechssl.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("onnx") else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'speechssl\[onnx\]'"):
        require_onnx()
    with pytest.raises(SystemExit) as done:
        main(["transcribe", str(tmp_path / "model.onnx"), str(tmp_path / "a.wav")])
    assert str(done.value.code) == f"error: {INSTALL_HINT}"
    save_model(ctc_model("layer", num_layers=1), tmp_path / "ctc")
    with pytest.raises(SystemExit) as done:
        main(["export-onnx", str(tmp_path / "ctc"), str(tmp_path / "ctc.onnx")])
    assert str(done.value.code) == f"error: {INSTALL_HINT}" and not (tmp_path / "ctc.onnx").exists()


def test_export_refuses_what_cannot_work(tmp_path):
    model = ctc_model("layer", num_layers=1)
    with pytest.raises(ValueError, match="opset 13: the export needs opset 17 or newer"):
        export_onnx(model, tmp_path / "m.onnx", opset=13)
    model.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        export_onnx(model, tmp_path / "m.onnx")


def test_bad_onnx_files_get_one_line_errors(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.onnx: onnxruntime cannot load it"):
        OnnxBackend(tmp_path / "junk.onnx")
    with pytest.raises(ValueError, match="missing.onnx: no such file"):
        OnnxBackend(tmp_path / "missing.onnx")
    plain = torch.nn.Linear(4, 2)
    torch.onnx.export(plain, (torch.zeros(1, 4),), str(tmp_path / "plain.onnx"), dynamo=False)
    with pytest.raises(ValueError, match="plain.onnx: an ONNX model without speechssl metadata"):
        OnnxBackend(tmp_path / "plain.onnx")
