"""B3: CTC inference real-time factor, BASE, speechssl vs transformers (SDPA) vs torchaudio.

    python tools/bench/b3_inference.py [--json out.json] [--reps 3]

One random-weight BASE CTC model (32 classes); transformers' ``Wav2Vec2ForCTC`` is loaded from
speechssl's export of it and torchaudio's model is imported from that (so all three hold the
same weights). Batch 1 at 4 / 15.6 / 60 s, and a "mixed" list of 16 lengths drawn from
2-16 s in batches of 8 (speechssl orders them by length as its transcriber does; the peers
take them in list order, padded to the longest). fp32 for all three; int8 for speechssl
(``--quantize int8``: the transformer's Linears; conv front end and head fp32) and for
transformers (``quantize_dynamic`` on every Linear, as its users do). RTF = wall time / audio
time for forward + argmax under ``inference_mode``. Parity in the same run: max |logit
difference| against transformers and whether the greedy transcripts match.
"""

import copy
import warnings

import torch

from common import BASE_FLOP_PER_AUDIO_SECOND, calibrate, finish, hf_twin, interleave, log, parse_args

LENGTHS = {"4s": 64_000, "15.6s": 250_000, "60s": 960_000}


def greedy_text(logits: torch.Tensor, tokenizer) -> str:
    from speechssl.decoding.greedy import greedy_decode

    return tokenizer.decode(greedy_decode(logits[None])[0].tokens)


def main() -> None:
    args = parse_args(__doc__)
    from torchaudio.models.wav2vec2.utils import import_huggingface_model

    from speechssl import config
    from speechssl.inference.quantize import quantize_int8
    from speechssl.model import Wav2Vec2ForCTC
    from speechssl.text.tokenizer import FAIRSEQ_SPECIALS, CharTokenizer

    peak = calibrate()
    tokenizer = CharTokenizer(FAIRSEQ_SPECIALS + list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ"))
    torch.manual_seed(0)
    ours = Wav2Vec2ForCTC(config.override(config.base(), {"vocab_size": len(tokenizer)})).eval()
    ours.tokenizer = tokenizer
    theirs = hf_twin(ours, "Wav2Vec2ForCTC").eval()
    torchaudio_model = import_huggingface_model(copy.deepcopy(theirs)).eval()
    ours_int8 = quantize_int8(copy.deepcopy(ours))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(theirs), {torch.nn.Linear}, dtype=torch.qint8)

    def run_ours(model, batch, lengths):
        return model(batch, lengths).logits.argmax(-1)

    def run_hf(model, batch, lengths):
        return model(batch).logits.argmax(-1)

    def run_ta(model, batch, lengths):
        return model(batch, lengths)[0].argmax(-1)

    g = torch.Generator().manual_seed(3)
    mixed = (torch.rand(16, generator=g) * 14 + 2).mul(16_000).long().tolist()
    cases = {name: [[n]] for name, n in LENGTHS.items()}
    cases["mixed"] = [mixed[i:i + 8] for i in range(0, 16, 8)]
    results = {}
    with torch.inference_mode():
        for name, batches in cases.items():
            data = []
            for lengths in batches:
                wave = torch.zeros(len(lengths), max(lengths))
                for row, n in enumerate(lengths):
                    wave[row, :n] = torch.randn(n, generator=g) * 0.1
                data.append((wave, torch.tensor(lengths)))
            ordered = [(w[o], l[o]) for w, l in data for o in [l.argsort(descending=True)]]

            def job(fn, model, batches_):
                return lambda: [fn(model, w, lens) for w, lens in batches_]

            candidates = {
                "speechssl": job(run_ours, ours, ordered), "transformers": job(run_hf, theirs, data),
                "torchaudio": job(run_ta, torchaudio_model, data),
                "speechssl_int8": job(run_ours, ours_int8, ordered), "transformers_int8": job(run_hf, theirs_int8, data),
            }
            log(f"B3 {name}")
            reps = args.reps if name in ("4s", "15.6s") else max(2, args.reps - 1)
            timing = interleave(candidates, reps=reps, warmup=args.warmup)
            audio = sum(sum(lens) for lens in batches) / 16_000
            rtf = {k: t["median"] / audio for k, t in timing.items()}
            # parity on the first batch, row 0 (unpadded in every ordering for batch 1)
            wave, lens = data[0]
            row = wave[:1, : lens[0]]
            mine, ref = ours(row).logits[0], theirs(row).logits[0]
            ta = torchaudio_model(row)[0][0]
            mine8 = ours_int8(row).logits[0]
            results[name] = {
                "audio_seconds": audio, "timing": timing, "rtf": rtf,
                "speedup_vs_transformers_fp32": {k: rtf["transformers"] / v for k, v in rtf.items()},
                "max_abs_logit_diff": {"torchaudio": float((ta - ref).abs().max()), "speechssl": float((mine - ref).abs().max())},
                "greedy_text_equal": {"speechssl": greedy_text(mine, tokenizer) == greedy_text(ref, tokenizer),
                                      "torchaudio": greedy_text(ta, tokenizer) == greedy_text(ref, tokenizer),
                                      "speechssl_int8": greedy_text(mine8, tokenizer) == greedy_text(mine, tokenizer)},
            }
    peak_end = calibrate()
    floor = BASE_FLOP_PER_AUDIO_SECOND / (max(peak, peak_end) * 1e9)
    for entry in results.values():
        entry["fp32_rtf_floor"] = floor
    finish(args, "b3_inference", results, peak)


if __name__ == "__main__":
    main()
