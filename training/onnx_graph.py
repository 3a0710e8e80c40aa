"""The ONNX graph of a classifier checkpoint: traced from torch, checked against it, fused for ONNX
Runtime, quantised to int8 with chosen MatMuls kept in fp32, and scored on evaluation sets.

training.export drives these steps; the sessions are the runtime's (nlp.onnx_session).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from nlp.onnx_session import cpu_session
from training.calibrate import FloatArray, classification_metrics
from training.classifier import LABELS, SentimentClassifier, predict_logits

ONNX_BATCH = 64
# What stays fp32, tried in order until int8 loses at most export.max_int8_loss_points: nothing; the
# head and the first layer's FFN output projection (for e5s-zh-2 this kept the loss at 0.17 pt where
# int8 alone lost 0.5, and ran 1.3× faster than keeping every FFN output in fp32); every FFN output
# projection (their GELU inputs have outliers: keeping them fp32 halved the logit error of every
# other choice measured on e5s-zh-1) and the head; then also the attention output projections. The
# last still fits 60 MB (~57 MB for 12 layers).
# The classification heads' nodes: the binary head, and the polarity and emotion heads of a multi-head model.
HEAD_NODES = ("/head/", "/polarity/", "/emotion/")
FP32_CANDIDATES = ("none", "ffn_out_first", "ffn_out", "ffn_out+attn_out")


@dataclass(frozen=True)
class EvalSet:
    """One labelled evaluation file, encoded as the runtime would (head + tail)."""

    name: str
    path: Path
    ids: list[list[int]]
    labels: list[int]
    texts: list[str]


def session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU inference session with `threads` intra-op threads, as the runtime builds it."""
    return cpu_session(path, threads)


def export_onnx(model: torch.nn.Module, path: Path, opset: int, outputs: Sequence[str] = ("logits",)) -> None:
    """Trace the classifier to ONNX with dynamic batch and sequence axes; `outputs` names the
    model's outputs in order (a multi-head model returns a tuple)."""
    # The eager attention traces to plain MatMul/Softmax that every ONNX Runtime build quantises.
    model.encoder.config._attn_implementation = "eager"  # type: ignore[union-attr]
    ids = torch.tensor([[0, 6, 7, 8, 2], [0, 9, 2, 1, 1]], dtype=torch.long)
    mask = (ids != 1).long()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=list(outputs),
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                **{name: {0: "batch"} for name in outputs},
            },
            opset_version=opset,
            dynamo=False,
        )


def onnx_logits(sess: ort.InferenceSession, rows: Sequence[Sequence[int]], pad_id: int) -> FloatArray:
    """Logits [n, 2] from an ONNX session, batched by length."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    for start in range(0, len(order), ONNX_BATCH):
        chunk = order[start : start + ONNX_BATCH]
        width = max(len(rows[i]) for i in chunk)
        ids = np.full((len(chunk), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, index in enumerate(chunk):
            ids[row, : len(rows[index])] = rows[index]
            mask[row, : len(rows[index])] = 1
        (logits,) = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        out[chunk] = logits
    return out


def check_against_torch(
    model: SentimentClassifier, sess: ort.InferenceSession, rows: list[list[int]], pad_id: int
) -> float:
    """Largest absolute logit difference between torch and the fp32 ONNX graph on `rows`."""
    reference = predict_logits(model, rows, pad_id, ONNX_BATCH)
    return float(np.max(np.abs(reference - onnx_logits(sess, rows, pad_id))))


def fp32_nodes(onnx_path: Path, kind: str) -> list[str]:
    """Names of the MatMul/Gemm nodes that candidate `kind` (see FP32_CANDIDATES) keeps in fp32."""
    import onnx

    if kind == "none":
        return []
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    picked: list[str] = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        ffn_out = "/output/dense/" in node.name and "/attention/" not in node.name
        if kind == "ffn_out_first":
            keep = ffn_out and "/layer.0/" in node.name
        else:
            keep = ffn_out or ("/output/dense/" in node.name and kind == "ffn_out+attn_out")
        if node.name.startswith(HEAD_NODES) or keep:
            picked.append(node.name)
    return picked


def fuse(fp32: Path, fused: Path, heads: int, hidden: int) -> None:
    """Fuse the BERT graph (attention, skip layer norms, bias GELU, embeddings) for ONNX Runtime."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden)
    model.save_model_to_file(str(fused))


def quantize(fp32: Path, int8: Path, exclude: Sequence[str]) -> None:
    """Dynamic int8 quantisation, per channel, signed weights; `exclude` nodes stay fp32."""
    import onnx

    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=list(exclude),
        # Only weight MatMuls: quantising the attention products (both inputs activations) costs
        # accuracy for little speed, as their operands are small.
        # The fused operators (Attention, SkipLayerNormalization) live in the com.microsoft domain,
        # where ONNX shape inference cannot type their outputs; they are float.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def score_sets(sess: ort.InferenceSession, sets: Sequence[EvalSet], pad_id: int) -> dict[str, FloatArray]:
    """Logits of every set, by name."""
    return {s.name: onnx_logits(sess, s.ids, pad_id) for s in sets}


def accuracy_loss(fp32: FloatArray, int8: FloatArray, labels: Sequence[int]) -> float:
    """Accuracy drop (points) of int8 against fp32."""
    before = classification_metrics(fp32, labels)["accuracy"]
    return float(100 * (before - classification_metrics(int8, labels)["accuracy"]))


def judged_sets(sets: Sequence[EvalSet], limit: float) -> set[str]:
    """The sets that can measure a loss of `limit` points, where one flipped label costs no more
    (100 / n ≤ limit): a 30-text dev share moves in steps of 3.3 points and would refuse every int8
    graph. Every set when none is that large."""
    large = {s.name for s in sets if 100.0 / max(1, len(s.ids)) <= limit}
    return large or {s.name for s in sets}


def score_int8(
    sess: ort.InferenceSession,
    sets: Sequence[EvalSet],
    fp32: dict[str, FloatArray],
    pad_id: int,
    limit: float | None,
    judged: Collection[str] | None = None,
) -> tuple[dict[str, FloatArray], float]:
    """int8 logits per set (smallest set first) and the worst loss on the `judged` sets (None: all);
    stops at the first judged set losing more than `limit` points (None = score every set)."""
    logits: dict[str, FloatArray] = {}
    worst = float("-inf")
    for s in sorted(sets, key=lambda s: len(s.ids)):
        logits[s.name] = onnx_logits(sess, s.ids, pad_id)
        if judged is not None and s.name not in judged:
            continue
        worst = max(worst, accuracy_loss(fp32[s.name], logits[s.name], s.labels))
        if limit is not None and worst > limit:
            break
    return logits, worst


__all__ = [
    "FP32_CANDIDATES",
    "ONNX_BATCH",
    "EvalSet",
    "accuracy_loss",
    "check_against_torch",
    "export_onnx",
    "fp32_nodes",
    "fuse",
    "judged_sets",
    "onnx_logits",
    "quantize",
    "score_int8",
    "score_sets",
    "session",
]
