"""B9: onnxruntime against PyTorch and transformers: CTC real-time factor, BASE, and the memory of a 20-minute file.

    python tools/bench/b9_onnx.py [--json out.json] [--reps 3] [--preset base] [--minutes 20]
    python tools/bench/b9_onnx.py --memory-only --json docs/benchmarks/b9.json [--note "..."]

One random-weight BASE CTC model (32 classes), exported by ``speechssl export-onnx`` in fp32 and
with ``--int8`` (the transformer's MatMuls dynamic int8; conv front end and head fp32), and
transformers' ``Wav2Vec2ForCTC`` loaded from speechssl's Hugging Face export of the same weights.
Timed interleaved at batch 1 for 4 / 15.6 / 60 s: onnxruntime fp32 and int8 (``OnnxBackend.run``,
``threads`` intra-op threads), speechssl PyTorch fp32 and int8 (``--quantize int8``), transformers
fp32 (SDPA). RTF = wall time / audio time for forward + argmax. Parity in the same run: max
|logit difference| of onnxruntime fp32 against PyTorch, and whether the greedy texts agree.
Memory: ``speechssl transcribe MODEL.onnx`` on a ``--minutes`` file (fp32 export, word
alignment, json + srt) in a fresh process, peak RSS from the kernel. ``--memory-only`` exports
fp32 alone and runs only that; given an existing ``--json``, it replaces that file's memory entry
(stamped with its own machine line) and keeps the rest of the earlier full run.
"""

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import calibrate, finish, hf_twin, interleave, log, machine, parse_args, peak_rss_mb

LENGTHS = {"4s": 64_000, "15.6s": 250_000, "60s": 960_000}


def extra(parser) -> None:
    parser.add_argument("--preset", default="base")
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the memory run's file (0: skip it)")
    parser.add_argument("--memory-only", action="store_true", help="export and measure the memory run only (no RTF)")
    parser.add_argument("--note", default="", help="a remark stored with the memory run (e.g. another job on the CPU)")


def rtf_table(ours, tokenizer, tmp: Path, args) -> dict:
    """Interleaved RTF of every runtime at each length, with parity figures from the same run."""
    from speechssl.decoding.greedy import greedy_decode
    from speechssl.inference.backend import TorchBackend
    from speechssl.inference.onnx_runtime import OnnxBackend
    from speechssl.inference.quantize import quantize_int8

    runtimes = {
        "onnxruntime": OnnxBackend(tmp / "fp32.onnx", threads=args.threads),
        "onnxruntime_int8": OnnxBackend(tmp / "int8.onnx", threads=args.threads),
        "speechssl": TorchBackend(ours),
        "speechssl_int8": TorchBackend(quantize_int8(copy.deepcopy(ours))),
    }
    theirs = hf_twin(ours, "Wav2Vec2ForCTC").eval()

    def job(backend, wave, lengths):
        return lambda: backend.run(wave, lengths, ["logits"])[0]["logits"].argmax(-1)

    def text(logits: torch.Tensor) -> str:
        return tokenizer.decode(greedy_decode(logits[None])[0].tokens)

    g = torch.Generator().manual_seed(3)
    timings = {}
    with torch.inference_mode():
        for name, n in LENGTHS.items():
            wave, lengths = torch.randn(1, n, generator=g) * 0.1, torch.tensor([n])
            candidates = {k: job(b, wave, lengths) for k, b in runtimes.items()}
            candidates["transformers"] = lambda wave=wave: theirs(wave).logits.argmax(-1)
            log(f"B9 {name}")
            reps = args.reps if name != "60s" else max(2, args.reps - 1)
            timing = interleave(candidates, reps=reps, warmup=args.warmup)
            rtf = {k: t["median"] / (n / 16_000) for k, t in timing.items()}
            logits = {k: b.run(wave, lengths, ["logits"])[0]["logits"][0] for k, b in runtimes.items()}
            logits["transformers"] = theirs(wave).logits[0]
            texts = {k: text(v) for k, v in logits.items()}
            timings[name] = {
                "audio_seconds": n / 16_000, "timing": timing, "rtf": rtf,
                "speedup_vs_transformers_fp32": {k: rtf["transformers"] / v for k, v in rtf.items()},
                "onnxruntime_vs_speechssl": {"fp32": rtf["speechssl"] / rtf["onnxruntime"],
                                             "int8": rtf["speechssl_int8"] / rtf["onnxruntime_int8"]},
                "max_abs_logit_diff_onnxruntime_vs_speechssl": float((logits["onnxruntime"] - logits["speechssl"]).abs().max()),
                "greedy_text_equal": {
                    "onnxruntime = speechssl": texts["onnxruntime"] == texts["speechssl"],
                    "speechssl = transformers": texts["speechssl"] == texts["transformers"],
                    "onnxruntime_int8 = onnxruntime (random weights)": texts["onnxruntime_int8"] == texts["onnxruntime"],
                },
            }
    return timings


def main() -> None:
    args = parse_args(__doc__, extra)
    import soundfile

    from speechssl import config
    from speechssl.inference.onnx_export import export_onnx
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.smoke import synthesize_test_signal
    from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

    peak = calibrate()
    tokenizer = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
    torch.manual_seed(0)
    ours = Wav2Vec2ForCTC(config.override(config.preset(args.preset), {"vocab_size": len(tokenizer)})).eval()
    ours.tokenizer = tokenizer
    results: dict = {"preset": args.preset, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        export_onnx(ours, tmp / "fp32.onnx")
        results["export_seconds"] = {"fp32": time.perf_counter() - start}
        if not args.memory_only:
            start = time.perf_counter()
            export_onnx(ours, tmp / "int8.onnx", int8=True)
            results["export_seconds"]["int8"] = time.perf_counter() - start
        exported = [k for k in ("fp32", "int8") if (tmp / f"{k}.onnx").exists()]
        results["file_mb"] = {k: (tmp / f"{k}.onnx").stat().st_size / 2**20 for k in exported}
        log(f"B9 exported in {results['export_seconds']}")
        if not args.memory_only:
            results["rtf"] = rtf_table(ours, tokenizer, tmp, args)
        if args.minutes > 0:
            audio = tmp / "long.flac"
            soundfile.write(audio, synthesize_test_signal(args.minutes * 60).numpy(), 16_000)
            log(f"B9 memory: {args.minutes:g} min through onnxruntime (fp32)")
            start = time.perf_counter()
            command = [sys.executable, "-m", "speechssl", "transcribe", str(tmp / "fp32.onnx"), str(audio),
                       "--output-dir", str(tmp / "out"), "--format", "json,srt", "--no-progress"]
            rss, _ = peak_rss_mb(command)
            seconds = time.perf_counter() - start
            results["memory"] = {"minutes": args.minutes, "peak_rss_mb": rss, "wall_seconds": seconds,
                                 "rtf": seconds / (args.minutes * 60), "model": "fp32 .onnx", "file_mb": results["file_mb"]["fp32"]}
            if args.note:
                results["memory"]["note"] = args.note
    if args.memory_only and args.json and Path(args.json).is_file() and "memory" in results:
        # the earlier full run's RTF table and machine line stay; the memory entry carries its own
        payload = json.loads(Path(args.json).read_text())
        payload["results"]["memory"] = {**results["memory"], "machine": machine()}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(json.dumps(payload["results"]["memory"], indent=2))
        return
    finish(args, "b9_onnx", results, peak)


if __name__ == "__main__":
    main()
