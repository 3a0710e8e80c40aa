"""Models: list the registry's versions, promote one (through the gate) or roll back. The service
follows the registry's active version without a restart (api.model_holder). A promotion and a rollback
are in the audit log (the registry's own history names the key too)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.audit import DetailValue, record_apart
from api.deps import AdminKey, AnalystKey, ServicesDep
from api.errors import ConflictError, NotFoundError
from api.routes import problems
from api.schemas import ModelsOut, PromoteIn, PromotionOut, RollbackOut
from api.services import Services
from models.registry import Registry
from nlp.errors import ModelError

router = APIRouter(prefix="/v1/models", tags=["models"])


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


def serving(services: Services) -> dict[str, Any]:
    """What this service scores with now (ServingOut)."""
    holder = services.analyzer.holder
    return {
        "model_version": holder.current()[1],
        "follows_registry": holder.follows_registry,
        "last_error": holder.last_error,
    }


def _known(registry: Registry, version: str) -> None:
    try:
        registry.get(version)
    except ModelError as error:
        raise NotFoundError(str(error)) from None


@router.get("", response_model=ModelsOut, responses=problems(401, 403))
def list_models(registry: RegistryDep, services: ServicesDep, _key: AnalystKey) -> dict[str, Any]:
    """Every version (the built-in one first), which one is active, and what this service serves."""
    state = registry.state()
    return {
        "active": state.version,
        "generation": state.generation,
        "serving": serving(services),
        "versions": [v.to_dict() for v in registry.list_versions()],
    }


@router.post("/{version}/promote", response_model=PromotionOut, responses=problems(401, 403, 404, 409, 422))
async def promote(
    version: str,
    registry: RegistryDep,
    services: ServicesDep,
    key: AdminKey,
    body: Annotated[PromoteIn | None, Body()] = None,
) -> dict[str, Any]:
    """Make a version active when the gate passes (both versions scored on the golden sets), or with
    `force`. A refusal is a 409 problem with the comparison's numbers and changes nothing. The service
    switches to the new version at once; requests in flight finish with the version they started on."""
    force = body.force if body is not None else False
    await run_in_threadpool(_known, registry, version)
    # The gate scores both models on the golden sets: seconds of CPU, off the event loop.
    result = await run_in_threadpool(registry.promote, version, force=force, actor=f"api key {key.key_id}")
    if not result.promoted and result.comparison is not None:
        raise ConflictError(result.reason, comparison=result.comparison.to_dict())
    if result.promoted:
        detail: dict[str, DetailValue] = {"previous": result.previous, "forced": result.forced}
        await run_in_threadpool(record_apart, services.factory, key.key_id, "model.promote", f"model:{version}", detail)
    await run_in_threadpool(services.analyzer.holder.refresh)
    return {**result.to_dict(), "serving": serving(services)}


@router.post("/rollback", response_model=RollbackOut, responses=problems(401, 403, 409))
async def rollback(registry: RegistryDep, services: ServicesDep, key: AdminKey) -> dict[str, Any]:
    """Make the previously active version active again; 409 when there is none."""
    before = await run_in_threadpool(registry.state)
    if not before.history:
        raise ConflictError(f"no previous version to roll back to ({before.version} is the only one active so far)")
    try:
        state = await run_in_threadpool(registry.rollback, actor=f"api key {key.key_id}")
    except ModelError as error:
        raise ConflictError(str(error)) from None
    detail = {"previous": before.version}
    await run_in_threadpool(
        record_apart, services.factory, key.key_id, "model.rollback", f"model:{state.version}", detail
    )
    await run_in_threadpool(services.analyzer.holder.refresh)
    return {
        "version": state.version,
        "previous": before.version,
        "generation": state.generation,
        "serving": serving(services),
    }
