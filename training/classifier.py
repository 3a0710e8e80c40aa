"""The sentiment classifier and its checkpoint folder: the model training.train fine-tunes,
training.export exports and retraining starts from.

The model is the encoder, mean pooling over the attention mask, dropout and a linear head (class 0
negative, 1 positive). Texts longer than the window keep their head and their tail. A checkpoint
folder (``best/``, ``last/``, a registered version's ``weights/``) holds the weights as safetensors,
the encoder config, the tokenizer and the recipe it was trained with.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from nlp.errors import ModelError
from training.calibrate import FloatArray
from training.config import Config
from training.encoder import load_encoder

WEIGHTS_FILE = "model.safetensors"
ENCODER_CONFIG_FILE = "encoder_config.json"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.json"
STATE_FILE = "state.json"
TRAINER_FILE = "trainer.pt"
BUILD_MANIFEST_FILE = "build_manifest.json"
LABELS = ("negative", "positive")


class SentimentClassifier(torch.nn.Module):
    """Encoder → mean pooling over real tokens → dropout → linear head with 2 logits."""

    def __init__(self, encoder: BertModel, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits [batch, 2] for int64 ids and mask of shape [batch, seq]."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits


def keep_layers(encoder: BertModel, layers: int) -> None:
    """Drop every transformer layer after the first `layers` (in place)."""
    available = len(encoder.encoder.layer)
    if not 1 <= layers <= available:
        raise ModelError(f"model.layers must be between 1 and {available}, got {layers}")
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    encoder.config.num_hidden_layers = layers


def encode(tokenizer: Tokenizer, texts: Sequence[str], prefix: str, max_length: int, head: int) -> list[list[int]]:
    """Token ids with <s> and </s>; a longer text keeps its first `head` and its last ids."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out: list[list[int]] = []
    for encoding in tokenizer.encode_batch([prefix + text for text in texts]):
        ids = encoding.ids
        if len(ids) > max_length:
            ids = ids[:head] + ids[len(ids) - (max_length - head) :]
        out.append(ids)
    return out


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded int64 input_ids and attention_mask."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, rows: Sequence[Sequence[int]], pad_id: int, batch_size: int) -> FloatArray:
    """Logits [n, 2] (float32), batched by length; restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros((len(rows), len(LABELS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = pad([rows[i] for i in chunk], pad_id)
        out[chunk] = model(ids, mask).float().numpy()
    model.train(was_training)
    return out


def build_model(config: Config, root: Path) -> tuple[SentimentClassifier, Tokenizer]:
    """The classifier on the base encoder (first `model.layers` layers), head freshly seeded."""
    encoder, tokenizer = load_encoder(root / config.data.base_encoder)
    keep_layers(encoder, config.model.layers)
    torch.manual_seed(config.seed)
    model = SentimentClassifier(encoder, config.model.dropout)
    if config.model.freeze_word_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return model, tokenizer


def load_classifier(folder: Path) -> tuple[SentimentClassifier, Tokenizer, dict[str, Any]]:
    """A saved checkpoint folder (best/ or last/) → (model in eval mode, tokenizer, config dict)."""
    for name in (WEIGHTS_FILE, ENCODER_CONFIG_FILE, TOKENIZER_FILE, CONFIG_FILE):
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: missing; is this a training.train checkpoint folder?")
    raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    encoder = BertModel(BertConfig.from_json_file(str(folder / ENCODER_CONFIG_FILE)), add_pooling_layer=False)
    model = SentimentClassifier(encoder, float(raw["model"]["dropout"]))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
    model.eval()
    return model, Tokenizer.from_file(str(folder / TOKENIZER_FILE)), raw


def save_weights(model: SentimentClassifier, tokenizer: Tokenizer, config: Config, folder: Path, root: Path) -> None:
    """Write the weights, encoder config, tokenizer and recipe (and the base encoder's build manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE))
    model.encoder.config.to_json_file(str(folder / ENCODER_CONFIG_FILE))
    tokenizer.save(str(folder / TOKENIZER_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    build_manifest = root / config.data.base_encoder / BUILD_MANIFEST_FILE
    if build_manifest.is_file():
        shutil.copyfile(build_manifest, folder / BUILD_MANIFEST_FILE)


__all__ = [
    "BUILD_MANIFEST_FILE",
    "CONFIG_FILE",
    "ENCODER_CONFIG_FILE",
    "LABELS",
    "METRICS_FILE",
    "STATE_FILE",
    "TOKENIZER_FILE",
    "TRAINER_FILE",
    "WEIGHTS_FILE",
    "SentimentClassifier",
    "build_model",
    "encode",
    "keep_layers",
    "load_classifier",
    "pad",
    "predict_logits",
    "save_weights",
]
