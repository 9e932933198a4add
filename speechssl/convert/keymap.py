"""Two-way state-dict key renaming shared by the Hugging Face and fairseq converters.

A table is a list of ``(ours, theirs)`` templates. ``{name}`` placeholders match one dotted
component and carry over, so one table serves import and export. Keys no rule matches raise,
naming them: a converter must never drop weights silently.

speechssl keeps one fused ``qkv`` projection per attention layer; both peers store ``q``,
``k`` and ``v`` apart. The tables therefore name a per-projection key
``attention.{proj}_proj`` that :func:`fuse_qkv` / :func:`split_qkv` join and split.
"""

from __future__ import annotations

import re

import torch

Rule = tuple[str, str]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _compile(template: str) -> re.Pattern:
    parts = _PLACEHOLDER.split(template)
    # split() alternates literal text and placeholder names
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^.]+)" for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


def _rename(state: dict[str, torch.Tensor], rules: list[Rule], forward: bool, what: str) -> dict[str, torch.Tensor]:
    compiled = [(_compile(src), dst) for src, dst in ((r if forward else r[::-1]) for r in rules)]
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, template in compiled:
            match = pattern.match(key)
            if match:
                out[template.format(**match.groupdict())] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unexpected {what} key(s), not a supported wav2vec 2.0 layout: {unknown[:8]}")
    return out


def to_ours(state: dict[str, torch.Tensor], rules: list[Rule], what: str) -> dict[str, torch.Tensor]:
    """Rename a peer's keys to speechssl's (then join q/k/v)."""
    return fuse_qkv(_rename(state, rules, forward=False, what=what))


def to_theirs(state: dict[str, torch.Tensor], rules: list[Rule], what: str) -> dict[str, torch.Tensor]:
    """Rename speechssl's keys to a peer's (after splitting q/k/v)."""
    return _rename(split_qkv(state), rules, forward=True, what=what)


_SPLIT = re.compile(r"^(?P<prefix>.*\.attention)\.(?P<proj>[qkv])_proj\.(?P<param>weight|bias)$")
_FUSED = re.compile(r"^(?P<prefix>.*\.attention)\.qkv\.(?P<param>weight|bias)$")


def fuse_qkv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, parts = {}, {}
    for key, value in state.items():
        match = _SPLIT.match(key)
        if match:
            parts.setdefault((match["prefix"], match["param"]), {})[match["proj"]] = value
        else:
            out[key] = value
    for (prefix, param), projections in parts.items():
        if set(projections) != {"q", "k", "v"}:
            raise ValueError(f"{prefix}: found {sorted(projections)} projections, need q, k and v")
        out[f"{prefix}.qkv.{param}"] = torch.cat([projections["q"], projections["k"], projections["v"]], dim=0)
    return out


def split_qkv(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        match = _FUSED.match(key)
        if match:
            for proj, chunk in zip("qkv", value.chunk(3, dim=0)):
                out[f"{match['prefix']}.{proj}_proj.{match['param']}"] = chunk.clone()
        else:
            out[key] = value
    return out


def prefixed(rules: list[Rule], ours: str, theirs: str) -> list[Rule]:
    """The same table under a module prefix on each side (e.g. ``encoder.`` vs ``wav2vec2.``)."""
    return [(ours + o, theirs + t) for o, t in rules]
