#!/usr/bin/env python3
"""EfficientNet-Lite0 in ONNX Runtime, the engine a production team would deploy, measured the
way `cargo bench -p lookbook-embed --bench pretrained` measures lookbook: the same photos, the
same preprocessing (hm_photos.py), the same thread count, pooled 1280-d features.

The ONNX graph is written here from the same converted weights lookbook reads
(efficientnet-lite0.safetensors: lukemelas' PyTorch names): Conv (TF-"same" padding as explicit
asymmetric pads) + BatchNormalization + Clip(0, 6), as a PyTorch export in eval mode gives;
ONNX Runtime's default graph optimisations fold the batch-norms and fuse the clips. No PyTorch
is needed. The first reference photo's feature is checked against PyTorch's
(../shared/reference/efficientnet_lite0_hm8.json) so the two sides compute the same network.

    python3 benches/reference/efficientnet_lite0_onnx.py --weights W.safetensors [--images 512]
        [--threads 2] [--batch 32] [--model-only --rounds 3] [--reference JSON] [--save model.onnx]

Prints `efficientnet-lite0 side=onnxruntime ... img_per_s=X` lines (one per round with
--model-only).
"""
import argparse
import json
import math
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from hm_photos import load, photo_paths

STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
SIDE = 224


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
    return tensors


class Graph:
    def __init__(self, weights):
        self.weights, self.nodes, self.inits, self.count = weights, [], [], 0

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def conv_bn(self, x, size, conv, bn, stride=1, groups=1, relu6=True):
        w = self.weights[f"{conv}.weight"]
        k = w.shape[2]
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        pads = [total // 2, total // 2, total - total // 2, total - total // 2]
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", [x, self.const(f"{conv}.weight", w)], [y], kernel_shape=[k, k],
                                           strides=[stride, stride], pads=pads, group=groups))
        stats = [self.const(f"{bn}.{n}", self.weights[f"{bn}.{n}"])
                 for n in ("weight", "bias", "running_mean", "running_var")]
        z = self.name("bn")
        self.nodes.append(helper.make_node("BatchNormalization", [y] + stats, [z], epsilon=1e-3))
        if not relu6:
            return z, out
        r = self.name("relu6")
        lo, hi = self.const(self.name("zero"), np.array(0.0)), self.const(self.name("six"), np.array(6.0))
        self.nodes.append(helper.make_node("Clip", [z, lo, hi], [r]))
        return r, out


def build(weights):
    g = Graph(weights)
    x, size = g.conv_bn("images", SIDE, "_conv_stem", "_bn0", stride=2)
    cin, index = 32, 0
    for repeats, k, s, e, cout in STAGES:
        for r in range(repeats):
            p, stride, hidden = f"_blocks.{index}", s if r == 0 else 1, cin * e
            y = x
            if e != 1:
                y, _ = g.conv_bn(y, size, f"{p}._expand_conv", f"{p}._bn0")
            y, out = g.conv_bn(y, size, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, groups=hidden)
            y, _ = g.conv_bn(y, out, f"{p}._project_conv", f"{p}._bn2", relu6=False)
            if stride == 1 and cin == cout:
                summed = g.name("add")
                g.nodes.append(helper.make_node("Add", [y, x], [summed]))
                y = summed
            x, size, cin, index = y, out, cout, index + 1
    x, _ = g.conv_bn(x, size, "_conv_head", "_bn1")
    pooled = g.name("pool")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
    g.nodes.append(helper.make_node("Flatten", [pooled], ["pooled"]))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["n", 1280])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--catalog", default="../shared/data/hm")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--model-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference")
    parser.add_argument("--save")
    args = parser.parse_args()
    model = build(read_safetensors(args.weights))
    if args.save:
        onnx.save(model, args.save)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    run = lambda pixels: session.run(["pooled"], {"images": pixels})[0]
    if args.reference:
        ref = json.load(open(args.reference))["images"][0]
        from pathlib import Path
        ours = run(load(Path(args.catalog) / ref["path"]).transpose(2, 0, 1)[None].copy())[0]
        theirs = np.array(ref["pooled_feature_1280"])
        print(f"check: cosine with the reference feature {ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs):.5f}")
    paths = photo_paths(args.catalog, args.images)
    batches = [paths[i:i + args.batch] for i in range(0, len(paths), args.batch)]
    stack = lambda b: np.ascontiguousarray(np.stack([load(p) for p in b]).transpose(0, 3, 1, 2))
    run(np.zeros((1, 3, SIDE, SIDE), np.float32))  # warm-up, as the Rust side loads first
    version = f"onnxruntime={ort.__version__}"
    if args.model_only:
        pixels = [stack(b) for b in batches]
        count = sum(p.shape[0] for p in pixels)
        run(pixels[0])
        for round in range(1, args.rounds + 1):
            start = time.perf_counter()
            for p in pixels:
                run(p)
            elapsed = time.perf_counter() - start
            print(f"efficientnet-lite0 model-only side=onnxruntime round={round} threads={args.threads} "
                  f"batch={args.batch} images={count} {version} img_per_s={count / elapsed:.1f}")
        return
    with ThreadPoolExecutor(args.threads) as pool:
        start = time.perf_counter()
        count = 0
        for pixels in pool.map(stack, batches):
            count += run(pixels).shape[0]
        elapsed = time.perf_counter() - start
    print(f"efficientnet-lite0 side=onnxruntime threads={args.threads} images={count} {version} "
          f"img_per_s={count / elapsed:.1f}")


if __name__ == "__main__":
    main()
