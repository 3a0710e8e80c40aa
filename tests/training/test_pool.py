"""The training pool: cleaning, evaluation-text removal, duplicates, conflicts, determinism."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nlp.errors import InputError
from nlp.files import sha256_file
from training.pool import (
    EVAL_NAMES,
    Example,
    Pool,
    PoolConfig,
    SourceStats,
    assemble,
    build_pool,
    clean_text,
    deduplicate,
    match_key,
    read_pool_tsv,
    read_review_csv,
    read_tsv_split,
    stratified_split,
    write_pool,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def ex(label: int, text: str, source: str = "t", group: str = "") -> Example:
    return Example(label, text, source, group)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\ufeff做父母一定要有刘墉这样的心态", "做父母一定要有刘墉这样的心态"),
        ("  房间 \t 很大\n床有2M宽 ", "房间 很大 床有2M宽"),
        ("快递\u3000太慢\u200b了", "快递 太慢 了"),
        ("\ufeff \u3000 ", ""),
    ],
)
def test_clean_text_strips_bom_and_folds_whitespace(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("這間酒店環境和服務態度亦算不錯", "这间酒店环境和服务态度亦算不错"),
        ("房间 很大，床有2M宽", "房间很大，床有２Ｍ宽"),
        ("\ufeff送餐很快 味道不错", "送餐很快味道不错"),
    ],
)
def test_match_key_treats_variants_of_one_review_as_the_same_text(a: str, b: str) -> None:
    assert match_key(clean_text(a)) == match_key(clean_text(b))


def test_match_key_keeps_different_reviews_apart() -> None:
    assert match_key("送餐很快，味道不错") != match_key("送餐很慢，味道不错")


def test_review_csv_strips_bom_drops_empty_and_keeps_category(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(
        'cat,label,review\n书籍,1,\ufeff做父母一定要有刘墉这样的心态\n平板,0,\n水果,0,"苹果不新鲜, 有烂的"\n',
        encoding="utf-8",
    )
    stats = SourceStats()
    rows = read_review_csv(path, stats)
    assert rows == [
        Example(1, "做父母一定要有刘墉这样的心态", str(path), "书籍"),
        Example(0, "苹果不新鲜, 有烂的", str(path), "水果"),
    ]
    assert (stats.rows, stats.bom_stripped, stats.empty_dropped) == (3, 1, 1)


def test_tsv_split_with_a_bad_label_names_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("label\ttext_a\n1\t酒店不错\n好评\t早餐一般\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_tsv_split(path, SourceStats())
    assert f"{path}:3 [label]" in str(caught.value)


def test_deduplicate_keeps_first_copy_and_drops_every_copy_of_a_conflict() -> None:
    rows = [
        ex(1, "很快，好吃，味道足，量大"),
        ex(0, "送餐慢了一个小时"),
        ex(1, "很快， 好吃，味道足，量大"),  # same text, other spacing
        ex(1, "送餐慢了一个小时"),  # conflicting label
        ex(0, "送餐慢了一个小时"),
        ex(0, "菜都凉了"),
    ]
    kept, duplicates, conflicting = deduplicate(rows)
    assert [e.text for e in kept] == ["很快，好吃，味道足，量大", "菜都凉了"]
    assert (duplicates, conflicting) == (1, 3)


def test_stratified_split_holds_out_the_fraction_of_every_stratum_deterministically() -> None:
    rows = [ex(i % 2, f"评论{i}", group=["书籍", "酒店"][i % 3 == 0]) for i in range(400)]
    held, rest = stratified_split(rows, 0.1, 7, lambda e: (e.group, e.label))
    assert len(held) + len(rest) == 400 and not {e.text for e in held} & {e.text for e in rest}
    strata = Counter((e.group, e.label) for e in rows)
    held_strata = Counter((e.group, e.label) for e in held)
    assert all(held_strata[s] == round(0.1 * n) for s, n in strata.items())
    assert stratified_split(rows, 0.1, 7, lambda e: (e.group, e.label)) == (held, rest)
    assert stratified_split(rows, 0.1, 8, lambda e: (e.group, e.label))[0] != held


def _small_sources() -> dict[str, list[Example]]:
    waimai = [ex(i % 2, f"外卖评论第{i}条，" + ("好吃" if i % 2 else "太难吃了"), "waimai") for i in range(40)]
    shopping = [
        ex(1, "这本书写得很好，值得一读", "shop", "书籍"),
        ex(1, "这间酒店环境和服务态度亦算不错", "shop", "酒店"),  # = a test review
        *[ex(i % 2, f"商品评论第{i}条", "shop", ["书籍", "酒店"][i % 2]) for i in range(40)],
    ]
    return {
        "chnsenticorp_train": [
            ex(1, "這間酒店環境和服務態度亦算不錯", "train"),  # traditional copy of a test review
            ex(0, "房间太小，隔音很差", "train"),
            ex(0, "房间太小， 隔音很差", "train"),
            ex(1, "早餐丰富，位置方便", "train"),
            ex(0, "早餐丰富，位置方便", "train"),
            ex(0, "前台办理入住等了半小时", "train"),  # = a dev review
        ],
        "chnsenticorp_dev": [ex(0, "前台办理入住等了半小时", "dev")],
        "chnsenticorp_test": [ex(1, "这间酒店环境和服务态度亦算不错", "test")],
        "htl_all": [ex(1, "这本书写得很好，值得一读", "htl"), ex(1, "交通方便，服务周到", "htl")],
        "waimai": waimai,
        "online_shopping": shopping,
    }


def _assemble_small(config: PoolConfig) -> Pool:
    s = _small_sources()
    return assemble(
        chnsenticorp_train=s["chnsenticorp_train"],
        chnsenticorp_dev=s["chnsenticorp_dev"],
        chnsenticorp_test=s["chnsenticorp_test"],
        htl_all=s["htl_all"],
        waimai=s["waimai"],
        online_shopping=s["online_shopping"],
        config=config,
    )


def test_assemble_removes_every_evaluation_text_duplicate_and_conflict() -> None:
    pool = _assemble_small(PoolConfig(seed=3, waimai_eval_fraction=0.1))
    train_keys = {match_key(e.text) for e in pool.train}
    for name in EVAL_NAMES:
        assert pool.evals[name], name
        assert not train_keys & {match_key(e.text) for e in pool.evals[name]}, name
    texts = [e.text for e in pool.train]
    assert "房间太小，隔音很差" in texts and "房间太小， 隔音很差" not in texts
    assert "早餐丰富，位置方便" not in texts
    assert "交通方便，服务周到" in texts
    assert len(texts) == len({match_key(t) for t in texts})
    stats = pool.stats
    assert stats.removed_overlap["chnsenticorp_test"] >= 2  # the traditional copy and the shopping copy
    assert stats.removed_overlap["chnsenticorp_dev"] == 1
    assert stats.removed_conflicting == 2 and stats.removed_duplicates >= 2
    assert len(pool.evals["waimai"]) == 4
    assert stats.sizes["train"] == len(pool.train)


def test_write_pool_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    config = PoolConfig(seed=3)
    for out in (tmp_path / "a", tmp_path / "b"):
        write_pool(_assemble_small(config), out, config)
    names = ["train.tsv", *(f"eval_{n}.tsv" for n in EVAL_NAMES)]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    stats = json.loads((tmp_path / "a" / "stats.json").read_text(encoding="utf-8"))
    assert stats["config"]["seed"] == 3
    assert stats["sha256"] == {n: sha256_file(tmp_path / "a" / n) for n in names}
    written = read_pool_tsv(tmp_path / "a" / "train.tsv")
    assert written == [(e.label, e.text) for e in _assemble_small(config).train]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared data not present")
def test_real_pool_has_no_evaluation_text_in_training(tmp_path: Path) -> None:
    pool = build_pool(SHARED_DATA, PoolConfig())
    # An independent, cruder key too: the text with all whitespace removed.
    train_keys = {match_key(e.text) for e in pool.train}
    train_raw = {"".join(e.text.split()) for e in pool.train}
    for name in EVAL_NAMES:
        assert not train_keys & {match_key(e.text) for e in pool.evals[name]}, name
        assert not train_raw & {"".join(e.text.split()) for e in pool.evals[name]}, name
    # The README's trap is real: most ChnSentiCorp test reviews are inside online_shopping.
    assert pool.stats.removed_overlap["chnsenticorp_test"] > 1000
    assert pool.stats.sizes["chnsenticorp_test"] == 1200 and pool.stats.sizes["train"] > 60000
    assert pool.stats.sources["online_shopping"].bom_stripped > 0
    assert all(e.text and "\ufeff" not in e.text for e in pool.train)
