"""A tiny randomly initialised base encoder in the runs/base-encoder format, for fast training tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from training.build_encoder import prune_tokenizer_json
from training.encoder import QUERY_PREFIX, source_files


def pruned_tokenizer_json(texts: Sequence[str]) -> dict[str, Any]:
    """The real e5 tokenizer pruned to the pieces of `texts` (and the prefix and the specials)."""
    full = json.loads(source_files().tokenizer.read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_str(json.dumps(full))
    keep = {int(t["id"]) for t in full["added_tokens"]}
    keep.update(i for e in tokenizer.encode_batch([QUERY_PREFIX, *texts]) for i in e.ids)
    return prune_tokenizer_json(full, sorted(keep))


def write_tiny_encoder(folder: Path, tokenizer_json: dict[str, Any]) -> None:
    """A random 2-layer BERT (hidden 32) with `tokenizer_json` and a build manifest, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = len(tokenizer_json["model"]["vocab"])
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), "utf-8")
    (folder / "build_manifest.json").write_text(
        json.dumps({"base_model": "tiny random BERT", "packages": {}, "vocab": {"after": vocab}}), "utf-8"
    )
