"""The CUDA check and the GPU benchmarks in one short run (under 6 minutes on one GPU).

    python tools/bench/gpu.py --out DIR [--budget 330] [--only sync,precision,b1,b3,b2,b2_compiled]

Random audio; speechssl and transformers hold the same BASE weights (transformers loads
speechssl's export, as in B2/B3). Sections, in the order they run:

  sync         one BASE pretraining update (forward, backward, gradient normalization, clipping,
               AdamW) under ``torch.cuda.set_sync_debug_mode("error")``, fp32 and bf16: any host
               sync raises. Once with the batch already on the GPU, once with the trainer's
               non-blocking host-to-device copies inside.
  precision    one update on the same batch and weights (dropout off) in fp32, bf16 autocast and
               fp16 autocast + GradScaler: finite losses, bf16 within BF16_RTOL of fp32.
  b1           span masks + negatives (781 frames, K = 100), us per utterance at batch 8 and 64:
               speechssl on the GPU (keyed, as the trainer draws them) against transformers'
               numpy functions as its pretraining collator calls them, plus the copy to the GPU.
  b3           CTC inference real-time factor, batch 1 at 15.6 s and 60 s, fp32 and bf16.
  b2           BASE pretraining update, bf16 autocast, B2_BATCH x 15.6 s crops: speechssl
               eager against transformers (SDPA; numpy masks inside the step, as its example
               trains): audio seconds per second and peak memory.
  b2_compiled  the same with speechssl compiled as ``--set compile=true`` compiles it
               (speechssl/train/compile.py), interleaved with eager again.

Every section is timed and guarded: an error is written into the table and the run goes on, and
a section that no longer fits the time budget is skipped, so one run always leaves a table:
DIR/gpu.json and DIR/gpu.md, rewritten after each section. Without CUDA it refuses (exit 2);
``--smoke`` runs every section on the CPU with the tiny model, to check the script itself.
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import sys
import time
import traceback
from pathlib import Path

START = time.perf_counter()
SECTIONS = ("sync", "precision", "b1", "b3", "b2", "b2_compiled")
# Rough GPU seconds per section (start-up ~40 s): a section starts only if it should fit the budget.
ESTIMATES = {"sync": 20, "precision": 20, "b1": 15, "b3": 40, "b2": 45, "b2_compiled": 150}
BF16_RTOL = 0.02  # bf16 loss per masked frame vs fp32, same batch and weights
CROP = 250_000  # 15.6 s
B2_BATCH = 8


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for gpu.json and gpu.md")
    parser.add_argument("--budget", type=float, default=330.0, help="seconds for the whole run, start-up included")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    parser.add_argument("--reps", type=int, default=10, help="timed repetitions per candidate")
    parser.add_argument("--smoke", action="store_true", help="run on the CPU with the tiny model (checks the script)")
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


class OutOfTime(Exception):
    pass


class Run:
    """The device, the models' scale, the results so far and the budget."""

    def __init__(self, args: argparse.Namespace):
        import torch

        from common import machine

        self.args, self.out = args, Path(args.out)
        self.smoke = args.smoke
        self.device = torch.device("cpu" if self.smoke else "cuda")
        self.preset = "tiny" if self.smoke else "base"
        self.crop = 32_000 if self.smoke else CROP
        self.b2_batch = 2 if self.smoke else B2_BATCH
        self.reps = min(args.reps, 3) if self.smoke else args.reps
        self.info = machine()
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(0)
            self.info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
        self.results: dict[str, dict] = {}
        self.b2_pair = None  # b2's two models, reused by b2_compiled (building them costs ~20 s)
        self.out.mkdir(parents=True, exist_ok=True)

    def elapsed(self) -> float:
        return time.perf_counter() - START

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def section(self, name: str, fn) -> None:
        left = self.args.budget - self.elapsed()
        if left < ESTIMATES[name]:
            self.results[name] = {"status": "skipped", "error": f"{left:.0f} s of budget left, needs ~{ESTIMATES[name]} s"}
            self.write()
            return
        log(f"{name} ({left:.0f} s of budget left)")
        started = time.perf_counter()

        def alarm(*_):
            raise OutOfTime(f"stopped at the time budget after {time.perf_counter() - started:.0f} s")

        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(max(1, int(left)))
        try:
            rows, notes = fn(self)
            self.results[name] = {"status": "ok", "rows": rows, "notes": notes}
        except BaseException as error:  # noqa: BLE001 - one failing section must not cost the table
            if isinstance(error, KeyboardInterrupt):
                raise
            where = traceback.extract_tb(error.__traceback__)[-3:]
            self.results[name] = {
                "status": "error", "error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:400],
                "where": [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in where],
            }
            traceback.print_exc()
        finally:
            signal.alarm(0)
            self.results.setdefault(name, {"status": "interrupted"})["seconds"] = round(time.perf_counter() - started, 1)
            self.free()
            self.write()

    def free(self) -> None:
        import gc

        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def write(self) -> None:
        payload = {"benchmark": "gpu", "machine": self.info, "smoke": self.smoke, "elapsed_s": round(self.elapsed(), 1),
                   "budget_s": self.args.budget, "sections": self.results}
        (self.out / "gpu.json").write_text(json.dumps(payload, indent=2) + "\n")
        (self.out / "gpu.md").write_text(markdown(payload))


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [{time.perf_counter() - START:5.0f} s] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ shared steps


def pretraining_model(run: Run, **overrides):
    from speechssl import config
    from speechssl.model import Wav2Vec2ForPretraining

    import torch

    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(config.override(config.preset(run.preset), overrides)).to(run.device).train()
    model.encoder.validate_inputs = False  # as the trainer runs it (audio is checked when loaded)
    return model


def batch(run: Run, size: int, seed: int = 1):
    """``size`` crops of random audio on the device, their lengths and utterance keys."""
    import torch

    from speechssl.model.keyed_noise import combine_keys

    g = torch.Generator().manual_seed(seed)
    audio = (torch.randn(size, run.crop, generator=g) * 0.1).to(run.device)
    lengths = torch.full((size,), run.crop, device=run.device)
    return audio, lengths, combine_keys(1, seed, torch.arange(size)).to(run.device)


def autocast(run: Run, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(run.device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def update(run: Run, model, optimizer, audio, lengths, keys, step: int, precision: str = "fp32", scaler=None, forward=None):
    """One update as speechssl's trainer makes it, minus its one deliberate host sync (whether
    to apply a non-finite update): loss / sample size, clip, AdamW. -> (output, grad norm)."""
    import torch

    with autocast(run, precision):
        if forward is not None:
            out = forward(model, audio, lengths, step, keys)
        else:
            out = model(audio, lengths, num_updates=step, utterance_keys=keys)
    (scaler.scale(out.loss) if scaler is not None else out.loss).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    torch._foreach_mul_(grads, 1.0 / out.num_masked.float().clamp(min=1.0))
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return out, norm


def adamw(model):
    import torch

    return torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)


def peak_memory_gb(run: Run, fn) -> float | None:
    """Peak device memory (GB, everything allocated) over one call of ``fn``."""
    import torch

    if run.device.type != "cuda":
        return None
    run.sync()
    torch.cuda.reset_peak_memory_stats()
    fn()
    run.sync()
    return round(torch.cuda.max_memory_allocated() / 1e9, 2)


def per_second(audio_seconds: float, timing: dict) -> dict:
    return {name: round(audio_seconds / t["median"], 1) for name, t in timing.items()}


# ------------------------------------------------------------------------------ sections


def section_sync(run: Run):
    import torch

    model = pretraining_model(run)  # the preset as configured: dropout 0.1, LayerDrop 0.05
    optimizer = adamw(model)
    audio, lengths, keys = batch(run, 2)
    host = (audio.cpu(), lengths.cpu())
    rows = []
    for precision in ("fp32", "bf16"):
        update(run, model, optimizer, audio, lengths, keys, 0, precision)  # warm-up: lazy inits may sync
        for placement in ("on device", "copied in"):
            def step():
                if placement == "copied in":  # as Trainer._forward and utterance_keys move a batch
                    from speechssl.model.keyed_noise import combine_keys

                    a, n = (t.to(run.device, non_blocking=True) for t in host)
                    k = combine_keys(1, 2, torch.arange(2)).to(run.device, non_blocking=True)
                else:
                    a, n, k = audio, lengths, keys
                return update(run, model, optimizer, a, n, k, 1, precision)

            if run.device.type != "cuda":
                rows.append({"precision": precision, "batch": placement, "host syncs": "n/a on the CPU"})
                step()
                continue
            torch.cuda.set_sync_debug_mode("error")
            try:
                out, norm = step()
                verdict = "none"
            except RuntimeError as error:
                verdict = f"SYNC: {str(error).splitlines()[0][:200]} at {traceback.extract_tb(error.__traceback__)[-1].name}"
                out = norm = None
            finally:
                torch.cuda.set_sync_debug_mode("default")
            row = {"precision": precision, "batch": placement, "host syncs": verdict}
            if out is not None:
                row.update(loss_per_frame=round(float(out.loss) / max(float(out.num_masked), 1.0), 4), grad_norm=round(float(norm), 4))
            rows.append(row)
    return rows, ["one update of the preset's pretraining model (dropout 0.1, LayerDrop 0.05), batch 2 x 15.6 s"]


def section_precision(run: Run):
    import torch

    zero = {"transformer.dropout": 0.0, "transformer.attention_dropout": 0.0, "transformer.activation_dropout": 0.0,
            "dropout_input": 0.0, "dropout_features": 0.0, "transformer.layerdrop": 0.0}
    model = pretraining_model(run, **zero)
    state = copy.deepcopy(model.state_dict())
    audio, lengths, keys = batch(run, 2, seed=2)
    rows, losses = [], {}
    for precision in ("fp32", "bf16", "fp16"):
        if precision == "fp16" and run.device.type != "cuda":
            rows.append({"precision": precision, "result": "n/a on the CPU"})
            continue
        model.load_state_dict(state)
        optimizer = adamw(model)
        scaler = torch.amp.GradScaler(run.device.type, init_scale=128.0) if precision == "fp16" else None
        out, norm = update(run, model, optimizer, audio, lengths, keys, 0, precision, scaler)
        loss = float(out.loss) / max(float(out.num_masked), 1.0)
        losses[precision] = loss
        row = {"precision": precision, "loss_per_frame": round(loss, 5), "grad_norm": round(float(norm), 4),
               "finite": bool(torch.isfinite(out.loss)) and bool(torch.isfinite(norm))}
        if scaler is not None:
            row["loss_scale_after"] = scaler.get_scale()
        if precision != "fp32" and "fp32" in losses:
            rel = abs(loss - losses["fp32"]) / abs(losses["fp32"])
            row["rel_diff_vs_fp32"] = round(rel, 5)
            if precision == "bf16":
                row["within_tolerance"] = rel <= BF16_RTOL
        rows.append(row)
    return rows, [f"same batch (2 x 15.6 s) and weights, dropout off; bf16 tolerance {BF16_RTOL:.0%} relative"]


def section_b1(run: Run):
    import torch
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    from b1_masking import FRAMES, K, MIN_MASKS, PROB, SPAN
    from common import interleave
    from speechssl.model.keyed_noise import combine_keys
    from speechssl.model.masking import compute_span_mask, sample_negatives

    rows = []
    for size in (8, 64):
        for padded in (False, True):
            g = torch.Generator().manual_seed(size)
            lengths = torch.full((size,), FRAMES)
            if padded:
                lengths = (FRAMES * (0.5 + 0.5 * torch.rand(size, generator=g))).long().clamp(max=FRAMES)
            attention = (torch.arange(FRAMES)[None, :] < lengths[:, None]).long() if padded else None
            device_lengths = lengths.to(run.device)
            keys = combine_keys(1, 0, torch.arange(size)).to(run.device)

            def ours():
                mask = compute_span_mask((size, FRAMES), device_lengths, PROB, SPAN, MIN_MASKS, row_keys=keys)
                return sample_negatives(mask, K, row_keys=keys)

            def theirs():  # DataCollatorForWav2Vec2Pretraining, then the training loop's copy to the device
                mask = _compute_mask_indices((size, FRAMES), PROB, SPAN, attention_mask=attention, min_masks=MIN_MASKS)
                negatives = _sample_negative_indices((size, FRAMES), K, mask_time_indices=mask)
                batch_ = {"mask_time_indices": torch.tensor(mask, dtype=torch.long),
                          "sampled_negative_indices": torch.tensor(negatives, dtype=torch.long)}
                return {k: v.to(run.device, non_blocking=True) for k, v in batch_.items()}

            def unkeyed():  # the global RNG, as the CPU table's B1 draws them
                mask = compute_span_mask((size, FRAMES), device_lengths, PROB, SPAN, MIN_MASKS)
                return sample_negatives(mask, K)

            timing = interleave({"speechssl": ours, "speechssl_unkeyed": unkeyed, "transformers": theirs},
                                reps=max(run.reps, 10), warmup=3, sync=run.sync)
            us = {name: round(1e6 * t["median"] / size, 2) for name, t in timing.items()}
            rows.append({"batch": size, "padded": padded, "speechssl_us_per_utt": us["speechssl"],
                         "unkeyed_us_per_utt": us["speechssl_unkeyed"], "transformers_us_per_utt": us["transformers"],
                         "speedup": round(timing["transformers"]["median"] / timing["speechssl"]["median"], 2)})
    return rows, ["median of interleaved calls, device synchronized; speechssl keyed per utterance as the trainer "
                  "draws them (unkeyed: the global RNG, as B1 on the CPU); transformers' numpy runs on the host (in "
                  "its DataLoader workers when it trains, so partly hidden behind the GPU step); speedup: keyed"]


def section_b3(run: Run):
    import torch

    from b3_inference import LENGTHS
    from common import hf_twin, interleave
    from speechssl import config
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

    tokenizer = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
    torch.manual_seed(0)
    ours = Wav2Vec2ForCTC(config.override(config.preset(run.preset), {"vocab_size": len(tokenizer)})).eval()
    ours.tokenizer = tokenizer
    theirs = hf_twin(ours, "Wav2Vec2ForCTC").eval().to(run.device)
    ours = ours.to(run.device)
    lengths = {"4s": 64_000, "8s": 128_000} if run.smoke else {k: LENGTHS[k] for k in ("15.6s", "60s")}
    rows = []
    with torch.inference_mode():
        for name, samples in lengths.items():
            wave = (torch.randn(1, samples, generator=torch.Generator().manual_seed(3)) * 0.1).to(run.device)
            lens = torch.tensor([samples], device=run.device)
            diff = float((ours(wave, lens).logits - theirs(wave).logits).abs().max())
            for precision in ("fp32", "bf16"):
                def mine():
                    with autocast(run, precision):
                        return ours(wave, lens).logits.argmax(-1)

                def hf():
                    with autocast(run, precision):
                        return theirs(wave).logits.argmax(-1)

                timing = interleave({"speechssl": mine, "transformers": hf}, reps=run.reps, warmup=2, sync=run.sync)
                rtf = {k: t["median"] / (samples / 16_000) for k, t in timing.items()}
                rows.append({"audio": name, "precision": precision, "speechssl_rtf": f"{rtf['speechssl']:.2e}",
                             "transformers_rtf": f"{rtf['transformers']:.2e}",
                             "speedup": round(rtf["transformers"] / rtf["speechssl"], 2),
                             "max_abs_logit_diff_fp32": round(diff, 5)})
    return rows, ["batch 1, forward + argmax under inference_mode; RTF = wall time / audio time"]


def b2_models(run: Run):
    """speechssl's BASE pretraining model and its transformers twin (b2's build: dropout 0.1,
    LayerDrop 0), on the device, each with its AdamW."""
    from b2_pretrain_step import build

    if run.b2_pair is not None:
        return run.b2_pair
    if run.smoke:
        from common import hf_twin
        from speechssl import config
        from speechssl.model import Wav2Vec2ForPretraining

        ours = Wav2Vec2ForPretraining(config.override(config.tiny(), {"transformer.layerdrop": 0.0})).train()
        theirs = hf_twin(ours, "Wav2Vec2ForPreTraining").train()
        theirs.set_gumbel_temperature(ours.cfg.quantizer.temperature(0))
    else:
        ours, theirs = build("0.1")
    ours, theirs = ours.to(run.device), theirs.to(run.device)
    ours.encoder.validate_inputs = False
    run.b2_pair = ours, theirs
    return ours, theirs


def hf_update(run: Run, model, optimizer, audio, precision: str = "bf16"):
    """One transformers pretraining update with its numpy masks and negatives (as b2)."""
    import torch
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    c = model.config
    frames = int(model._get_feat_extract_output_lengths(audio.shape[1]))
    shape = (audio.shape[0], frames)
    mask = _compute_mask_indices(shape, c.mask_time_prob, c.mask_time_length, min_masks=c.mask_time_min_masks)
    negatives = _sample_negative_indices(shape, c.num_negatives, mask_time_indices=mask)
    with autocast(run, precision):
        out = model(audio, mask_time_indices=torch.from_numpy(mask).to(run.device, non_blocking=True),
                    sampled_negative_indices=torch.from_numpy(negatives).to(run.device, non_blocking=True))
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def b2_rows(run: Run, candidates: dict, timing: dict, memory: dict) -> list[dict]:
    from common import TRAIN_FLOP_PER_AUDIO_SECOND

    audio_seconds = run.b2_batch * run.crop / 16_000
    rates = per_second(audio_seconds, timing)
    rows = []
    for name in candidates:
        rows.append({"implementation": name, "audio_s_per_s": rates[name],
                     "step_ms": round(1e3 * timing[name]["median"], 1),
                     "tflops": round(rates[name] * TRAIN_FLOP_PER_AUDIO_SECOND / 1e12, 1),
                     "vs_transformers": round(rates[name] / rates["transformers"], 2) if "transformers" in rates else None,
                     "peak_memory_gb": memory.get(name)})
    return rows


def section_b2(run: Run):
    from common import interleave

    ours, theirs = b2_models(run)
    opt_ours, opt_theirs = adamw(ours), adamw(theirs)
    audio, lengths, keys = batch(run, run.b2_batch, seed=4)
    candidates = {
        "speechssl": lambda: update(run, ours, opt_ours, audio, lengths, keys, 0, "bf16"),
        "transformers": lambda: hf_update(run, theirs, opt_theirs, audio),
    }
    timing = interleave(candidates, reps=run.reps, warmup=2, sync=run.sync)
    memory = {name: peak_memory_gb(run, fn) for name, fn in candidates.items()}
    notes = [f"{run.b2_batch} x 15.6 s crops per update, bf16 autocast, dropout 0.1, LayerDrop 0; memory: peak allocated "
             "over one update with both models and their optimizer states resident"]
    return b2_rows(run, candidates, timing, memory), notes


def section_b2_compiled(run: Run):
    import torch

    from common import interleave
    from speechssl.train.compile import TrainingCompiler, bucket_sizes

    ours, theirs = b2_models(run)
    opt_ours, opt_theirs = adamw(ours), adamw(theirs)
    audio, lengths, keys = batch(run, run.b2_batch, seed=4)
    compiler = TrainingCompiler(bucket_sizes([run.crop], 1))

    def loss_fn(model, batch_, num_updates, keys_):
        return model(batch_["audio"], batch_["audio_lens"], num_updates=num_updates, utterance_keys=keys_)

    def compiled_forward(model, audio_, lengths_, step, keys_):
        return compiler.run(loss_fn, model, {"audio": audio_, "audio_lens": lengths_}, step, keys_)

    started = time.perf_counter()
    for step in range(2):  # the first call compiles the forward; the first backward compiles its graph
        update(run, ours, opt_ours, audio, lengths, keys, step, "bf16", forward=compiled_forward)
    run.sync()
    compile_seconds = time.perf_counter() - started
    eager = copy.deepcopy(ours)
    eager.encoder.validate_inputs = False
    opt_eager = adamw(eager)
    candidates = {
        "speechssl_compiled": lambda: update(run, ours, opt_ours, audio, lengths, keys, 2, "bf16", forward=compiled_forward),
        "speechssl": lambda: update(run, eager, opt_eager, audio, lengths, keys, 2, "bf16"),
        "transformers": lambda: hf_update(run, theirs, opt_theirs, audio),
    }
    timing = interleave(candidates, reps=run.reps, warmup=1, sync=run.sync)
    memory = {name: peak_memory_gb(run, fn) for name, fn in candidates.items()}
    rows = b2_rows(run, candidates, timing, memory)
    notes = [f"compile (first two updates): {compile_seconds:.0f} s, {compiler.graphs} graph(s), backend inductor, "
             f"torch {torch.__version__}; padded to {compiler.buckets[0]} samples as compile=true pads"]
    return rows, notes


# ------------------------------------------------------------------------------ the table


def markdown(payload: dict) -> str:
    m = payload["machine"]
    lines = [f"# tools/bench/gpu.py on {m.get('gpu', m.get('cpu'))}" + (" (smoke run on the CPU)" if payload["smoke"] else ""),
             "", f"torch {m.get('torch')}, CUDA {m.get('cuda', '-')}, transformers {m.get('transformers')}, {m.get('date')}; "
             f"{payload['elapsed_s']:.0f} s of a {payload['budget_s']:.0f} s budget.", "",
             "| section | status | seconds |", "|---|---|---|"]
    for name, result in payload["sections"].items():
        status = result["status"] + (f": {result['error']}" if "error" in result else "")
        lines.append(f"| {name} | {status.replace('|', '/')} | {result.get('seconds', '')} |")
    for name, result in payload["sections"].items():
        if result["status"] != "ok" or not result["rows"]:
            if "where" in result:
                lines += ["", f"## {name}", "", "error at " + " <- ".join(reversed(result["where"]))]
            continue
        keys = list(dict.fromkeys(k for row in result["rows"] for k in row))
        lines += ["", f"## {name}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in result["rows"]]
        lines += [""] + [f"- {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print(f"gpu.py: no CUDA device (torch {torch.__version__}); run it on a CUDA machine, or pass --smoke", file=sys.stderr)
        sys.exit(2)
    run = Run(args)
    wanted = args.only.split(",")
    sections = {"sync": section_sync, "precision": section_precision, "b1": section_b1, "b3": section_b3,
                "b2": section_b2, "b2_compiled": section_b2_compiled}
    for name in SECTIONS:
        if name in wanted:
            run.section(name, sections[name])
    run.write()
    log(f"wrote {run.out / 'gpu.md'} and gpu.json")
    print((run.out / "gpu.md").read_text())


if __name__ == "__main__":
    main()
