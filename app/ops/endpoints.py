from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.kit import metrics
from app.ops.readiness import Readiness

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        503: {
            "description": "Not ready: the same report, with the failing checks",
            "content": {"application/json": {}},
        }
    },
)
async def ready(request: Request) -> JSONResponse:
    """Ready to take traffic: database reachable, schema at the migration head, and so on."""
    readiness: Readiness = request.app.state.readiness
    ok, report = await readiness.run()
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": report},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
