"""onnxruntime backend: an ``.onnx`` from ``speechssl export-onnx`` behind the calls of a PyTorch model.

Everything the pipeline needs besides the graph comes from the file's metadata (config, tokenizer,
waveform normalization, frame geometry), so :class:`~speechssl.inference.transcribe.Transcriber`
and :func:`~speechssl.inference.features.extract_features` run it exactly as they run a
:class:`~speechssl.inference.backend.TorchBackend`: same windows, batching, decoding and writers.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import torch

from speechssl.config import Wav2Vec2Config
from speechssl.inference.backend import check_layers
from speechssl.inference.onnx_export import META_KEY, require_onnx
from speechssl.model.feature_encoder import NormStats, chunked_norm_stats


class OnnxBackend:
    """An exported speechssl model on onnxruntime.

    Args:
        path: the ``.onnx`` file.
        device: ``cpu``, or ``cuda`` when onnxruntime-gpu is installed.
        threads: onnxruntime's intra-op threads (default: its own choice, one per physical core).
    """

    def __init__(self, path: str | os.PathLike, *, device: str = "cpu", threads: int | None = None):
        require_onnx("onnxruntime")
        import onnxruntime as ort

        from speechssl.text.tokenizer import tokenizer_from_dict

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(f"{path}: device {device} needs onnxruntime-gpu (this onnxruntime runs on the CPU only)")
            providers.insert(0, "CUDAExecutionProvider")
        options = session_options(ort, threads, cpu=len(providers) == 1)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"{path}: onnxruntime cannot load it ({str(error).strip().splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if meta is None:
            raise ValueError(f"{path}: an ONNX model without speechssl metadata (make it with `speechssl export-onnx`)")
        self.meta = json.loads(meta)
        self.cfg = Wav2Vec2Config.from_dict(self.meta["config"])
        self.tokenizer = tokenizer_from_dict(self.meta["tokenizer"]) if self.meta.get("tokenizer") else None
        self.is_ctc = self.meta["kind"] == "ctc"
        self.layers: list[str] = self.meta["layers"]
        self.name = str(path)
        self.stats_session = None
        # The statistics' chunks (float64 sums over conv 0's output) leave free arena regions that
        # the windows' differently sized blocks do not reuse: the last chunk's run hands the free
        # regions back to the system (BASE, 40 s file: peak 1784 -> 1628 MiB).
        self.release_arena = ort.RunOptions()
        self.release_arena.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        if self.meta.get("conv0_stats_graph"):
            graph = base64.b64decode(self.meta["conv0_stats_graph"])
            self.stats_session = ort.InferenceSession(graph, options, providers=providers)

    def _output_name(self, name: str) -> str:
        if name == "logits":
            if not self.is_ctc:
                raise ValueError(f"{self.name}: an encoder export has no CTC logits (export a fine-tuned CTC model)")
            return "logits"
        check_layers(self, [name])
        return f"layer_{name}"

    def run(
        self, waveform: torch.Tensor, lengths: torch.Tensor, outputs: list[str], norm_stats: NormStats | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The same call as :meth:`TorchBackend.run <speechssl.inference.backend.TorchBackend.run>`."""
        names = [self._output_name(n) for n in outputs]
        feeds = {"waveform": np.ascontiguousarray(waveform.float().cpu().numpy()), "lengths": lengths.long().cpu().numpy()}
        if self.stats_session is not None:  # group norm: conv 0 by the given statistics or each row's own
            channels = self.cfg.feature_encoder.conv_layers[0][0]
            given = norm_stats is not None
            feeds["norm_mean"] = norm_stats.mean.float().numpy() if given else np.zeros(channels, np.float32)
            feeds["norm_var"] = norm_stats.var.float().numpy() if given else np.ones(channels, np.float32)
            feeds["use_norm_stats"] = np.array(given)
        *values, frame_lengths = self.session.run(names + ["frame_lengths"], feeds)
        return {name: torch.from_numpy(v) for name, v in zip(outputs, values)}, torch.from_numpy(frame_lengths)

    def utterance_norm_stats(self, audio: torch.Tensor) -> NormStats | None:
        """Conv 0's statistics over a whole ``(samples,)`` utterance (group-norm models; else None)."""
        if self.stats_session is None:
            return None
        audio = audio.float().cpu()

        def chunk_sums(start: int, end: int, is_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
            piece = audio[start:end].numpy()[None]  # (1, n)
            feeds = {"waveform": piece, "lengths": np.array([end - start])}
            total, total_sq = self.stats_session.run(None, feeds, self.release_arena if is_last else None)
            return torch.from_numpy(total[0]), torch.from_numpy(total_sq[0])

        return chunked_norm_stats(audio.numel(), self.cfg.feature_encoder.conv_layers[0], chunk_sums)


def session_options(ort, threads: int | None = None, cpu: bool = True):
    """onnxruntime's session options for speechssl graphs: bounded memory at the same speed.

    - No memory pattern: inputs change length with every file and window, so the pattern (one
      block planned per input shape, kept) only holds memory. Without it a 30 s window of BASE
      peaks at 1.73 GB instead of 2.6 GB, at the same speed (4.9 vs 5.1 s per 30 s window). The
      CPU arena stays: turned off, the same window took 8-23 s.
    - On the CPU, one arena for every session of the process (:func:`shared_cpu_arena`) that
      grows by what is requested instead of by powers of two: 70-80 MiB less at the peak of a
      30 s window of BASE, same speed, bit-identical outputs.
    """
    options = ort.SessionOptions()
    options.enable_mem_pattern = False
    if threads:
        options.intra_op_num_threads = threads
    if cpu:
        shared_cpu_arena(ort)
        options.add_session_config_entry("session.use_env_allocators", "1")
    return options


_shared_arena = False


def shared_cpu_arena(ort) -> None:
    """Register, once per process, a CPU arena in onnxruntime's environment that extends by the
    requested size (``kSameAsRequested``); sessions opt in with ``session.use_env_allocators``.
    (It replaces a CPU allocator registered there before speechssl's first session.)"""
    global _shared_arena
    if not _shared_arena:
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg({"arena_extend_strategy": 1}))
        _shared_arena = True


def is_onnx_path(reference) -> bool:
    """Whether a model reference names an ``.onnx`` file (the onnxruntime backend)."""
    return isinstance(reference, (str, os.PathLike)) and str(reference).lower().endswith(".onnx")
