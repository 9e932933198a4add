"""Two choices of ``speechssl export-onnx`` for a BASE model, timed op by op on onnxruntime.

    python tools/bench/onnx_ops.py [--json out.json] [--reps 5] [--seconds 4 15.6 30 60]

One utterance, T = 50 frames per audio second.

Positional conv (768 channels, 16 groups, kernel 128, padding 64): "conv1d" as the exporter writes
it, "conv2d" as ``onnx_export.convs_as_2d`` rewrites it (height 1: onnxruntime's NCHWc kernels).

Attention core, 12 heads of 64, queries / keys / values ``(1, 12, T, 64)``: "export" is
``onnx_export._attention``'s node sequence (scale, MatMul, additive key mask, Softmax, MatMul); "fused" is MultiHeadAttention with no mask, the only case in which its CPU
kernel may take its flash-attention path (a padded batch needs the mask); "torch" is
``F.scaled_dot_product_attention`` with the boolean key mask the model passes. Reported per
length: interleaved seconds per call and the largest difference from the first candidate.
"""

import numpy as np

from common import calibrate, finish, interleave, log, parse_args

HEADS, HEAD_DIM = 12, 64


def export_core():
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Mul", ["q", "scale"], ["q_scaled"]),
        helper.make_node("Transpose", ["k"], ["k_t"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q_scaled", "k_t"], ["scores"]),
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "v"], ["out"]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, HEADS, "T", HEAD_DIM]) for n in "qkv"]
    inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 1, "T"]))
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [HEAD_DIM**-0.5])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "export", inputs, [out], [scale])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def fused_core():
    """The same contract, (1, H, T, E/H) in and out: MultiHeadAttention takes its query as (B, T, E)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Transpose", ["q"], ["q_bthd"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["q_bthd", "bte"], ["q_bte"]),
        helper.make_node("MultiHeadAttention", ["q_bte", "k", "v"], ["o_bte"], domain="com.microsoft", num_heads=HEADS),
        helper.make_node("Reshape", ["o_bte", "bthd"], ["o_bthd"]),
        helper.make_node("Transpose", ["o_bthd"], ["out"], perm=[0, 2, 1, 3]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, HEADS, "T", HEAD_DIM]) for n in "qkv"]
    shapes = [helper.make_tensor("bte", TensorProto.INT64, [3], [0, 0, HEADS * HEAD_DIM]),
              helper.make_tensor("bthd", TensorProto.INT64, [4], [0, 0, HEADS, HEAD_DIM])]
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "fused", inputs, [out], shapes)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def positional_conv(weight: np.ndarray, bias: np.ndarray):
    """The positional conv as the exporter writes it: one grouped 1-D Conv."""
    from onnx import TensorProto, helper, numpy_helper

    channels, _, kernel = weight.shape
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=16, kernel_shape=[kernel], pads=[kernel // 2, kernel // 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, "T"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([conv], "pos_conv", [x], [y], [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def session(model, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> None:
    args = parse_args(__doc__, lambda p: p.add_argument("--seconds", type=float, nargs="+", default=[4, 15.6, 30, 60]))
    import torch
    import torch.nn.functional as F

    from speechssl.inference.onnx_export import convs_as_2d

    peak = calibrate()
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((HEADS * HEAD_DIM, HEADS * HEAD_DIM // 16, 128)) * 0.01).astype(np.float32)
    bias = np.zeros(HEADS * HEAD_DIM, np.float32)
    conv1d = session(positional_conv(weight, bias), args.threads)
    conv2d = session(convs_as_2d(positional_conv(weight, bias)), args.threads)  # the exporter's own rewrite
    export, fused = session(export_core(), args.threads), session(fused_core(), args.threads)
    results: dict = {"positional_conv": [], "attention": []}
    for seconds in args.seconds:
        frames = int(seconds * 50)
        x = rng.standard_normal((1, HEADS * HEAD_DIM, frames), dtype=np.float32)
        convs = {"conv1d": lambda: conv1d.run(None, {"x": x})[0], "conv2d": lambda: conv2d.run(None, {"x": x})[0]}
        q, k, v = (rng.standard_normal((1, HEADS, frames, HEAD_DIM), dtype=np.float32) for _ in range(3))
        mask = np.zeros((1, 1, 1, frames), np.float32)
        tq, tk, tv = map(torch.from_numpy, (q, k, v))
        keys = torch.ones(1, 1, 1, frames, dtype=torch.bool)
        attention = {
            "export": lambda: export.run(None, {"q": q, "k": k, "v": v, "mask": mask})[0],
            "fused": lambda: fused.run(None, {"q": q, "k": k, "v": v})[0],
            "torch": lambda: F.scaled_dot_product_attention(tq, tk, tv, attn_mask=keys).numpy(),
        }
        for part, candidates in (("positional_conv", convs), ("attention", attention)):
            first, *others = candidates
            reference = candidates[first]()
            diff = {name: float(np.abs(candidates[name]() - reference).max()) for name in others}
            log(f"{part}, {seconds} s = {frames} frames")
            timing = interleave(candidates, reps=args.reps, warmup=args.warmup)
            results[part].append({"seconds": seconds, "frames": frames, "timing": timing, f"max_abs_diff_from_{first}": diff})
    finish(args, "onnx_ops", results, peak)


if __name__ == "__main__":
    main()
