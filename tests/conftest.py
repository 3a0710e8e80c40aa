"""Shared fixtures: a tiny, randomly initialised sentiment model in the real model-folder format.

The folder follows the contract of ``nlp.sentiment.transformer``: ``model.onnx`` (a 2-layer
BertModel with hidden size 32, mean pooling and a linear head, exported with torch.onnx), a
Unigram ``tokenizer.json`` in the XLM-R layout (<s>=0, <pad>=1, </s>=2, <unk>=3, Metaspace, a
post-processor adding <s> … </s>) covering every CJK ideograph, and ``manifest.json``. Its
predictions mean nothing; it tests the mechanics (batching, windows, manifest, calibration) in
seconds, without the committed model.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from nlp.schema import EMOTIONS, LABELS

TINY_MAX_LENGTH = 32
TINY_WINDOW_STRIDE = 4
TINY_VERSION = "tiny-test-1"
# A few whole words, so that the tokenizer is not purely character-level, as the real one is not.
_WORDS = ("快递", "客服", "态度", "满意", "不错", "退款", "质量", "服务", "物流", "东西")


def tiny_tokenizer_json() -> str:
    """A Unigram tokenizer in the XLM-R layout covering ASCII, CJK punctuation and every CJK ideograph."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab: list[tuple[str, float]] = [
        ("<s>", 0.0),
        ("<pad>", 0.0),
        ("</s>", 0.0),
        ("<unk>", 0.0),
        ("▁", -3.0),
    ]
    vocab += [(chr(c), -8.0) for c in range(0x21, 0x7F)]
    vocab += [(chr(c), -9.0) for c in range(0x3001, 0x3040)]
    vocab += [(chr(c), -9.0) for c in range(0xFF01, 0xFF5F)]
    vocab += [(chr(c), -10.0) for c in range(0x4E00, 0xA000)]
    vocab += [(word, -12.0) for word in _WORDS]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tokenizer.to_str()


def tiny_manifest(**overrides: Any) -> dict[str, Any]:
    """The tiny model's manifest.json content; keyword arguments replace keys."""
    manifest: dict[str, Any] = {
        "name": "tiny-random",
        "version": TINY_VERSION,
        "format": "onnx",
        "labels": ["negative", "positive"],
        "text_prefix": "query: ",
        "max_length": TINY_MAX_LENGTH,
        "window_stride": TINY_WINDOW_STRIDE,
        "temperature": 1.0,
        "metrics": {},
        "base_model": "random 2-layer BertModel (tests only)",
    }
    manifest.update(overrides)
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def build_tiny_model(folder: Path, *, seed: int = 0, three_way: bool = False) -> Path:
    """Write a tiny random model folder (model.onnx, tokenizer.json, manifest.json) to `folder`:
    binary, or with `three_way` a negative / neutral / positive head and a six-emotion head."""
    import torch
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(), encoding="utf-8")
    vocab_size = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size()

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = BertConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=TINY_MAX_LENGTH,
                pad_token_id=1,
            )
            self.bert = BertModel(config, add_pooling_layer=False)
            self.head = torch.nn.Linear(32, 3 if three_way else 2)
            # A wide head spreads the random logits over several units, so that texts differ clearly
            # and the temperature visibly matters.
            torch.nn.init.normal_(self.head.weight, std=1.0)
            if three_way:  # created only then: a binary model's weights stay those of its seed
                self.emotion = torch.nn.Linear(32, 6)
                torch.nn.init.normal_(self.emotion.weight, std=1.0)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logits: torch.Tensor = self.head(pooled)
            return (logits, self.emotion(pooled)) if three_way else logits

    torch.manual_seed(seed)
    model = Classifier()
    torch.nn.Module.eval(model)
    outputs = ["logits", "emotion_logits"] if three_way else ["logits"]
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 9, 2, 1]])
    mask = (ids != 1).long()
    dynamic = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            model,
            (ids, mask),
            str(folder / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, **{o: {0: "batch"} for o in outputs}},
            opset_version=17,
            dynamo=False,
        )
    extra = {"labels": list(LABELS), "emotions": list(EMOTIONS), "emotion_temperature": 1.0} if three_way else {}
    write_manifest(folder, tiny_manifest(**extra))
    return folder


@pytest.fixture(scope="session")
def tiny_three_way_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random three-way model with an emotion head (as tiny_model_dir: do not modify it)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-three-way"), three_way=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model folder, built once per test session (about a second). Do not modify it:
    copy it (shutil.copytree) to change the manifest."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
