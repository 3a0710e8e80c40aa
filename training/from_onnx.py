"""Weights back from an exported model: a fused int8 ``model.onnx`` → the encoder's state dict.

A shipped model folder holds only its ONNX export; fine-tuning it further (new heads on the encoder
a model already has) needs the weights as torch tensors. The export (``training.onnx_graph``) fuses
and quantises, so this undoes both: int8/uint8 initialisers are dequantised as ``(q - zero) * scale``
(per channel where the scale is a vector), the fused QKV weight of each ``(Q)Attention`` node is cut
back into query, key and value, and each layer's three MatMul weights (attention output, FFN in, FFN
out) are transposed back into ``nn.Linear`` layout. Layer norms and biases keep their names in the
graph. The result differs from the fp32 weights before export only by the quantisation step, which
is what the shipped model computes with anyway.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from nlp.errors import ModelError

FloatArray = npt.NDArray[np.float32]
_LAYER = re.compile(r"/encoder/encoder/layer\.(\d+)/(attention/output|intermediate|output)/dense/MatMul")
_LINEAR = {"attention/output": "attention.output.dense", "intermediate": "intermediate.dense", "output": "output.dense"}


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


def encoder_state(path: Path) -> tuple[dict[str, FloatArray], FloatArray, FloatArray]:
    """(BertModel state dict, head weight [classes, hidden], head bias) of a fused export."""
    model = onnx.load(str(path))
    tensors = _tensors(model)
    state: dict[str, FloatArray] = {}
    head_weight: FloatArray | None = None
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
            qkv, bias = _weight(tensors, node.input[1]), _weight(tensors, node.input[2])
            hidden = qkv.shape[0]
            for k, part in enumerate(("query", "key", "value")):
                prefix = f"encoder.layer.{layer}.attention.self.{part}"
                state[f"{prefix}.weight"] = qkv[:, k * hidden : (k + 1) * hidden].T.copy()
                state[f"{prefix}.bias"] = bias[k * hidden : (k + 1) * hidden].copy()
        elif node.op_type in ("MatMul", "MatMulInteger"):
            if node.name.startswith("/head/"):
                head_weight = _weight(tensors, node.input[1]).T.copy()
                continue
            found = _LAYER.match(node.name)
            if found is None:
                continue
            prefix = f"encoder.layer.{found[1]}.{_LINEAR[found[2]]}"
            state[f"{prefix}.weight"] = _weight(tensors, node.input[1]).T.copy()
    for name, value in tensors.items():
        if name.startswith("encoder.encoder.layer.") and not name.endswith(("_scale", "_zero_point", "_quantized")):
            state[name.removeprefix("encoder.")] = value.astype(np.float32)
    if head_weight is None or "head.bias" not in tensors:
        raise ModelError(f"{path}: no head MatMul and head.bias; not a kesheng classifier export")
    return state, head_weight, tensors["head.bias"].astype(np.float32)


__all__ = ["encoder_state"]
