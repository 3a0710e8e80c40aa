"""The transformer sentiment scorer: a fine-tuned encoder exported to ONNX, run with ONNX Runtime.

A model is a folder (see ``ModelManifest``): ``model.onnx`` (inputs ``input_ids`` and
``attention_mask``, int64 [batch, seq]; output ``logits`` float32 [batch, classes] for the manifest's
``labels``: negative / neutral / positive for a three-way model, negative / positive for a binary
one; with ``emotions`` in the manifest, also ``emotion_logits`` [batch, 6]), the ``tokenizer.json``
it was trained with, and ``manifest.json``. Only onnxruntime, tokenizers and numpy run here: no
torch, no transformers, nothing downloaded.

A three-way model's label is its most probable class (a band in SentimentConfig overrides it); a
binary model's is read from the band on its negative probability, as before.

Speed: the session and tokenizer are built once in ``load``; a batch is tokenised in one Rust call,
its windows sorted by length and cut into batches so that padding stays small, and padding and
masks are built with numpy, not per token in Python.

Long texts are not truncated: they are scored in sentence windows (``nlp.sentiment.windows``) whose
logits are averaged, each weighted by its number of text tokens. Logits rather than probabilities,
because they add like evidence: one confidently negative window is not washed out into 0.5 by a
neutral one as probabilities would be. Weighted by length, because a window is evidence in
proportion to how much text it read — a trailing "谢谢。" window must not count as much as a
paragraph — which is also what mean pooling over the whole text would do if it fitted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from nlp.config import SentimentConfig
from nlp.errors import ModelError
from nlp.onnx_session import cpu_session
from nlp.schema import EMOTIONS, Emotion, Sentiment
from nlp.sentiment import sentiment_from_probabilities, sentiment_from_probability
from nlp.sentiment.ngram import NgramHead, NgramModel, load_heads, mix_logits, mix_three_way
from nlp.sentiment.windows import sentence_ends, token_windows

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
EMOTION_OUTPUT = "emotion_logits"
LABELS = ("negative", "positive")
THREE_WAY = ("negative", "neutral", "positive")
PAD_TOKEN = "<pad>"
METASPACE = "\u2581"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class InferenceConfig:
    """How the model runs (not what it computes)."""

    # Two intra-op threads: the target machine has 2 cores; more only adds contention.
    threads: int = 2
    # Windows per ONNX run at most, and padded tokens (windows x longest) per run at most. Windows
    # are sorted by length, so short texts go 32 at a time and long ones a few at a time. Measured
    # with e5s-zh-1 on 2,000 review texts in calls of 256: 1,024 tokens 137-142 texts/s, 2,048
    # 127, 4,096 (64 windows) 110; larger batches only cost cache misses on 2 cores.
    batch_size: int = 32
    batch_tokens: int = 1024
    # A window must leave room for this many text tokens after the specials and the prefix,
    # and more than window_stride of them, or the model folder is rejected at load.
    min_window_tokens: int = 8


@dataclass(frozen=True)
class ModelManifest:
    """manifest.json of a model folder: what the runtime needs, plus everything else it records."""

    name: str
    version: str
    labels: tuple[str, ...]
    text_prefix: str
    max_length: int
    window_stride: int
    temperature: float
    # Weight of the character n-gram model's logit (ngram.safetensors) against the transformer's;
    # 0 = no n-gram model in the folder.
    ngram_weight: float = 0.0
    # The emotion head's classes (nlp.schema.EMOTIONS) and its temperature; () = no emotion head.
    emotions: tuple[str, ...] = ()
    emotion_temperature: float = 1.0
    # Multi-class n-gram heads (ngram_heads.safetensors) and their weights against the transformer's
    # log-probabilities: "polarity" (three-way) and/or "emotion".
    ngram_heads: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> ModelManifest:
        """Read and validate a manifest; ModelError names the file and the key that is wrong."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{path}: missing; a model folder needs {MANIFEST_FILE}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(f"{path}: not a readable JSON manifest: {error}") from error
        if not isinstance(data, dict):
            raise ModelError(f"{path}: the manifest must be a JSON object")

        def get(key: str, kind: type | tuple[type, ...]) -> Any:
            if key not in data:
                raise ModelError(f"{path}: missing key {key!r}")
            value = data[key]
            # bool is an int in Python; a manifest saying max_length: true is still wrong.
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ModelError(f"{path}: key {key!r} has the wrong type ({type(value).__name__})")
            return value

        if get("format", str) != "onnx":
            raise ModelError(f"{path}: key 'format' must be 'onnx', got {data['format']!r}")
        labels = tuple(get("labels", list))
        if labels not in (LABELS, THREE_WAY):
            raise ModelError(f"{path}: key 'labels' must be {list(LABELS)} or {list(THREE_WAY)}, got {list(labels)}")
        emotions = tuple(get("emotions", list)) if "emotions" in data else ()
        if emotions and emotions != EMOTIONS:
            raise ModelError(f"{path}: key 'emotions' must be {list(EMOTIONS)}, got {list(emotions)}")
        manifest = cls(
            name=get("name", str),
            version=get("version", str),
            labels=labels,
            text_prefix=get("text_prefix", str),
            max_length=get("max_length", int),
            window_stride=get("window_stride", int),
            temperature=float(get("temperature", (int, float))),
            ngram_weight=float(get("ngram_weight", (int, float))) if "ngram_weight" in data else 0.0,
            emotions=emotions,
            ngram_heads={str(k): float(v) for k, v in get("ngram_heads", dict).items()}
            if "ngram_heads" in data
            else {},
            emotion_temperature=float(get("emotion_temperature", (int, float))) if emotions else 1.0,
            metrics=data.get("metrics") or {},
            raw=data,
        )
        if not manifest.version:
            raise ModelError(f"{path}: key 'version' is empty")
        if not manifest.temperature > 0:
            raise ModelError(f"{path}: key 'temperature' must be > 0, got {manifest.temperature}")
        for head, weight in manifest.ngram_heads.items():
            if head not in ("polarity", "emotion") or not 0.0 <= weight < 1.0:
                raise ModelError(
                    f"{path}: key 'ngram_heads' must map polarity/emotion to a weight in [0, 1), got {head}={weight}"
                )
            if (head == "polarity" and labels != THREE_WAY) or (head == "emotion" and not emotions):
                raise ModelError(f"{path}: key 'ngram_heads' has a {head} head the model has no output for")
        if manifest.ngram_heads and manifest.ngram_weight == 0:
            raise ModelError(f"{path}: key 'ngram_heads' needs the n-gram model (ngram_weight > 0)")
        if not manifest.emotion_temperature > 0:
            raise ModelError(f"{path}: key 'emotion_temperature' must be > 0, got {manifest.emotion_temperature}")
        if not 0.0 <= manifest.ngram_weight < 1.0:
            raise ModelError(f"{path}: key 'ngram_weight' must be in [0, 1), got {manifest.ngram_weight}")
        if manifest.window_stride < 0:
            raise ModelError(f"{path}: key 'window_stride' must be >= 0, got {manifest.window_stride}")
        return manifest


@dataclass(frozen=True)
class _Layout:
    """Where the text tokens sit in an encoding: specials and prefix before, specials after."""

    head: IntArray  # <s> and the prefix tokens, as tokenised with the text
    specials: IntArray  # <s> alone
    body: IntArray
    tail: IntArray  # </s>
    body_starts: IntArray  # character offset of each body token in the prefixed text


class TransformerScorer:
    """Sentiment from an ONNX transformer model; implements nlp.sentiment.SentimentScorer."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        manifest: ModelManifest,
        config: SentimentConfig | None = None,
        inference: InferenceConfig | None = None,
        ngram: NgramModel | None = None,
    ) -> None:
        """Use ``TransformerScorer.load``; this only wires already-loaded parts together."""
        if (ngram is None) != (manifest.ngram_weight == 0):
            raise ModelError(f"{MANIFEST_FILE}: ngram_weight {manifest.ngram_weight} needs exactly an n-gram model")
        self.session = session
        self.ngram = ngram
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.config = config or SentimentConfig()
        self.inference = inference or InferenceConfig()
        self.version = manifest.version
        self.ngram_heads: dict[str, NgramHead] = {}
        pad = tokenizer.token_to_id(PAD_TOKEN)
        if pad is None:
            raise ModelError(f"{TOKENIZER_FILE}: no {PAD_TOKEN} token")
        self._pad = pad
        self._space = tokenizer.token_to_id(METASPACE)  # None when the vocabulary has no bare ▁
        self._prefix_ids = np.asarray(
            tokenizer.encode(manifest.text_prefix, add_special_tokens=False).ids, dtype=np.int64
        )
        # Room for text in a window: max_length less the specials and the prefix, which every window repeats.
        overhead = len(tokenizer.encode(manifest.text_prefix).ids)
        budget = manifest.max_length - overhead
        if budget < max(self.inference.min_window_tokens, manifest.window_stride + 1):
            raise ModelError(
                f"{MANIFEST_FILE}: max_length {manifest.max_length} leaves {budget} text tokens per "
                f"window after specials and prefix; need more than window_stride {manifest.window_stride}"
            )

    @classmethod
    def load(
        cls,
        folder: Path,
        config: SentimentConfig | None = None,
        *,
        threads: int | None = None,
        inference: InferenceConfig | None = None,
    ) -> TransformerScorer:
        """Load a model folder (model.onnx, tokenizer.json, manifest.json) once; raises ModelError
        naming the file (and key) that is missing or inconsistent."""
        # Nothing here downloads, but a library reaching for the hub must fail, not fetch.
        os.environ["HF_HUB_OFFLINE"] = "1"
        inference = inference or InferenceConfig()
        if threads is not None:
            inference = replace(inference, threads=threads)
        if not folder.is_dir():
            raise ModelError(f"{folder}: no such model folder")
        manifest = ModelManifest.read(folder / MANIFEST_FILE)
        for name in (MODEL_FILE, TOKENIZER_FILE):
            if not (folder / name).is_file():
                raise ModelError(f"{folder / name}: missing from the model folder")
        try:
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as error:  # tokenizers raises a bare Exception for a malformed file
            raise ModelError(f"{folder / TOKENIZER_FILE}: not a tokenizers file: {error}") from error
        # Lengths must be the real ones: windows do the cutting, padding is built per batch.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        session = _session(folder / MODEL_FILE, inference.threads, manifest)
        ngram = NgramModel.load(folder) if manifest.ngram_weight > 0 else None
        scorer = cls(session, tokenizer, manifest, config, inference, ngram)
        if ngram is not None and manifest.ngram_heads:
            scorer.ngram_heads = load_heads(folder, list(manifest.ngram_heads), ngram.params.n_features)
        scorer._check(folder / MODEL_FILE)
        return scorer

    # --- SentimentScorer ---------------------------------------------------------------------
    @property
    def three_way(self) -> bool:
        """Whether the model was trained with a neutral class."""
        return self.manifest.labels == THREE_WAY

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """One Sentiment per text, in order (with the emotion, when the model has an emotion head);
        an empty text is neutral without running the model."""
        polarity, emotion = self.probabilities(texts)
        if not self.three_way:
            return [sentiment_from_probability(float(p), self.version, self.config) for p in polarity[:, 0]]
        out = []
        for i, row in enumerate(polarity):
            feeling = None
            if emotion is not None:
                shares: dict[str, float] = dict(zip(EMOTIONS, (float(v) for v in emotion[i]), strict=True))
                feeling = Emotion(EMOTIONS[int(np.argmax(emotion[i]))], shares)
            out.append(sentiment_from_probabilities(row, self.version, self.config, feeling))
        return out

    def __call__(self, text: str) -> Sentiment:
        return self.score([text])[0]

    def pipe(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[Sentiment]:
        """Sentiments of a stream of texts, in order, scored `batch_size` texts at a time."""
        stream = iter(texts)
        while batch := list(islice(stream, batch_size)):
            yield from self.score(batch)

    # --- probabilities -----------------------------------------------------------------------
    def probabilities(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray | None]:
        """Calibrated polarity probabilities [n, classes] (softmax(logits / temperature), classes as
        the manifest's labels) and emotion probabilities [n, 6] (None without an emotion head).
        An empty text is neutral: P(neutral) = 1 (three-way), 0.5 / 0.5 (binary), emotion neutral."""
        polarity_logits, emotion_logits = self.outputs(texts)
        polarity = _softmax(polarity_logits / self.manifest.temperature)
        emotion = None if emotion_logits is None else _softmax(emotion_logits / self.manifest.emotion_temperature)
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty and self.three_way:
            polarity[empty] = (0.0, 1.0, 0.0)
        if empty and emotion is not None:
            emotion[empty] = np.eye(len(EMOTIONS))[EMOTIONS.index("neutral")]
        return polarity, emotion

    def negative_probabilities(self, texts: Sequence[str]) -> FloatArray:
        """P(negative) of each text, float64 [len(texts)] (0.5 for empty text from a binary model, 0
        from a three-way one, which reads it as neutral)."""
        return self.probabilities(texts)[0][:, 0]

    def opinion_negative_probabilities(self, texts: Sequence[str]) -> FloatArray:
        """P(negative | opinion) = P(negative) / (P(negative) + P(positive)) of each text: the binary
        reading negative-vs-positive figures compare (the negative probability of a binary model)."""
        polarity = self.probabilities(texts)[0]
        if not self.three_way:
            return polarity[:, 0]
        opinion = polarity[:, 0] + polarity[:, 2]
        out: FloatArray = np.divide(polarity[:, 0], opinion, out=np.full(len(texts), 0.5), where=opinion > 0)
        return out

    def logits(self, texts: Sequence[str]) -> FloatArray:
        """Polarity logits [len(texts), classes] (before temperature), long texts combined over
        their windows, mixed with the n-gram model's when the folder has one; zeros for empty text."""
        return self.outputs(texts)[0]

    def outputs(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray | None]:
        """Polarity logits (see ``logits``) and emotion logits [n, 6] (None without an emotion head)."""
        polarity, emotion = self.transformer_outputs(texts)
        if self.ngram is None:
            return polarity, emotion
        present = [i for i, text in enumerate(texts) if text.strip()]
        if not present:
            return polarity, emotion
        margins, heads = self.ngram.readings([texts[i] for i in present], self.ngram_heads)
        mix = mix_three_way if self.three_way else mix_logits
        polarity[present] = mix(polarity[present], margins, self.manifest.ngram_weight)
        # A head mixes as log-probabilities: (1 - w) × the transformer's + w × the n-gram head's.
        for name, outputs in (("polarity", polarity), ("emotion", emotion)):
            if name in heads and outputs is not None:
                weight = self.manifest.ngram_heads[name]
                own = outputs[present] - np.logaddexp.reduce(outputs[present], axis=1, keepdims=True)
                outputs[present] = (1 - weight) * own + weight * heads[name]
        return polarity, emotion

    def transformer_logits(self, texts: Sequence[str]) -> FloatArray:
        """The transformer's polarity logits alone (see ``logits``)."""
        return self.transformer_outputs(texts)[0]

    def transformer_outputs(self, texts: Sequence[str]) -> tuple[FloatArray, FloatArray | None]:
        """The transformer's polarity and emotion logits, long texts combined over their windows."""
        widths = [len(self.manifest.labels)] + ([len(EMOTIONS)] if self.manifest.emotions else [])
        out = np.zeros((len(texts), sum(widths)), dtype=np.float64)
        present = [i for i, text in enumerate(texts) if text.strip()]
        if present:
            out[present] = self._combined([texts[i] for i in present])
        polarity, emotion = out[:, : widths[0]], out[:, widths[0] :]
        return polarity, (emotion if self.manifest.emotions else None)

    def _combined(self, texts: Sequence[str]) -> FloatArray:
        """All outputs of non-empty texts [n, classes (+ 6)], windows combined."""
        prefix = self.manifest.text_prefix
        encodings = self.tokenizer.encode_batch([prefix + text for text in texts])
        windows: list[IntArray] = []
        owners: list[int] = []
        weights: list[int] = []
        for index, encoding in enumerate(encodings):
            if len(encoding.ids) <= self.manifest.max_length:
                windows.append(np.asarray(encoding.ids, dtype=np.int64))
                owners.append(index)
                weights.append(1)  # one window: its weight cancels out
                continue
            for ids, tokens in self._long_windows(texts[index], encoding):
                windows.append(ids)
                owners.append(index)
                weights.append(tokens)
        window_outputs = self._run(windows)
        if len(windows) == len(texts):  # no long text: one window each, nothing to combine
            return window_outputs
        owner = np.asarray(owners)
        weight = np.asarray(weights, dtype=np.float64)
        total = np.bincount(owner, weights=weight, minlength=len(texts))
        out = np.empty((len(texts), window_outputs.shape[1]), dtype=np.float64)
        for k in range(window_outputs.shape[1]):
            out[:, k] = np.bincount(owner, weights=weight * window_outputs[:, k], minlength=len(texts)) / total
        return out

    def windows(self, text: str) -> list[IntArray]:
        """The token-id windows `text` is scored in (one for a text that fits max_length)."""
        if not text.strip():
            return []
        encoding = self.tokenizer.encode(self.manifest.text_prefix + text)
        if len(encoding.ids) <= self.manifest.max_length:
            return [np.asarray(encoding.ids, dtype=np.int64)]
        return [ids for ids, _weight in self._long_windows(text, encoding)]

    # --- internals ---------------------------------------------------------------------------
    def _layout(self, encoding: Encoding) -> _Layout:
        ids = np.asarray(encoding.ids, dtype=np.int64)
        special = np.asarray(encoding.special_tokens_mask, dtype=bool)
        content = np.flatnonzero(~special)
        first, last = int(content[0]), int(content[-1]) + 1
        spans = np.asarray(encoding.offsets[first:last], dtype=np.int64).reshape(-1, 2)
        # Prefix tokens end within the prefix. A token straddling prefix and text (▁2 of "query: 2月")
        # is text: repeating it in every window would put a word of the first sentence in all of them.
        prefix_tokens = int(np.searchsorted(spans[:, 1], len(self.manifest.text_prefix), side="right"))
        return _Layout(
            head=ids[: first + prefix_tokens],
            specials=ids[:first],
            body=ids[first + prefix_tokens : last],
            tail=ids[last:],
            body_starts=spans[prefix_tokens:, 0],
        )

    def _long_windows(self, text: str, encoding: Encoding) -> list[tuple[IntArray, int]]:
        """Windows (ids, number of text tokens) of a text longer than max_length."""
        layout = self._layout(encoding)
        # The first window keeps the head as tokenised with the text; later ones start a text of
        # their own, so they get the prefix as tokenised alone (with its trailing ▁), as training saw it.
        later_head = np.concatenate([layout.specials, self._prefix_ids])
        budget = self.manifest.max_length - max(len(layout.head), len(later_head)) - len(layout.tail)
        offset = len(self.manifest.text_prefix)
        ends = np.asarray(sentence_ends(text), dtype=np.int64) + offset
        # A token belongs to the sentence its first character is in.
        boundaries = np.searchsorted(layout.body_starts, ends, side="left")
        boundaries[-1] = len(layout.body)
        counts = np.diff(boundaries, prepend=0).tolist()
        windows = []
        for start, end in token_windows(counts, budget, self.manifest.window_stride):
            head = layout.head
            if start > 0:
                head = later_head
                # A window starting at a space would read "query: ▁ ▁…": the prefix already ends in one.
                if end - start > 1 and layout.body[start] == self._space:
                    start += 1
            windows.append((np.concatenate([head, layout.body[start:end], layout.tail]), end - start))
        return windows

    def _run(self, windows: Sequence[IntArray]) -> FloatArray:
        """Outputs of each window, in order (polarity logits, then emotion logits when the model has
        them); windows are batched by length to keep padding small."""
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        order = np.argsort(lengths, kind="stable")
        names = [OUTPUT_NAME] + ([EMOTION_OUTPUT] if self.manifest.emotions else [])
        width = len(self.manifest.labels) + (len(EMOTIONS) if self.manifest.emotions else 0)
        out = np.empty((len(windows), width), dtype=np.float64)
        for part in self._batches(lengths[order]):
            rows = order[part]
            batch_lengths = lengths[rows]
            longest = int(batch_lengths[-1])  # sorted: the last is the longest
            mask = np.arange(longest) < batch_lengths[:, None]
            input_ids = np.full((len(rows), longest), self._pad, dtype=np.int64)
            # Boolean assignment fills row by row, which is the order of the concatenated windows.
            input_ids[mask] = np.concatenate([windows[i] for i in rows])
            results = self.session.run(names, {"input_ids": input_ids, "attention_mask": mask.astype(np.int64)})
            out[rows] = np.concatenate(results, axis=1)
        return out

    def _batches(self, sorted_lengths: IntArray) -> Iterator[slice]:
        """Slices of the ascending lengths, each at most batch_size windows and batch_tokens padded
        tokens (a window longer than batch_tokens goes alone)."""
        start = 0
        limit, budget = self.inference.batch_size, self.inference.batch_tokens
        for end in range(1, len(sorted_lengths) + 1):
            if end - start > limit or (end - start > 1 and (end - start) * int(sorted_lengths[end - 1]) > budget):
                yield slice(start, end - 1)
                start = end - 1
        if start < len(sorted_lengths):
            yield slice(start, len(sorted_lengths))

    def _check(self, path: Path) -> None:
        """Run one text through the model: catches a tokenizer/model mismatch at load, not mid-batch,
        and warms the session up so the first real call is not the slow one."""
        try:
            logits = self.logits(["好"])
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{path}: the model does not run on this tokenizer's ids: {error}") from error
        if not np.isfinite(logits).all():
            raise ModelError(f"{path}: the model returned non-finite logits")


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def _session(path: Path, threads: int, manifest: ModelManifest) -> ort.InferenceSession:
    try:
        session = cpu_session(path, threads)
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ModelError(f"{path}: cannot load the ONNX model: {error}") from error
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != set(INPUT_NAMES):
        raise ModelError(f"{path}: model inputs are {sorted(inputs)}, expected {list(INPUT_NAMES)}")
    for name in INPUT_NAMES:
        if inputs[name].type != "tensor(int64)":
            raise ModelError(f"{path}: input {name!r} is {inputs[name].type}, expected tensor(int64)")
    outputs = {o.name: o for o in session.get_outputs()}
    expected = {OUTPUT_NAME: len(manifest.labels)}
    if manifest.emotions:
        expected[EMOTION_OUTPUT] = len(manifest.emotions)
    for name, classes in expected.items():
        if name not in outputs:
            raise ModelError(f"{path}: model outputs are {sorted(outputs)}, expected {name!r}")
        if outputs[name].shape[-1] != classes:
            raise ModelError(f"{path}: output {name!r} has shape {outputs[name].shape}, expected [batch, {classes}]")
    return session


__all__ = ["InferenceConfig", "ModelManifest", "TransformerScorer"]
