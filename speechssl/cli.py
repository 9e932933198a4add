"""``speechssl <subcommand>``: each handler parses its arguments, then calls one library function."""

from __future__ import annotations

import argparse
import sys


def cmd_smoke(args: argparse.Namespace) -> int:
    from speechssl.smoke import run_smoke

    run_smoke(args.output_dir, steps=args.steps)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from speechssl.convert.fairseq import load_fairseq
    from speechssl.convert.huggingface import save_huggingface
    from speechssl.serialization import load_model, save_model

    vocab = None
    if args.dictionary:
        imported = load_fairseq(args.source, args.dictionary)
        model, vocab = imported.model, imported.vocab
    else:
        model = load_model(args.source)
    if args.to == "huggingface":
        save_huggingface(model, args.destination, vocab=vocab)
    else:
        save_model(model, args.destination, extra={"vocab": vocab} if vocab else None)
    print(f"wrote {args.to} model to {args.destination}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from speechssl import __version__

    parser = argparse.ArgumentParser(prog="speechssl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"speechssl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("smoke", help="generate audio, train a tiny model a few steps, save and reload it", formatter_class=fmt)
    p.add_argument("--output-dir", default="runs/smoke")
    p.add_argument("--steps", type=int, default=20)
    p.set_defaults(handler=cmd_smoke)

    p = sub.add_parser(
        "convert",
        help="convert a speechssl, Hugging Face or fairseq model to speechssl or Hugging Face format",
        formatter_class=fmt,
    )
    p.add_argument("source", help="speechssl dir, Hugging Face dir or fairseq .pt")
    p.add_argument("destination")
    p.add_argument("--to", choices=["speechssl", "huggingface"], default="speechssl")
    p.add_argument("--dictionary", help="fairseq dict.ltr.txt of a fine-tuned checkpoint")
    p.set_defaults(handler=cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.handler(args))
