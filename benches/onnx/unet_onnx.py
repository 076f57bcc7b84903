#!/usr/bin/env python3
"""The runtime's U-Net one-step map against ONNX Runtime on the same network and weights.

For each flowmap model file given (format 2, `unet`; written by
`cargo run --release -p flowmap-benches --example write_unet_models -- DIR`), this script
 1. builds an ONNX graph of the same network from the file's metadata and weights
    (docs/format.md §8; the topology follows benches/common/unet_torch.rs), with the batch,
    s and t as graph inputs, so one graph serves any (s, t) and batch;
 2. loads it into ONNX Runtime (1 intra-op and 1 inter-op thread, sequential execution,
    ORT_ENABLE_ALL) and the model file into libflowmap through its C API (ctypes on
    target/release/libflowmap.so), in this one process;
 3. checks that both give the same X_{0,1}(x) and X_{0.25,0.75}(x) (max relative error),
    then times both in interleaved short rounds (best of rounds, and the median), single
    thread.

GroupNorm goes into the graph as torch.onnx exports it (InstanceNormalization on [B, G, -1]
and a per-channel affine; ORT's fast path) or, with --groupnorm op21, as the opset-21
GroupNormalization op (which ORT runs as its slower function body). Results and method:
docs/performance.md, "Against ONNX Runtime".

Run it pinned to one core (the machine is shared), e.g.:

    cargo build --release -p flowmap-ffi
    cargo run --release -p flowmap-benches --example write_unet_models -- /tmp/unets
    python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnx onnxruntime numpy safetensors
    taskset -c 1 cargo bench -p flowmap-benches --bench fma_peak    # -> --fma-peak
    taskset -c 1 /tmp/ortvenv/bin/python benches/onnx/unet_onnx.py /tmp/unets/unet_*.safetensors \
        --fma-peak 118.2

Not part of CI (it needs Python packages from PyPI).
"""

import argparse
import collections
import ctypes
import json
import math
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors import safe_open

OPSET = 21  # GroupNormalization with per-channel scale/bias is opset 21


# ---------------------------------------------------------------- the model file


def read_model(path):
    """The `flowmap` metadata (a dict) and the weights (name -> float32 array)."""
    with safe_open(path, framework="np") as f:
        meta = json.loads(f.metadata()["flowmap"])
        weights = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}
    return meta, weights


# ---------------------------------------------------------------- the ONNX graph


class Graph:
    """A small builder: fresh value names, initialisers from the weights, node list."""

    def __init__(self, weights, groupnorm):
        self.w = weights
        self.groupnorm = groupnorm
        self.nodes = []
        self.inits = []
        self.used = set()
        self.n = 0

    def fresh(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def op(self, op_type, inputs, hint=None, out=None, **attrs):
        out = out or self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def const(self, value, hint="c", dtype=np.float32):
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, name, reshape=None):
        """An initialiser holding model tensor `name` (each is used exactly once)."""
        assert name not in self.used, name
        self.used.add(name)
        a = self.w[name]
        if reshape is not None:
            a = a.reshape(reshape)
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    # -- layers

    def conv(self, h, prefix, stride=1):
        wt = self.w[f"{prefix}.weight"]
        k = wt.shape[2]
        return self.op(
            "Conv",
            [h, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            hint=prefix,
            kernel_shape=[k, k],
            pads=[k // 2] * 4,
            strides=[stride, stride],
        )

    def group_norm(self, h, prefix, groups, eps):
        if self.groupnorm == "op21":
            return self.op(
                "GroupNormalization",
                [h, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
                hint=prefix,
                num_groups=groups,
                epsilon=eps,
            )
        # What torch.onnx exports for group_norm: [B, G, -1] through InstanceNormalization
        # (unit scale, zero bias), back to [B, C, H, W], then the per-channel affine. ORT
        # runs GroupNormalization-21 as its function body (Reshape, ReduceMean, Sub, Div,
        # Sqrt, Cast nodes), which is ~1.5x slower end to end here (--groupnorm op21).
        inorm = self.op(
            "InstanceNormalization",
            [
                self.op("Reshape", [h, self.const([0, groups, -1], dtype=np.int64)]),
                self.const(np.ones(groups, np.float32)),
                self.const(np.zeros(groups, np.float32)),
            ],
            hint=prefix,
            epsilon=eps,
        )
        back = self.op("Reshape", [inorm, self.op("Shape", [h])])
        ch = self.w[f"{prefix}.weight"].size
        gamma = self.weight(f"{prefix}.weight", reshape=(ch, 1, 1))
        beta = self.weight(f"{prefix}.bias", reshape=(ch, 1, 1))
        return self.op("Add", [self.op("Mul", [back, gamma]), beta], hint=prefix)

    def silu(self, h):
        return self.op("Mul", [h, self.op("Sigmoid", [h])], hint="silu")

    def linear(self, h, prefix):
        """x W^T + b for a row vector x [1, in] (Gemm, transB)."""
        return self.op(
            "Gemm",
            [h, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")],
            hint=prefix,
            transB=1,
        )


def build_onnx(meta, weights, groupnorm="instancenorm"):
    """The ONNX model of X_{s,t}(x) for a flowmap `unet` file (x in data space)."""
    a = meta["architecture"]
    assert a["kind"] == "unet", "only unet models"
    C, H, W = a["data_shape"]
    c, mult, blocks = a["channels"], a["channel_mult"], a["blocks"]
    heads, groups, eps = a["heads"], a["groups"], float(a["norm_eps"])
    att_res = set(a["attention"])
    freqs = np.asarray(a["time_embedding"]["frequencies"], dtype=np.float32)
    sigma = float(meta["sigma"])
    mean = np.asarray(meta["normalization"]["mean"], dtype=np.float32)
    std = np.asarray(meta["normalization"]["std"], dtype=np.float32)

    g = Graph(weights, groupnorm)
    x, s, t = "x", "s", "t"  # x [B, C, H, W], s and t [1]

    # Normalisation (docs/format.md §4): z = (x - mean) / std, one value, per channel or
    # per element; skipped when it is the identity (the benchmark nets).
    def norm_shape(v):
        return v.reshape(1, C, 1, 1) if v.size == C and v.size > 1 else v.reshape((1, C, H, W) if v.size > 1 else (1,))

    identity_norm = bool(np.all(mean == 0) and np.all(std == 1))
    z = x if identity_norm else g.op("Div", [g.op("Sub", [x, g.const(norm_shape(mean))]), g.const(norm_shape(std))])

    # Time features: [sin(ω_k s), cos(ω_k s)]_k ++ [sin(ω_k d), cos(ω_k d)]_k, ω_k = 2π f_k in
    # f32 (as the runtime computes it), d = t - s.
    omega = g.const((np.float32(2 * math.pi) * freqs).astype(np.float32), "omega")
    d = g.op("Sub", [t, s], hint="d")

    def features(u):
        arg = g.op("Mul", [omega, u])  # [F]
        sc = g.op("Concat", [g.op("Unsqueeze", [g.op(f, [arg]), g.const([1], dtype=np.int64)]) for f in ("Sin", "Cos")], axis=1)
        return g.op("Reshape", [sc, g.const([-1], dtype=np.int64)])  # interleaved [2F]

    feat = g.op("Concat", [features(s), features(d)], axis=0)
    feat = g.op("Unsqueeze", [feat, g.const([0], dtype=np.int64)], hint="feat")  # [1, 4F]
    emb = g.linear(g.silu(g.linear(feat, "time.0")), "time.1")
    se = g.silu(emb)  # every block's embedding projection reads silu(emb)

    def res_block(h, p, cout):
        r = g.conv(g.silu(g.group_norm(h, f"{p}.norm1", groups, eps)), f"{p}.conv1")
        ss = g.linear(se, f"{p}.emb")  # [1, 2 cout]
        ss = g.op("Reshape", [ss, g.const([1, 2 * cout, 1, 1], dtype=np.int64)])
        scale = g.op("Slice", [ss, g.const([0], dtype=np.int64), g.const([cout], dtype=np.int64), g.const([1], dtype=np.int64)])
        shift = g.op("Slice", [ss, g.const([cout], dtype=np.int64), g.const([2 * cout], dtype=np.int64), g.const([1], dtype=np.int64)])
        scale1 = g.op("Add", [scale, g.const(np.float32(1.0))])
        r = g.op("Add", [g.op("Mul", [g.group_norm(r, f"{p}.norm2", groups, eps), scale1]), shift])
        r = g.conv(g.silu(r), f"{p}.conv2")
        skip = g.conv(h, f"{p}.skip") if f"{p}.skip.weight" in weights else h
        return g.op("Add", [skip, r], hint=f"{p}.out")

    def attention(h, p, ch, hl, wl):
        dh, P = ch // heads, hl * wl
        qkv = g.conv(g.group_norm(h, f"{p}.norm", groups, eps), f"{p}.qkv")
        qkv = g.op("Reshape", [qkv, g.const([0, 3, heads, dh, P], dtype=np.int64)])
        q, k, v = (
            g.op("Squeeze", [g.op("Slice", [qkv, g.const([i], dtype=np.int64), g.const([i + 1], dtype=np.int64), g.const([1], dtype=np.int64)]), g.const([1], dtype=np.int64)])
            for i in range(3)
        )  # each [B, heads, dh, P]
        qt = g.op("Transpose", [q], perm=[0, 1, 3, 2])
        scores = g.op("Mul", [g.op("MatMul", [qt, k]), g.const(np.float32(1.0 / math.sqrt(dh)))])
        att = g.op("Softmax", [scores], axis=-1)  # over keys, [B, heads, P(q), P(k)]
        o = g.op("MatMul", [v, g.op("Transpose", [att], perm=[0, 1, 3, 2])])  # [B, heads, dh, P]
        o = g.op("Reshape", [o, g.const([0, ch, hl, wl], dtype=np.int64)])
        return g.op("Add", [h, g.conv(o, f"{p}.proj")], hint=f"{p}.out")

    sizes = [(H, W)]
    for _ in mult[1:]:
        hl, wl = sizes[-1]
        sizes.append(((hl + 1) // 2, (wl + 1) // 2))
    L = len(mult)

    h = z if sigma == 1.0 else g.op("Div", [z, g.const(np.float32(sigma))])
    h = g.conv(h, "conv_in")
    skips = []
    for l in range(L):
        for b in range(blocks):
            h = res_block(h, f"down.{l}.block.{b}", c * mult[l])
            if sizes[l][0] in att_res:
                h = attention(h, f"down.{l}.attn.{b}", c * mult[l], *sizes[l])
            skips.append(h)
        if l < L - 1:
            h = g.conv(h, f"down.{l}.downsample", stride=2)
    h = res_block(h, "mid.block.0", c * mult[-1])
    if a["mid_attention"]:
        h = attention(h, "mid.attn", c * mult[-1], *sizes[-1])
    h = res_block(h, "mid.block.1", c * mult[-1])
    for l in reversed(range(L)):
        for b in range(blocks):
            h = g.op("Concat", [h, skips.pop()], axis=1)
            h = res_block(h, f"up.{l}.block.{b}", c * mult[l])
            if sizes[l][0] in att_res:
                h = attention(h, f"up.{l}.attn.{b}", c * mult[l], *sizes[l])
        if l > 0:
            # Nearest 2x (PyTorch's: source index floor(i / 2)), crop to the finer level.
            up = g.op("Resize", [h, "", g.const([1, 1, 2, 2])], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            hl, wl = sizes[l - 1]
            up = g.op("Slice", [up, g.const([0, 0], dtype=np.int64), g.const([hl, wl], dtype=np.int64), g.const([2, 3], dtype=np.int64)])
            h = g.conv(up, f"up.{l}.upsample")
    assert not skips
    v = g.conv(g.silu(g.group_norm(h, "out.norm", groups, eps)), "out.conv")
    if sigma != 1.0:
        v = g.op("Mul", [v, g.const(np.float32(sigma))])
    zt = g.op("Add", [z, g.op("Mul", [v, d])], hint="X")  # X_{s,t}(z) = z + (t - s) v
    # Back to data space: mean + std * X.
    if identity_norm:
        g.op("Identity", [zt], out="y")
    else:
        g.op("Add", [g.op("Mul", [zt, g.const(norm_shape(std))]), g.const(norm_shape(mean))], out="y")
    unused = set(weights) - g.used
    assert not unused, f"weights not used by the graph: {sorted(unused)[:5]}"

    graph = helper.make_graph(
        g.nodes,
        "flowmap_unet",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", C, H, W]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("t", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", C, H, W])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="flowmap benches/onnx")
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------- libflowmap via ctypes


class Flowmap:
    """The C API of include/flowmap.h: load a model, one workspace, flowmap_map."""

    def __init__(self, lib_path, model_path, max_batch):
        lib = ctypes.CDLL(lib_path)
        lib.flowmap_model_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.flowmap_model_load.restype = ctypes.c_int32
        lib.flowmap_workspace_new.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
        lib.flowmap_workspace_new.restype = ctypes.c_int32
        lib.flowmap_map.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float, ctypes.c_float, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        lib.flowmap_map.restype = ctypes.c_int32
        lib.flowmap_last_error.restype = ctypes.c_char_p
        lib.flowmap_version.restype = ctypes.c_char_p
        lib.flowmap_model_free.argtypes = [ctypes.c_void_p]
        lib.flowmap_workspace_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.model = ctypes.c_void_p()
        self.check(lib.flowmap_model_load(model_path.encode(), ctypes.byref(self.model)))
        self.ws = ctypes.c_void_p()
        self.check(lib.flowmap_workspace_new(self.model, max_batch, ctypes.byref(self.ws)))

    def check(self, status):
        if status != 0:
            raise RuntimeError(f"flowmap status {status}: {self.lib.flowmap_last_error().decode()}")

    def map_fn(self, s, t, x, out):
        """A zero-argument closure running X_{s,t} from x into out (C-contiguous float32)."""
        f, m, ws = self.lib.flowmap_map, self.model, self.ws
        xp, op, n = x.ctypes.data, out.ctypes.data, x.shape[0]

        def run():
            if f(m, ws, s, t, xp, n, op) != 0:
                self.check(1)

        return run

    def close(self):
        self.lib.flowmap_workspace_free(self.ws)
        self.lib.flowmap_model_free(self.model)


# ---------------------------------------------------------------- timing


def interleaved(fns, budget_s):
    """Seconds per call of each closure: (best, median) over short interleaved rounds.

    As benches/common/mod.rs `interleaved`: ~2 ms rounds alternate between candidates so that
    a neighbour's load hits both alike; the best round estimates the uncontended time.
    """
    reps = []
    for f in fns:
        f()
        t0 = time.perf_counter()
        f()
        dt = max(time.perf_counter() - t0, 1e-8)
        reps.append(max(1, min(1_000_000, int(2e-3 / dt))))
    rounds = [[] for _ in fns]
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s or len(rounds[0]) < 5:
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(reps[i]):
                f()
            rounds[i].append((time.perf_counter() - t0) / reps[i])
    return [(min(r), statistics.median(r)) for r in rounds]


def flops_per_image(meta, weights):
    """2 flop per multiply-add of the convolutions and attention (the bench's convention:
    unet_vs_libtorch.rs `flops`; the time MLP, norms and activations are not counted)."""
    a = meta["architecture"]
    C, H, W = a["data_shape"]
    sizes = [(H, W)]
    for _ in a["channel_mult"][1:]:
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    f = 0.0
    for name, w in weights.items():
        if w.ndim != 4 or not name.endswith(".weight"):
            continue
        cout, cin, k, _ = w.shape
        p = name[: -len(".weight")]
        if p in ("conv_in", "out.conv"):
            oh, ow = H, W
        elif p.startswith("mid."):
            oh, ow = sizes[-1]
        else:
            lvl = int(p.split(".")[1])
            if p.endswith("downsample"):
                oh, ow = sizes[lvl + 1]
            elif p.endswith("upsample"):
                oh, ow = sizes[lvl - 1]
            else:
                oh, ow = sizes[lvl]
        f += 2.0 * oh * ow * cout * cin * k * k
        if p.endswith(".qkv"):
            pp = oh * ow
            f += 4.0 * pp * pp * cin  # q^T k and v a^T
    return f


def ort_profile(model_bytes, so_base, shape, runs=20):
    """ORT's own per-operator-type time shares (its profiler) at batch 1, in percent."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = so_base.intra_op_num_threads
    so.inter_op_num_threads = so_base.inter_op_num_threads
    so.execution_mode = so_base.execution_mode
    so.graph_optimization_level = so_base.graph_optimization_level
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "unet_onnx_profile")
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    feed = {
        "x": np.random.default_rng(3).standard_normal((1, *shape), dtype=np.float32),
        "s": np.array([0.0], np.float32),
        "t": np.array([1.0], np.float32),
    }
    for _ in range(runs):
        sess.run(["y"], feed)
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    return [(op, 100.0 * us / total) for op, us in by_op.most_common()]


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="flowmap unet model files (.safetensors)")
    ap.add_argument("--lib", default=os.path.join(os.path.dirname(__file__), "../../target/release/libflowmap.so"))
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--budget", type=float, default=8.0, help="seconds of timing per batch-64 case (a quarter at batch 1)")
    ap.add_argument("--fma-peak", type=float, help="single-core FMA peak in GFLOP/s (the fma_peak bench's best FMA line) for the %% columns")
    ap.add_argument(
        "--groupnorm",
        choices=["instancenorm", "op21"],
        default="instancenorm",
        help="GroupNorm as torch.onnx exports it (InstanceNormalization on [B, G, -1]) or as the opset-21 GroupNormalization op",
    )
    ap.add_argument("--ort-profile", action="store_true", help="also print ORT's time per operator type (batch 1)")
    ap.add_argument("--save-onnx", help="folder to save the ONNX graphs in")
    args = ap.parse_args()

    peak = args.fma_peak
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"GroupNorm in the graph: {args.groupnorm}")
    print("ORT: intra_op_num_threads=1, inter_op_num_threads=1, ORT_SEQUENTIAL, ORT_ENABLE_ALL, CPUExecutionProvider")
    if peak:
        print(f"FMA peak (--fma-peak): {peak:.1f} GFLOP/s")
    rows = []
    for path in args.models:
        meta, weights = read_model(path)
        C, H, W = meta["architecture"]["data_shape"]
        name = f"{C}x{H}x{W}"
        model = build_onnx(meta, weights, args.groupnorm)
        if args.save_onnx:
            os.makedirs(args.save_onnx, exist_ok=True)
            onnx.save(model, os.path.join(args.save_onnx, f"unet_{name}.onnx"))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        if args.ort_profile:
            shares = ort_profile(model.SerializeToString(), so, (C, H, W))
            print(f"  {name} ORT profile (batch 1): " + ", ".join(f"{op} {p:.1f} %" for op, p in shares if p >= 0.5), flush=True)
        batches = [int(b) for b in args.batches.split(",")]
        fm = Flowmap(args.lib, path, max(batches))
        f = flops_per_image(meta, weights)
        s0, t0 = 0.0, 1.0
        for batch in batches:
            rng = np.random.default_rng(3)
            x = rng.standard_normal((batch, C, H, W), dtype=np.float32)
            out_fm = np.zeros_like(x)
            # ORT writes into a pre-bound output buffer (no per-call allocation or copy).
            out_ort = np.zeros_like(x)
            io = sess.io_binding()
            io.bind_cpu_input("x", x)
            io.bind_cpu_input("s", np.array([s0], np.float32))
            io.bind_cpu_input("t", np.array([t0], np.float32))
            io.bind_output("y", "cpu", 0, np.float32, list(x.shape), out_ort.ctypes.data)

            def ort_run(sess=sess, io=io):
                sess.run_with_iobinding(io)

            fm_run = fm.map_fn(s0, t0, x, out_fm)
            ort_run()
            fm_run()
            # Agreement on X_{0,1}(x) and on the velocity part (X - x), which is what the
            # network computes (the identity part would hide its error).
            rel = float(np.max(np.abs(out_fm - out_ort)) / np.max(np.abs(out_ort)))
            vel = float(np.max(np.abs((out_fm - x) - (out_ort - x))) / np.max(np.abs(out_ort - x)))
            # Another (s, t) through the same graph: the time inputs are live.
            fm.map_fn(0.25, 0.75, x, out_fm)()
            r2 = sess.run(["y"], {"x": x, "s": np.array([0.25], np.float32), "t": np.array([0.75], np.float32)})[0]
            rel2 = float(np.max(np.abs(out_fm - r2)) / np.max(np.abs(r2 - x)))
            (b_ort, m_ort), (b_fm, m_fm) = interleaved([ort_run, fm_run], args.budget if batch > 1 else args.budget / 4)
            gf = f * batch / b_fm / 1e9
            gf_ort = f * batch / b_ort / 1e9
            rows.append((name, f / 1e6, batch, b_ort / batch, b_fm / batch, m_ort / batch, m_fm / batch, gf, gf_ort, rel, vel, rel2))
            print(f"  {name} batch {batch}: max rel err X {rel:.2e}, velocity {vel:.2e}, (s,t)=(0.25,0.75) {rel2:.2e}", flush=True)
        fm.close()

    print(f"\n## U-Net map X_(0,1), single thread: libflowmap (C API) vs ONNX Runtime {ort.__version__}, same process\n")
    print("best of interleaved rounds (median in brackets); ratio = runtime time / ORT time (< 1: runtime faster)\n")
    hdr = "| net | MFLOP/image | batch | ORT per image | runtime per image | runtime / ORT | runtime GFLOP/s | ORT GFLOP/s |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if peak:
        hdr += " runtime % FMA peak | ORT % FMA peak |"
        sep += "---:|---:|"
    print(hdr)
    print(sep)
    for name, mf, batch, o, r, mo, mr, gf, gfo, *_ in rows:
        line = f"| {name} | {mf:.1f} | {batch} | {o * 1e3:.3f} ms ({mo * 1e3:.3f}) | {r * 1e3:.3f} ms ({mr * 1e3:.3f}) | {r / o:.2f} ({mr / mo:.2f}) | {gf:.1f} | {gfo:.1f} |"
        if peak:
            line += f" {100 * gf / peak:.0f} % | {100 * gfo / peak:.0f} % |"
        print(line)
    worst = max(max(r[9], r[10], r[11]) for r in rows)
    print(f"\nworst max relative error (X, velocity, other (s,t)): {worst:.2e}")


if __name__ == "__main__":
    main()
