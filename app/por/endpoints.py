"""Proof of reserves over HTTP: the published audit (public) and a user's inclusion proof."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.auth.dependencies import ReadPrincipal
from app.kit.deps import Session
from app.kit.inputs import PositiveInt
from app.por import service
from app.por.schemas import AuditOut, InclusionProofOut

router = APIRouter(prefix="/v1/proof-of-reserves", tags=["proof of reserves"])

AuditId = Annotated[PositiveInt | None, Query(description="an audit's id (default: the latest)")]


@router.get("", response_model=AuditOut)
async def get_audit(session: Session, audit_id: AuditId = None) -> Any:
    """The latest audit (or `audit_id`): liabilities root and totals, reserves on chain with
    the storage (and read proof) they come from, coverage per asset, and the custody keys'
    signatures. Save it and check it: `python -m app por verify --audit audit.json`."""
    audit = await service.get_audit(session, audit_id)
    return audit.document


@router.get("/proof", response_model=InclusionProofOut)
async def get_inclusion_proof(
    principal: ReadPrincipal, session: Session, audit_id: AuditId = None
) -> InclusionProofOut:
    """Your leaf (balances per asset and its salt) and its path to the audit's root:
    `python -m app por verify --audit audit.json --proof proof.json`."""
    return await service.inclusion_proof(session, principal.user_id, audit_id)
