"""Weights back from an exported model: a fused int8 ``model.onnx`` → the encoder's state dict and
its classification heads.

A shipped model folder holds only its ONNX export; fine-tuning it further (new heads on the encoder
a model already has, or a three-way model on your own labels) needs the weights as torch tensors. The
export (``training.onnx_graph``) fuses and quantises, so this undoes both: int8/uint8 initialisers
are dequantised as ``(q - zero) * scale`` (per channel where the scale is a vector), the fused QKV
weight of each ``(Q)Attention`` node is cut back into query, key and value, and each layer's three
MatMul weights (attention output, FFN in, FFN out) are transposed back into ``nn.Linear`` layout.
Layer norms and biases keep their names in the graph. The heads are the ``/head/`` node of a binary
classifier, or the ``/polarity/`` and ``/emotion/`` nodes of a three-way + emotion one (MatMul,
MatMulInteger or Gemm). The result differs from the fp32 weights before export only by the
quantisation step, which is what the shipped model computes with anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from nlp.errors import ModelError

FloatArray = npt.NDArray[np.float32]
_LAYER = re.compile(r"/encoder/encoder/layer\.(\d+)/(attention/output|intermediate|output)/dense/MatMul")
_LINEAR = {"attention/output": "attention.output.dense", "intermediate": "intermediate.dense", "output": "output.dense"}
# The head nodes of a binary classifier ("head") and of a multi-head one, as export names them.
HEAD_NAMES = ("head", "polarity", "emotion")


@dataclass(frozen=True)
class ExportedWeights:
    """What a fused export holds: the BertModel state dict, each head as (weight [classes, hidden],
    bias [classes]) by name (``head``, or ``polarity`` and ``emotion``), and the attention heads."""

    state: dict[str, FloatArray]
    heads: dict[str, tuple[FloatArray, FloatArray]]
    num_attention_heads: int


def _tensors(model: onnx.ModelProto) -> dict[str, FloatArray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _weight(tensors: dict[str, FloatArray], name: str) -> FloatArray:
    """A weight by its initialiser name, dequantised when it was stored as ``name_quantized``."""
    base = name.removesuffix("_quantized")
    if base == name:
        return tensors[name].astype(np.float32)
    try:
        q = tensors[f"{base}_quantized"].astype(np.float32)
        scale = tensors[f"{base}_scale"].astype(np.float32)
        zero = tensors[f"{base}_zero_point"].astype(np.float32)
    except KeyError:
        raise ModelError(f"model.onnx: no initialiser {name!r} (plain or quantised)") from None
    return (q - zero) * scale  # a per-channel scale broadcasts over the last (output) axis


def _head_weight(node: onnx.NodeProto, tensors: dict[str, FloatArray]) -> FloatArray:
    """A head's weight as [classes, hidden]: MatMul stores it [hidden, classes], Gemm as transB says."""
    weight = _weight(tensors, node.input[1])
    if node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute):
        return weight.copy()
    return weight.T.copy()


def read_export(path: Path) -> ExportedWeights:
    """The encoder state dict and the heads of a fused export (binary or multi-head)."""
    model = onnx.load(str(path))
    tensors = _tensors(model)
    state: dict[str, FloatArray] = {}
    weights: dict[str, FloatArray] = {}
    attention_heads = 0
    for node in model.graph.node:
        if node.op_type in ("EmbedLayerNormalization", "QEmbedLayerNormalization"):
            word, position, token_type, gamma, beta = node.input[2:7]
            for key, name in (
                ("word_embeddings.weight", word),
                ("position_embeddings.weight", position),
                ("token_type_embeddings.weight", token_type),
                ("LayerNorm.weight", gamma),
                ("LayerNorm.bias", beta),
            ):
                state[f"embeddings.{key}"] = _weight(tensors, name)
        elif node.op_type in ("Attention", "QAttention"):
            layer = int(node.name.split("_")[1])
            attention_heads = next((a.i for a in node.attribute if a.name == "num_heads"), attention_heads)
            qkv, bias = _weight(tensors, node.input[1]), _weight(tensors, node.input[2])
            hidden = qkv.shape[0]
            for k, part in enumerate(("query", "key", "value")):
                prefix = f"encoder.layer.{layer}.attention.self.{part}"
                state[f"{prefix}.weight"] = qkv[:, k * hidden : (k + 1) * hidden].T.copy()
                state[f"{prefix}.bias"] = bias[k * hidden : (k + 1) * hidden].copy()
        elif node.op_type in ("MatMul", "MatMulInteger", "Gemm"):
            head = next((h for h in HEAD_NAMES if node.name.startswith(f"/{h}/")), None)
            if head is not None:
                weights[head] = _head_weight(node, tensors)
                continue
            found = _LAYER.match(node.name)
            if found is None:
                continue
            prefix = f"encoder.layer.{found[1]}.{_LINEAR[found[2]]}"
            state[f"{prefix}.weight"] = _weight(tensors, node.input[1]).T.copy()
    for name, value in tensors.items():
        if name.startswith("encoder.encoder.layer.") and not name.endswith(("_scale", "_zero_point", "_quantized")):
            state[name.removeprefix("encoder.")] = value.astype(np.float32)
    heads = {
        name: (weight, tensors[f"{name}.bias"].astype(np.float32))
        for name, weight in weights.items()
        if f"{name}.bias" in tensors
    }
    if "head" not in heads and not {"polarity", "emotion"} <= set(heads):
        raise ModelError(
            f"{path}: no head MatMul and head.bias (nor polarity and emotion heads); not a kesheng classifier export"
        )
    if attention_heads == 0 or "embeddings.word_embeddings.weight" not in state:
        raise ModelError(f"{path}: no fused attention and embedding nodes; export it with fusion (export.fuse)")
    return ExportedWeights(state, heads, attention_heads)


def encoder_state(path: Path) -> tuple[dict[str, FloatArray], FloatArray, FloatArray]:
    """(BertModel state dict, head weight [classes, hidden], head bias) of a fused binary export."""
    exported = read_export(path)
    if "head" not in exported.heads:
        raise ModelError(f"{path}: a three-way + emotion export; read its heads with read_export")
    weight, bias = exported.heads["head"]
    return exported.state, weight, bias


__all__ = ["HEAD_NAMES", "ExportedWeights", "encoder_state", "read_export"]
