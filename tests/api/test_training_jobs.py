"""POST /v1/training-jobs end to end on a tiny random encoder: a labelled upload → a job run by the
service's training thread, polled to done → a new (inactive) version → the gate refuses it with the
numbers → forced promotion → the running service answers with the new version → rollback → the old
one again. Bad training files end the job failed with every problem's file, row and field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.analysis import Analyzer
from models.registry import Registry
from nlp.schema import EMOTIONS
from tests.api.conftest import Service, survey_csv
from tests.api.model_fixtures import BUILTIN, registry_service, sentiment_version, wait_job, write_gate_config
from tests.training.test_retrain import GOLDEN, HELD_OUT, NEGATIVE, POSITIVE, RECIPE, write_tsv
from tests.training.tiny_encoder import pruned_tokenizer_json, write_tiny_encoder


def tsv_bytes(rows: list[tuple[int, str]]) -> bytes:
    return ("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text in rows)).encode("utf-8")


GOOD = [(1, t) for t in POSITIVE] + [(0, t) for t in NEGATIVE]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training root of the jobs: a tiny random 2-layer BERT as runs/base-encoder, the recipe's
    dev/test sets, a 4-step recipe, and the registry config (the golden set, small validation minimum)."""
    root = tmp_path_factory.mktemp("training-jobs")
    texts = [*POSITIVE, *NEGATIVE, *(t for _, t in HELD_OUT + GOLDEN)]
    write_tiny_encoder(root / "runs" / "base-encoder", pruned_tokenizer_json(texts))
    write_tsv(root / "runs" / "pool" / "dev.tsv", HELD_OUT)
    write_tsv(root / "runs" / "pool" / "test.tsv", HELD_OUT[1::2])
    (root / "recipe.toml").write_text(RECIPE, encoding="utf-8")
    write_gate_config(root)
    return root


@pytest.fixture
def service(tmp_path: Path, analyzer: Analyzer, workspace: Path) -> Iterator[Service]:
    with registry_service(
        tmp_path / "data",
        analyzer,
        registry_config=workspace / "registry.toml",
        training_config=workspace / "recipe.toml",
        training_root=workspace,
    ) as running:
        yield running


def test_retrain_gate_promote_serve_rollback_through_the_api(service: Service) -> None:
    admin, caller = service.key("admin"), service.key("service")
    assert sentiment_version(service, caller) == BUILTIN

    created = service.client.post(
        "/v1/training-jobs",
        files={"file": ("客户标注.tsv", tsv_bytes(GOOD), "text/tab-separated-values")},
        data={"max_steps": "3", "version": "field-1", "from_base": "true"},
        headers=admin,
    )
    assert created.status_code == 202, created.text
    assert created.headers["location"] == f"/v1/training-jobs/{created.json()['id']}"
    job = wait_job(service, created.json()["id"], admin)
    assert job["status"] == "done", job
    assert job["version"] == "field-1" and job["error"] is None and job["problems"] == []
    assert job["progress"] == {"step": 3, "total_steps": 3, "fraction": 1.0}
    assert any("validated: 24 training texts (12 positive, 12 negative)" in line for line in job["log"])
    assert any("fine-tuning from base encoder" in line for line in job["log"])
    # The job already says how the new version compares with the active one on the golden set.
    assert job["result"]["parent_version"] == BUILTIN and job["result"]["comparison"]["passed"] is False

    listed = service.client.get("/v1/models", headers=service.key("analyst")).json()
    new = next(v for v in listed["versions"] if v["version"] == "field-1")
    assert listed["active"] == BUILTIN and not new["active"] and new["parent_version"] == BUILTIN
    assert new["training_data"]["texts"] == 24 and new["has_weights"]
    assert sentiment_version(service, caller) == BUILTIN  # registered, not promoted

    refused = service.client.post("/v1/models/field-1/promote", headers=admin)
    assert refused.status_code == 409
    (delta,) = refused.json()["comparison"]["deltas"]
    assert delta == job["result"]["comparison"]["deltas"][0]
    assert f"clear accuracy {delta['delta_points']:+.2f} pt" in refused.json()["detail"]

    forced = service.client.post("/v1/models/field-1/promote", json={"force": True}, headers=admin)
    assert forced.status_code == 200 and forced.json()["serving"]["model_version"] == "field-1"
    assert sentiment_version(service, caller) == "field-1"
    call = service.client.post(
        "/v1/sentiment",
        json={
            "turns": [
                {"speaker": "客服", "text": "您好，请问满意吗？"},
                {"speaker": "客户", "text": "漏水了，没人来修"},
            ]
        },
        headers=caller,
    )
    assert call.json()["model_version"] == "field-1"

    rolled = service.client.post("/v1/models/rollback", headers=admin)
    assert rolled.status_code == 200 and rolled.json()["version"] == BUILTIN
    assert sentiment_version(service, caller) == BUILTIN


BAD_CSV = (
    "text,label\n"
    + "".join(f"{t},1\n" for t in POSITIVE[:6])
    + "".join(f"{t},0\n" for t in NEGATIVE[:6])
    + "还行吧，一般般,5\n"  # row 14: not a label
    + ",1\n"  # row 15: empty text
    + f"{GOLDEN[0][1]},1\n"  # row 16: a golden-set text
    + f"{POSITIVE[0]},0\n"  # row 17: the same text labelled both ways
)


def test_a_bad_training_file_fails_the_job_with_file_row_and_field(service: Service, tmp_path: Path) -> None:
    admin = service.key("admin")
    created = service.client.post(
        "/v1/training-jobs",
        files={"file": ("../../mine.csv", BAD_CSV.encode("gbk"), "text/csv")},
        data={"from_base": "true"},
        headers=admin,
    )
    assert created.status_code == 202, created.text
    job = wait_job(service, created.json()["id"], admin, timeout=60)
    assert job["status"] == job["phase"] == "failed" and job["version"] is None
    found = {(p["file"], p["row"], p["field"], p["kind"]) for p in job["problems"]}
    assert found == {
        ("mine.csv", 14, "label", "bad_label"),
        ("mine.csv", 15, "text", "empty_text"),
        ("mine.csv", 16, "text", "eval_overlap"),
        ("mine.csv", 17, "text", "conflicting_label"),
    }
    assert "label must be 0 (negative) or 1 (positive), or three-way" in job["error"] and "got '5'" in job["error"]
    assert "mine.csv:16 [text]: text is in evaluation set 'golden:clear'" in job["error"]
    assert str(service.services.settings.data_dir) not in job["error"]  # no server paths
    assert [v["version"] for v in service.client.get("/v1/models", headers=admin).json()["versions"]] == [BUILTIN]


@pytest.mark.parametrize(
    ("files", "data", "status", "detail"),
    [
        (None, {}, 422, "file: a labelled training file is required"),
        ({"file": ("a.tsv", b"label\ttext\n", "text/plain")}, {"source": "labels"}, 422, "not used with source"),
        ({"file": ("a.tsv", b"label\ttext\n", "text/plain")}, {"overrides": "lr=1"}, 422, "not section.key=value"),
        ({"file": ("a.tsv", b"label\ttext\n", "text/plain")}, {"version": BUILTIN}, 409, "already exists"),
        ({"file": ("a.tsv", b"label\ttext\n", "text/plain")}, {"version": "../x"}, 422, "letters, digits"),
    ],
)
def test_job_requests_are_checked_before_queueing(
    service: Service, files: dict[str, tuple[str, bytes, str]] | None, data: dict[str, str], status: int, detail: str
) -> None:
    admin = service.key("admin")
    response = service.client.post("/v1/training-jobs", files=files, data=data, headers=admin)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert service.client.get("/v1/training-jobs", headers=admin).json() == []


def test_only_admins_train(service: Service) -> None:
    upload = {"file": ("a.tsv", tsv_bytes(GOOD), "text/plain")}
    for role in ("service", "analyst"):
        assert service.client.post("/v1/training-jobs", files=upload, headers=service.key(role)).status_code == 403
        assert service.client.get("/v1/training-jobs/1", headers=service.key(role)).status_code == 403
    assert service.client.get("/v1/training-jobs/1", headers=service.key("admin")).status_code == 404


def test_a_job_on_the_field_labels_validates_them(service: Service) -> None:
    analyst, admin = service.key("analyst"), service.key("admin")
    uploaded = service.client.post("/v1/batches", files={"file": ("回访.csv", survey_csv())}, headers=analyst)
    batch_id = uploaded.json()["id"]
    assert service.wait(batch_id, analyst)["status"] == "done"
    for item_id, value in (("S02", "positive"), ("S04", "negative")):
        body = {"batch_id": batch_id, "item_id": item_id, "label": value}
        assert service.client.post("/v1/labels", json=body, headers=analyst).status_code == 200
    created = service.client.post("/v1/training-jobs", data={"source": "labels", "from_base": "true"}, headers=admin)
    assert created.status_code == 202, created.text
    job = wait_job(service, created.json()["id"], admin, timeout=60)
    assert job["status"] == "failed" and job["log"][0] == "2 labelled item(s) exported from the field labels"
    (problem,) = job["problems"]
    assert (problem["file"], problem["kind"]) == ("labels.tsv", "too_few_rows")
    assert problem["message"] == "2 usable texts; at least 10 are needed"


# The packaged recipe, shrunk to the tiny encoder, as a job's overrides.
TINY_OVERRIDES = [
    "model.layers=2",
    "model.max_length=16",
    "model.head_tokens=5",
    "train.batch_size=8",
    "train.threads=1",
    "export.window_stride=4",
    "export.max_int8_loss_points=100",
]


def test_a_service_without_a_recipe_trains_with_the_packaged_one(
    tmp_path: Path, analyzer: Analyzer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """training_config and training_root unset: the packaged recipe, a dev share of the upload, and the
    base encoder built into the service's data directory (here the tiny one, in place of the real build)."""
    data_dir = tmp_path / "data"
    built: list[Path] = []

    def tiny_build(out: Path, _config: object, texts: list[str], **_kw: object) -> dict[str, object]:
        built.append(out)
        write_tiny_encoder(out, pruned_tokenizer_json([*texts, *POSITIVE, *NEGATIVE]))
        return {}

    monkeypatch.setattr("training.build_encoder.build_encoder", tiny_build)
    with registry_service(data_dir, analyzer, registry_config=workspace / "registry.toml") as service:
        assert service.services.settings.training_config is None and service.services.settings.training_root is None
        admin = service.key("admin")
        created = service.client.post(
            "/v1/training-jobs",
            files={"file": ("客户标注.tsv", tsv_bytes(GOOD), "text/tab-separated-values")},
            data={"version": "packaged-1", "overrides": TINY_OVERRIDES, "from_base": "true"},
            headers=admin,
        )
        assert created.status_code == 202, created.text
        job = wait_job(service, created.json()["id"], admin)
        assert job["status"] == "done", job
        assert any("dev set: 4 of your texts held out" in line for line in job["log"])
        assert built == [data_dir / ".base-encoder.tmp"]
        new = next(
            v
            for v in service.client.get("/v1/models", headers=admin).json()["versions"]
            if v["version"] == "packaged-1"
        )
        assert not new["active"] and new["training_data"]["held_out_dev"] == 4
        manifest = Registry(data_dir / "models").get("packaged-1").manifest
        assert manifest["config"]["data"]["base_encoder"] == str(data_dir / "base-encoder")
        assert set(manifest["config"]["data"]["evals"]) == {"clear", "dev"}


# Answers of a follow-up survey and an analyst's reading of each: questions are neutral, complaints
# carry their emotion; one row has an emotion only, one a polarity only.
FIELD_LABELS = [
    ("F01", "请问什么时候发货", "neutral", "neutral"),
    ("F02", "发票可以开公司抬头吗", "neutral", "neutral"),
    ("F03", "明天上午家里有人", "neutral", None),
    ("F04", "我想改一下收货地址", "neutral", "neutral"),
    ("F05", "退款一直不到账，客服态度恶劣，气死我了", "negative", "angry"),
    ("F06", "等了一个星期还没到，太失望了", "negative", "sad"),
    ("F07", "净水器漏水了会不会有危险啊", "negative", "fear"),
    ("F08", "物流太慢了，包装也破了", "negative", "sad"),
    ("F09", "安装师傅很专业，非常满意", "positive", "happy"),
    ("F10", "客服小王很耐心，问题很快解决了", "positive", "happy"),
    ("F11", "居然第二天就装好了，没想到这么快", None, "surprise"),
    ("F12", "价格实惠，质量不错，下次还买", "positive", "happy"),
]
# The packaged three-way recipe, shrunk to the tiny model, as a job's overrides.
THREE_WAY_OVERRIDES = [
    "model.head_tokens=5",
    "train.threads=1",
    "train.batch_size=8",
    "train.eval_every=2",
    "train.checkpoint_every=2",
    "export.max_int8_loss_points=100",
]


def test_a_job_on_three_way_field_labels_trains_a_three_way_version(
    tmp_path: Path, analyzer: Analyzer, workspace: Path
) -> None:
    """Neutral labels and emotions from the field, the active version a three-way model: the job
    exports them three-way and fine-tunes that model's polarity and emotion heads."""
    from tests.training.test_retrain_three_way import START
    from tests.training.tiny_encoder import write_tiny_three_way_model

    data_dir = tmp_path / "data"
    texts = [text for _, text, _, _ in FIELD_LABELS] + [t for _, t in GOLDEN]
    index = {"negative": 0, "neutral": 1, "positive": 2}
    labelled = [(text, index.get(p or "", 1), EMOTIONS.index(e or "neutral")) for _, text, p, e in FIELD_LABELS]
    write_tiny_three_way_model(tmp_path / "tiny", pruned_tokenizer_json(texts), labelled, START)
    registry = Registry(data_dir / "models", config=workspace / "registry.toml")
    registry.register(tmp_path / "tiny", version=START)
    registry.promote(START, force=True)
    rows = [(item, text, "黄金", "微信", "华南", "净水器", "2026-11-05", "7") for item, text, _, _ in FIELD_LABELS]
    with registry_service(data_dir, analyzer, registry_config=workspace / "registry.toml") as service:
        analyst, admin = service.key("analyst"), service.key("admin")
        uploaded = service.client.post("/v1/batches", files={"file": ("回访.csv", survey_csv(rows))}, headers=analyst)
        batch_id = uploaded.json()["id"]
        assert service.wait(batch_id, analyst)["status"] == "done"
        for item_id, _, polarity, emotion in FIELD_LABELS:
            body = {"batch_id": batch_id, "item_id": item_id, "label": polarity, "emotion": emotion}
            body = {k: v for k, v in body.items() if v is not None}
            assert service.client.post("/v1/labels", json=body, headers=analyst).status_code == 200
        created = service.client.post(
            "/v1/training-jobs",
            data={"source": "labels", "max_steps": "4", "version": "field-3way", "overrides": THREE_WAY_OVERRIDES},
            headers=admin,
        )
        assert created.status_code == 202, created.text
        job = wait_job(service, created.json()["id"], admin)
        assert job["status"] == "done", job
        assert (
            job["log"][0]
            == "12 labelled item(s) exported from the field labels (three-way: neutral labels or emotions)"
        )
        assert any(
            "validated: 12 training texts (4 negative, 4 neutral, 3 positive; 11 with an emotion" in line
            for line in job["log"]
        )
        assert any(f"fine-tuning from version {START}" in line for line in job["log"])
        assert job["progress"] == {"step": 4, "total_steps": 4, "fraction": 1.0}
        assert job["result"]["parent_version"] == START and "comparison" in job["result"]
        new = Registry(data_dir / "models").get("field-3way")
        assert not new.active and new.manifest["labels"] == ["negative", "neutral", "positive"]
        assert new.manifest["training_data"]["neutral"] == 4 and new.manifest["training_data"]["emotions"] == 11
        assert sentiment_version(service, analyst) == START  # registered, not promoted
