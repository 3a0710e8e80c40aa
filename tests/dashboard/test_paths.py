"""根因路径 (api.dashboard.paths): demands → negative aspects → scores from what the same answer or call
says, over results of the service's own pipeline (the lexicon scorer) in their stored form."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from api.dashboard.paths import OTHER_PAIR, negative_units, root_cause_paths
from nlp.schema import Item, Turn
from tests.dashboard.conftest import Live

LABELS = {
    "logistics": "物流配送",
    "quality": "商品质量",
    "service": "服务态度",
    "price": "价格优惠",
    "unassigned": "未归类",
}
ANSWERS = (
    ("A1", "快递太慢了，包装也破损了", 3),
    ("A2", "快递太慢了，等了一个星期，快递太慢了", 5),  # the same complaint twice: one customer
    ("A3", "快递很快，包装完好", 10),  # nothing negative: no path
    ("A4", "客服态度很差，问题一直没解决", 8),
    ("A5", "价格太贵了", None),
)


@pytest.fixture(scope="module")
def stored(live: Live) -> list[dict[str, Any]]:
    items = [Item(i, "survey", text, (), {"nps": nps} if nps is not None else {}) for i, text, nps in ANSWERS]
    items.append(
        Item(
            "C1",
            "transcript",
            "",
            (Turn("agent", "您好，回访一下上次的配送"), Turn("customer", "快递太慢了，等了好几天")),
        )
    )
    analyzer = live.services.analyzer
    return [r.to_dict() for r in analyzer.seed_themes(list(analyzer.pipeline().pipe(items)))]


def _links(data: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(link["source"], link["target"]): link["value"] for link in data["links"]}


def test_demands_flow_through_what_customers_said_to_the_scores_they_gave(stored: list[dict[str, Any]]) -> None:
    data = root_cause_paths(stored, LABELS)
    links = _links(data)
    # 快递·慢: A1, A2 (once) and the call; the two answers scored 3 and 5, the call has no score.
    assert links[("t:logistics", "p:快递·慢")] == 3
    assert links[("p:快递·慢", "s:detractor")] == 2 and links[("p:快递·慢", "s:none")] == 1
    assert links[("t:quality", "p:包装·破损")] == 1 and links[("p:包装·破损", "s:detractor")] == 1
    assert links[("t:service", "p:客服态度·差")] == 1 and links[("p:客服态度·差", "s:passive")] == 1
    assert links[("t:price", "p:价格·贵")] == 1 and links[("p:价格·贵", "s:none")] == 1
    assert "s:promoter" not in {link["target"] for link in data["links"]}, "A3 praised: it has no path"
    assert (data["items"], data["negative_items"]) == (6, 5)
    names = {n["id"]: n["name"] for n in data["nodes"]}
    assert (names["t:logistics"], names["s:detractor"], names["s:none"]) == ("物流配送", "低分（0–6）", "未评分")
    first = data["paths"][0]
    assert (first["label"], first["pair"], first["buckets"]["detractor"], first["detractor_share"]) == (
        "物流配送",
        "快递·慢",
        2,
        1.0,
    )


def test_every_aspect_node_passes_on_what_it_receives(stored: list[dict[str, Any]]) -> None:
    data = root_cause_paths(stored, LABELS)
    inflow: Counter[str] = Counter()
    outflow: Counter[str] = Counter()
    for link in data["links"]:
        outflow[link["source"]] += link["value"]
        inflow[link["target"]] += link["value"]
    pairs = [n["id"] for n in data["nodes"] if n["layer"] == 1]
    assert pairs and all(inflow[p] == outflow[p] for p in pairs)
    assert len({n["id"] for n in data["nodes"]}) == len(data["nodes"])


def test_only_the_customers_words_in_a_call_count() -> None:
    negative = {"label": "negative", "negative_probability": 0.9}
    call = {
        "kind": "transcript",
        "turns": [
            {"speaker": "agent", "text": "如需投诉请拨打热线"},
            {"speaker": "customer", "text": "师傅迟到两个小时"},
        ],
        "aspects": [
            {"theme": "service", "term": "", "opinion": "投诉", "text": "如需投诉请拨打热线", "turn": 0, **negative},
            {
                "theme": "installation",
                "term": "师傅",
                "opinion": "迟到",
                "text": "师傅迟到两个小时",
                "turn": 1,
                **negative,
            },
        ],
        "meta": {},
    }
    assert negative_units(call) == {("installation", "师傅·迟到")}


def test_rare_aspects_share_one_node() -> None:
    def answer(pair: tuple[str, str], nps: int) -> dict[str, Any]:
        aspect = {"theme": "logistics", "term": pair[0], "opinion": pair[1], "text": "".join(pair), "label": "negative"}
        return {"kind": "survey", "aspects": [aspect], "meta": {"nps": nps}}

    stored = [answer(("快递", "慢"), 2)] * 3 + [answer(("包装", "破损"), 1)] * 2 + [answer(("骑手", "迟到"), 4)]
    data = root_cause_paths(stored, LABELS, max_pairs=2)
    assert _links(data) == {
        ("t:logistics", "p:快递·慢"): 3,
        ("t:logistics", "p:包装·破损"): 2,
        ("t:logistics", f"p:{OTHER_PAIR}"): 1,
        ("p:快递·慢", "s:detractor"): 3,
        ("p:包装·破损", "s:detractor"): 2,
        (f"p:{OTHER_PAIR}", "s:detractor"): 1,
    }
