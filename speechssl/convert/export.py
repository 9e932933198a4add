"""``speechssl convert MODEL OUT --to huggingface``: a directory ``transformers`` uses as it is.

``save_huggingface`` writes the config, safetensors weights, feature extractor and (for a
character vocabulary) the ``Wav2Vec2CTCTokenizer`` files, which is all that
``transformers.pipeline("automatic-speech-recognition", model=OUT)`` reads. This module adds the
model card (``README.md``: architecture, training data and updates, the run's validation WER,
how to use it) and says plainly what could not be exported: transformers' CTC tokenizer spells
characters, so a sentencepiece or phone vocabulary gets no tokenizer files (the weights still do).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from speechssl.convert.huggingface import save_huggingface
from speechssl.models import Resolved
from speechssl.serialization import model_kind


def tokenizer_refusal(model: nn.Module) -> str | None:
    """Why the model's vocabulary has no transformers tokenizer files (None when it has, or has none)."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or tokenizer.kind == "char":
        return None
    what = {"sentencepiece": "sentencepiece units", "unit": "whitespace-separated phone units"}.get(tokenizer.kind, tokenizer.kind)
    return (f"tokenizer not exported: the vocabulary is {what}, which transformers' Wav2Vec2CTCTokenizer (characters "
            "only) cannot express; the weights, config and feature extractor were written, and speechssl transcribes it")


def export_huggingface(model: nn.Module, directory: str | os.PathLike, source: Resolved | None = None) -> list[str]:
    """Write ``model`` as a transformers directory with a model card; returns warnings for the user."""
    directory = Path(directory)
    save_huggingface(model, directory)
    (directory / "README.md").write_text(model_card(model, directory.name, source), encoding="utf-8")
    refusal = tokenizer_refusal(model)
    return [refusal] if refusal else []


def _run_summary(run_dir: Path) -> dict[str, Any]:
    """What a training run's config and log say: data, updates, start model, validation scores."""
    summary: dict[str, Any] = {}
    config = run_dir / "config.json"
    if config.is_file():
        cfg = json.loads(config.read_text())
        summary["train"], summary["valid"] = cfg["data"]["train_manifest"], cfg["data"]["valid_manifest"]
        summary["init"] = cfg.get("finetune", {}).get("init_model") or None
    log = run_dir / "train_log.jsonl"
    if log.is_file():
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        train = [r for r in records if r["split"] == "train"]
        summary["updates"] = train[-1]["step"] if train else 0
        summary["audio_seconds"] = sum(r.get("audio_seconds", 0.0) for r in train)
        summary["scores"] = [r for r in records if r["split"] == "valid" and "wer" in r]
    return summary


def _manifest_size(path: str) -> str:
    from speechssl.data.manifest import Manifest

    try:
        manifest = Manifest.read(path)
    except (OSError, ValueError):
        return f"`{path}`"
    seconds = sum(u.num_samples for u in manifest.utterances) / 16000
    return f"`{path}` ({len(manifest.utterances)} utterances, {_duration(seconds)})"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def model_card(model: nn.Module, name: str, source: Resolved | None = None) -> str:
    from speechssl import __version__

    cfg, kind = model.cfg, model_kind(model)
    fe, tr = cfg.feature_encoder, cfg.transformer
    tokenizer = getattr(model, "tokenizer", None)
    params = sum(p.numel() for p in model.parameters())
    task = "automatic-speech-recognition" if kind == "ctc" else "feature-extraction"
    what = {"ctc": "A wav2vec 2.0 CTC speech recognizer", "pretraining": "A wav2vec 2.0 model pretrained "
            "self-supervised (with its quantizer)", "encoder": "A self-supervised wav2vec 2.0 speech encoder"}[kind]
    lines = [
        "---", "library_name: transformers", f"pipeline_tag: {task}", "tags: [wav2vec2, speechssl, audio]", "---", "",
        f"# {name}", "",
        f"{what}, exported by speechssl {__version__}" + (f" from `{source.reference}`." if source else "."), "",
        "## Architecture", "",
        "| part | setting |", "|---|---|",
        f"| parameters | {params / 1e6:.2f} M |",
        f"| feature encoder | {len(fe.conv_layers)} conv layers, {fe.output_dim} channels, {fe.norm} norm, "
        f"{fe.stride} samples ({fe.stride / 16:.0f} ms) per frame |",
        f"| transformer | {tr.num_layers} layers, width {tr.embed_dim}, {tr.num_heads} heads, feed-forward {tr.ffn_dim}, "
        f"{'pre' if tr.layer_norm_first else 'post'}-LN |",
        f"| input | 16 kHz mono{', normalized to zero mean and unit variance' if cfg.normalize_waveform else ''} |",
    ]
    if kind == "pretraining":
        lines.append(f"| quantizer | {cfg.quantizer.num_groups} groups x {cfg.quantizer.num_vars} codes |")
    if kind == "ctc":
        vocab = f"{tokenizer.kind} tokenizer" if tokenizer is not None else "no tokenizer"
        lines.append(f"| output | {cfg.vocab_size} classes ({vocab}), class 0 the CTC blank |")
    lines += ["", "## Training", ""]
    run = _run_summary(source.run_dir) if source is not None and source.run_dir is not None else {}
    if run:
        if run.get("init"):
            lines.append(f"- started from: `{run['init']}`")
        if run.get("train"):
            lines.append(f"- training data: {_manifest_size(run['train'])}")
        if run.get("valid"):
            lines.append(f"- validation data: {_manifest_size(run['valid'])}")
        if "updates" in run:
            lines.append(f"- updates: {run['updates']} ({_duration(run['audio_seconds'])} of audio seen)")
        if source.path != source.run_dir:
            lines.append(f"- exported checkpoint: `{source.path.name}` of the run `{source.run_dir}`")
    else:
        lines.append("Not recorded here: export a speechssl training run directory to include its data, "
                     "updates and validation scores.")
    scores = run.get("scores") or []
    if scores:
        lines += ["", "## Results", "", "Validation during training (greedy CTC decoding):", "",
                  "| update | WER (%) | CER (%) |", "|---|---|---|"]
        lines += [f"| {r['step']} | {r['wer']:.2f} | {r['cer']:.2f} |" for r in scores]
    lines += ["", "## Use", "", "With speechssl:", "", "```bash"]
    if kind == "ctc":
        lines += [f"speechssl transcribe {name} audio.wav", "```", "", "With transformers:", "", "```python",
                  "from transformers import pipeline", "",
                  f'asr = pipeline("automatic-speech-recognition", model="{name}")',
                  'print(asr("audio.wav")["text"])', "```"]
        if tokenizer is not None and tokenizer.kind != "char":
            lines += ["", f"This model's {tokenizer.kind} vocabulary has no transformers tokenizer: use speechssl "
                      "to transcribe, or decode the logits yourself."]
    else:
        lines += [f"speechssl extract-features {name} audio.wav --output features --layers all",
                  f"speechssl finetune --init {name} --train-manifest train.tsv --output-dir runs/ft", "```", "",
                  "With transformers:", "", "```python", "from transformers import Wav2Vec2Model", "",
                  f'model = Wav2Vec2Model.from_pretrained("{name}")', "```"]
    return "\n".join(lines) + "\n"
