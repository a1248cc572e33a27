from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from app.auth.dependencies import AdminPrincipal
from app.kit.deps import Session
from app.kit.inputs import PositiveInt
from app.listings import service
from app.listings.schemas import ApproveRequest, ListingOut, ReconsiderRequest, RejectRequest

router = APIRouter(prefix="/v1/admin/listings", tags=["admin"])
ListingId = Annotated[PositiveInt, Path()]


@router.get("", response_model=list[ListingOut])
async def list_listings(
    _: AdminPrincipal,
    session: Session,
    request: Request,
    state: Annotated[Literal["candidate", "approved", "rejected"] | None, Query()] = None,
) -> list[ListingOut]:
    views = await service.list_listings(session, state, request.app.state.settings)
    return [ListingOut.of(v) for v in views]


@router.get("/{listing_id}", response_model=ListingOut)
async def get_listing(
    listing_id: ListingId, _: AdminPrincipal, session: Session, request: Request
) -> ListingOut:
    return ListingOut.of(await service.get_listing(session, listing_id, request.app.state.settings))


@router.post("/{listing_id}/approve", response_model=ListingOut)
async def approve(
    listing_id: ListingId,
    body: ApproveRequest,
    principal: AdminPrincipal,
    session: Session,
    request: Request,
) -> ListingOut:
    view = await service.approve(
        session,
        principal,
        listing_id,
        body.model_dump(exclude_none=True),
        request.app.state.settings,
    )
    return ListingOut.of(view)


@router.post("/{listing_id}/reject", response_model=ListingOut)
async def reject(
    listing_id: ListingId,
    body: RejectRequest,
    principal: AdminPrincipal,
    session: Session,
    request: Request,
) -> ListingOut:
    view = await service.reject(
        session, principal, listing_id, body.reason, request.app.state.settings
    )
    return ListingOut.of(view)


@router.post("/{listing_id}/reconsider", response_model=ListingOut)
async def reconsider(
    listing_id: ListingId,
    body: ReconsiderRequest,
    principal: AdminPrincipal,
    session: Session,
    request: Request,
) -> ListingOut:
    view = await service.reconsider(
        session, principal, listing_id, body.reason, request.app.state.settings
    )
    return ListingOut.of(view)
