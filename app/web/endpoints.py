"""The pages and their static files. Not part of the API: left out of the OpenAPI."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def market_page() -> FileResponse:
    """The public market page."""
    return FileResponse(STATIC / "market" / "index.html", media_type="text/html")


@router.get("/admin")
async def admin_console() -> FileResponse:
    """The admin console (it holds no data: every answer comes from signed API calls)."""
    return FileResponse(STATIC / "admin" / "index.html", media_type="text/html")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
