"""Schemathesis over every operation of the service, in process (ASGI), with an admin key: every check
of its own (no server error, documented status codes, content types and headers, response schemas,
schema-valid data accepted, schema-violating data refused, auth enforced, 405 with Allow) in the
examples, coverage and fuzzing phases, with a few derandomised examples per operation.

Three things a schema cannot say are set aside, each for one operation, and named here:
- an upload's file must be a readable survey or labelled data, so schema-valid random bytes are
  refused (positive data on POST /v1/batches and POST /v1/training-jobs);
- a multipart form carries every value as text, so the integer 0 and the boolean false are the
  same form value (negative data on POST /v1/training-jobs);
- `from` after `to` is refused by /v1/heatmap and /v1/trend, and JSON Schema cannot relate two
  parameters, so generated ranges are in order;
- a key's `expires_at` must be ahead of now (and within ten years), which no schema can say of a
  date-time, so a generated one outside that span is moved to thirty days ahead.

Every operation (method and path) of the document, the audit log's and the key routes' included, must
have run in both the coverage and the fuzzing phase.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

from api.analysis import Analyzer
from api.app import create_app
from api.db import make_engine, migrate, session_factory
from api.keys import MAX_LIFETIME, create_key
from api.settings import Settings

EXAMPLES = 10  # per operation and phase: the whole run takes about half a minute on two cores
UPLOADS = ("/v1/batches", "/v1/training-jobs")


def _config(key: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 20261102,
            "auth": {"openapi": {"APIKeyHeader": {"api_key": key}}},
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            # Stateful links would need a resource graph the schema does not declare.
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                *(
                    {
                        "include-path": path,
                        "include-method": "POST",
                        "checks": {"positive_data_acceptance": {"enabled": False}},
                    }
                    for path in UPLOADS
                ),
                {
                    "include-path": "/v1/training-jobs",
                    "include-method": "POST",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, analyzer: Analyzer) -> Iterator[Any]:
    """The OpenAPI schema of an app on its own SQLite database, read in process, and an admin key
    made before the app starts (schemathesis runs the app's lifespan itself)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("schemathesis"), lexicon=True, worker_poll_seconds=0.05)
    engine = make_engine(settings.database_url())
    migrate(engine)
    with session_factory(engine)() as session, session.begin():
        _, key = create_key(session, "admin", "schemathesis")
    engine.dispose()
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(settings, analyzer=analyzer), config=_config(key)
    )

    @schema.hook("filter_query")
    def ordered_range(_context: Any, query: dict[str, Any] | None) -> bool:
        if query and isinstance(query.get("from"), str) and isinstance(query.get("to"), str):
            return bool(query["from"] <= query["to"])
        return True

    @schema.hook("map_body")
    def expiry_ahead(_context: Any, body: Any) -> Any:
        if isinstance(body, dict) and "role" in body and isinstance(body.get("expires_at"), str):
            try:
                moment = datetime.fromisoformat(body["expires_at"])
            except ValueError:
                return body  # not a time: negative data, to be refused
            now = datetime.now(UTC)
            if moment.tzinfo is None or not now < moment < now + MAX_LIFETIME - timedelta(days=1):
                body = {**body, "expires_at": (now + timedelta(days=30)).isoformat()}
        return body

    yield schema
    asgi.shutdown_lifespans()  # the worker and training threads of the app schemathesis started


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE:
                continue
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            answer = f"{response.status_code} {response.content[:300]!r}" if response is not None else "no response"
            title = check.failure_info.failure.title if check.failure_info is not None else ""
            body = None if isinstance(case.body, NotSet) else case.body
            yield (
                f"{event.label} [{check.name}] {title}: {case.method} {case.formatted_path} "
                f"query={case.query} body={str(body)[:200]} -> {answer}"
            )


def test_every_operation_passes_every_check(api_schema: Any) -> None:
    failures: list[str] = []
    tested: dict[str, set[str]] = collections.defaultdict(set)
    errors: list[str] = []
    finished = None
    for event in from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.label:
            if event.status != Status.SKIP:
                tested[str(event.phase)].add(event.label)
            if event.status in (Status.FAILURE, Status.ERROR):
                failures.extend(_failures(event))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None and str(finished.stop_reason) == "completed"
    assert not errors, "\n".join(errors)
    assert not failures, "\n".join(sorted(set(failures)))
    operations = {
        f"{method.upper()} {path}"
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    assert len(operations) >= 25 and {"GET /v1/audit", "POST /v1/keys", "POST /v1/sentiment"} <= operations
    # Every operation was run in the coverage and the fuzzing phase.
    assert not operations - tested["coverage"], sorted(operations - tested["coverage"])
    assert not operations - tested["fuzzing"], sorted(operations - tested["fuzzing"])
