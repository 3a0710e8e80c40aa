"""Tiny randomly initialised models for fast training tests: a base encoder in the runs/base-encoder
format, and a three-way + emotion model folder in the shipped (fused int8 ONNX) format."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from training.build_encoder import prune_tokenizer_json
from training.encoder import QUERY_PREFIX, source_files

if TYPE_CHECKING:
    from training.multitask import MultiHeadClassifier


def pruned_tokenizer_json(texts: Sequence[str]) -> dict[str, Any]:
    """The real e5 tokenizer pruned to the pieces of `texts` (and the prefix and the specials)."""
    full = json.loads(source_files().tokenizer.read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_str(json.dumps(full))
    keep = {int(t["id"]) for t in full["added_tokens"]}
    keep.update(i for e in tokenizer.encode_batch([QUERY_PREFIX, *texts]) for i in e.ids)
    return prune_tokenizer_json(full, sorted(keep))


def tiny_bert_config(vocab_size: int, heads: int = 2, max_positions: int = 64) -> BertConfig:
    """A 2-layer BERT of hidden size 32 with the e5 tokenizer's special ids (pad 1, bos 0, eos 2)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def nudged_multihead(config: BertConfig, seed: int) -> MultiHeadClassifier:
    """A random multi-head model on a BERT of `config` (seeded), every parameter nudged: a fresh BERT's
    layer norms are all ones and its biases all zeros, and the export shares equal tensors between
    layers; a trained model's never are."""
    from training.multitask import MultiHeadClassifier

    torch.manual_seed(seed)
    model = MultiHeadClassifier(BertModel(config, add_pooling_layer=False), 0.1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model


def write_tiny_encoder(folder: Path, tokenizer_json: dict[str, Any]) -> None:
    """A random 2-layer BERT (hidden 32) with `tokenizer_json` and a build manifest, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = len(tokenizer_json["model"]["vocab"])
    torch.manual_seed(0)
    BertModel(tiny_bert_config(vocab), add_pooling_layer=False).save_pretrained(str(folder))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), "utf-8")
    (folder / "build_manifest.json").write_text(
        json.dumps({"base_model": "tiny random BERT", "packages": {}, "vocab": {"after": vocab}}), "utf-8"
    )


def write_tiny_three_way_model(
    folder: Path, tokenizer_json: dict[str, Any], labelled: Sequence[tuple[str, int, int]], version: str
) -> Path:
    """A tiny three-way + emotion model folder in the shipped format, made the way export_multihead
    makes one: a random 2-layer BERT (hidden 32) with polarity and emotion heads, traced to ONNX,
    fused and quantised to int8; a character n-gram model with an emotion and a polarity n-gram head
    fitted on `labelled` (text, polarity index, emotion index); a manifest like e5s-zh-3's."""
    from sklearn.linear_model import LogisticRegression

    from nlp.schema import EMOTIONS, LABELS
    from nlp.sentiment.ngram import NgramHead, NgramParams, save_heads
    from training.export_multihead import OUTPUTS
    from training.ngram import fit_ngram
    from training.onnx_graph import export_onnx, fuse, quantize

    folder.mkdir(parents=True, exist_ok=True)
    work = folder.parent / f".{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    config = tiny_bert_config(len(tokenizer_json["model"]["vocab"]))
    model = nudged_multihead(config, seed=1)
    with torch.no_grad():
        torch.nn.init.normal_(model.polarity.weight, std=1.0)
        torch.nn.init.normal_(model.emotion.weight, std=1.0)
    model.eval()
    export_onnx(model, work / "raw.onnx", 17, OUTPUTS)
    fuse(work / "raw.onnx", work / "fused.onnx", 2, 32)
    quantize(work / "fused.onnx", folder / "model.onnx", [])
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), "utf-8")

    texts = [t for t, _, _ in labelled]
    opinions = [(t, int(p == 2)) for t, p, _ in labelled if p != 1]
    ngram = fit_ngram([t for t, _ in opinions], [y for _, y in opinions], NgramParams(n_features=2**14))
    ngram.save(folder)
    features = ngram.features(texts)
    heads = {}
    for name, column in (("polarity", 1), ("emotion", 2)):
        y = np.asarray([row[column] for row in labelled])
        fitted = LogisticRegression(C=2.0, max_iter=500).fit(features, y)
        coef = np.zeros((features.shape[1], len(LABELS) if name == "polarity" else len(EMOTIONS)), np.float32)
        coef[:, fitted.classes_] = fitted.coef_.T
        rows = np.flatnonzero(np.abs(coef).sum(axis=1) > 0)
        heads[name] = NgramHead.build(rows, coef[rows], np.zeros(coef.shape[1]), features.shape[1])
    save_heads(folder, heads)
    manifest = {
        "name": "tiny-three-way",
        "version": version,
        "format": "onnx",
        "labels": list(LABELS),
        "emotions": list(EMOTIONS),
        "text_prefix": "query: ",
        "max_length": 16,
        "window_stride": 4,
        "temperature": 1.0,
        "emotion_temperature": 1.0,
        "ngram_weight": 0.3,
        "ngram_heads": {"emotion": 0.5, "polarity": 0.2},
        "base_model": {"name": "tiny random BERT", "vocab": {"after": config.vocab_size}},
        "data": {},
        "config": {"note": "a tiny random model for tests"},
        "metrics": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    return folder
