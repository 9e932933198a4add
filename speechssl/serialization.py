"""speechssl's own model format: a directory with ``speechssl.json`` and ``model.safetensors``.

The JSON holds the model kind and the full config, so a saved model rebuilds itself alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import safetensors.torch
import torch
from torch import nn

from speechssl import __version__
from speechssl.config import Wav2Vec2Config
from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining

Model = Union[Wav2Vec2Encoder, Wav2Vec2ForPretraining, Wav2Vec2ForCTC]

MODEL_KINDS: dict[str, type[nn.Module]] = {
    "encoder": Wav2Vec2Encoder,
    "pretraining": Wav2Vec2ForPretraining,
    "ctc": Wav2Vec2ForCTC,
}
META_FILE = "speechssl.json"
WEIGHTS_FILE = "model.safetensors"


def model_kind(model: nn.Module) -> str:
    for kind, cls in MODEL_KINDS.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"not a speechssl model: {type(model).__name__}")


def build_model(kind: str, cfg: Wav2Vec2Config) -> Model:
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODEL_KINDS)}")
    return MODEL_KINDS[kind](cfg)


def save_model(model: Model, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (config + safetensors weights) to ``directory``; ``extra`` is kept in the JSON."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    meta = {"format": "speechssl", "version": __version__, "kind": model_kind(model), "config": model.cfg.to_dict()}
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        if len(tokenizer) != model.cfg.vocab_size:
            raise ValueError(f"the tokenizer has {len(tokenizer)} classes, the CTC head {model.cfg.vocab_size}")
        meta["tokenizer"] = tokenizer.to_dict()
    meta.update(extra or {})
    (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def read_meta(directory: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(directory) / META_FILE).read_text())


def load_native(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> Model:
    meta = read_meta(directory)
    # Built without storage, then the loaded tensors are adopted as they are: peak memory is
    # one copy of the weights, not an initialized model plus the file's tensors.
    with torch.device("meta"):
        model = build_model(meta["kind"], Wav2Vec2Config.from_dict(meta["config"]))
    state = safetensors.torch.load_file(str(Path(directory) / WEIGHTS_FILE), device=str(map_location))
    model.load_state_dict(state, strict=True, assign=True)
    if "tokenizer" in meta:
        from speechssl.text.tokenizer import tokenizer_from_dict

        model.tokenizer = tokenizer_from_dict(meta["tokenizer"])
    return model.eval()

