"""The FastAPI application: wiring only. Domain logic lives in the domain folders."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.endpoints import router as audit_router
from app.auth.endpoints import admin as keys_admin
from app.auth.endpoints import router as account_router
from app.auth.endpoints import users as users_admin
from app.auth.revocation import subscribe_revocations
from app.auth.service import Authenticator
from app.auth.tokens import TokenIssuer
from app.bus.roles import order_path
from app.chain.custody import AsyncCustodyChain
from app.chain.endpoint import chain_endpoint, is_devnet
from app.config import Settings, get_settings
from app.custody.endpoints import admin as custody_admin
from app.custody.endpoints import router as custody_router
from app.custody.errors import CustodyNotConfigured
from app.custody.notices import CUSTODY_EVENTS
from app.custody.policy import Policy
from app.custody.runner import readiness_check as custody_readiness
from app.custody.runner import run_custody
from app.db import (
    AUTH_POOL,
    CUSTODY_POOL,
    INDEXER_POOL,
    SEQUENCER_POOL,
    create_engine,
    create_sessionmaker,
    resolve_database_url,
)
from app.indexer.endpoints import router as subnets_router
from app.indexer.runner import devnet_resume_point, readiness_check, run_indexer
from app.indexer.service import SyncListener
from app.kit.cors import CORSMiddleware
from app.kit.crypto import SecretBox, load_server_key
from app.kit.http import RequestContextMiddleware, install_error_handlers
from app.kit.migrate import head_revision
from app.kit.notify import Listener, listen_dsn
from app.kit.openapi import install as install_openapi
from app.kit.ratelimit import TokenBucketLimiter
from app.kraken.endpoints import router as kraken_router
from app.kraken.errors import render as kraken_render
from app.kraken.ws import KrakenFeed
from app.kraken.ws import router as kraken_ws
from app.kraken.ws1 import V1
from app.kraken.ws1 import router as kraken_ws1
from app.ledger.endpoints import router as ledger_router
from app.listings.endpoints import router as listings_router
from app.listings.service import announce_retired_subnets, create_candidates
from app.marketdata.endpoints import router as marketdata_router
from app.marketdata.ws import MarketDataHub
from app.marketdata.ws import router as marketdata_ws
from app.markets.endpoints import admin as markets_admin
from app.markets.endpoints import assets as assets_router
from app.markets.endpoints import fees as fees_router
from app.markets.endpoints import public as markets_public
from app.markets.service import SUBNETS_RETIRED
from app.ops.endpoints import router as ops_router
from app.ops.readiness import CheckResult, Readiness, ReadinessCheck
from app.orders.commands import HaltRetiredMarkets
from app.orders.deadman import DeadMansSwitch
from app.orders.endpoints import router as orders_router
from app.por.endpoints import router as por_router
from app.staking.endpoints import admin as staking_admin
from app.staking.endpoints import router as staking_router
from app.staking.rewards import staking_sync_listener
from app.staking.service import release_on_delisting
from app.web.endpoints import install as install_web
from app.web.headers import SecurityHeadersMiddleware


def _database_check(engine: AsyncEngine, head: str) -> ReadinessCheck:
    async def check() -> CheckResult:
        async with engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return CheckResult(current == head, {"migration": current, "head": head})

    return check


def build_sync_listeners() -> list[SyncListener]:
    """What runs inside each indexed block's transaction."""
    return [create_candidates, announce_retired_subnets, staking_sync_listener]


def _custody_policy(app: FastAPI, settings: Settings) -> Policy | None:
    """The custody keys this process knows (None, and the reason kept, if none)."""
    try:
        return Policy.from_settings(settings)
    except CustodyNotConfigured as exc:
        app.state.custody_problem = exc.message
        return None


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # In a thread: starting and migrating the embedded database runs its own event loop.
        url = database_url or await asyncio.to_thread(resolve_database_url, settings)
        assert url is not None
        engine = create_engine(url, settings)
        sessionmaker = create_sessionmaker(engine)
        # Bulkheads: the sequencer, the authenticator and the indexer have pools of their own.
        sequencer_engine = create_engine(url, settings, SEQUENCER_POOL)
        auth_engine = create_engine(url, settings, AUTH_POOL)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.settings = settings
        server_key = load_server_key(settings)
        app.state.secret_box = SecretBox(server_key)
        app.state.authenticator = Authenticator(
            auth_engine,
            app.state.secret_box,
            TokenBucketLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        )
        app.state.ws_tokens = TokenIssuer(server_key, settings.ws_token_ttl_seconds)
        # In-transaction hooks: what else must happen when a market changes state, and
        # when the indexer writes a block. Later domains append their own.
        app.state.market_listeners = [release_on_delisting]
        app.state.sync_listeners = build_sync_listeners()
        readiness = Readiness()
        readiness.register("database", _database_check(engine, head_revision()))
        app.state.readiness = readiness
        async with contextlib.AsyncExitStack() as stack:
            for owned in (engine, sequencer_engine, auth_engine):  # disposed last
                stack.push_async_callback(owned.dispose)
            # The order service: here (role all, sequencer) or over NATS (api, gateway).
            path = await stack.enter_async_context(
                order_path(settings, sequencer_engine, sessionmaker, app.state.market_listeners)
            )
            app.state.orders = path.orders  # an OrderService: `submit` only
            app.state.orders_view = path.view
            app.state.outbox_relay = path.relay
            readiness.register("orders", path.check)
            # The dead man's switch fires the deadlines that passed while it was down, first.
            switch = DeadMansSwitch(sessionmaker, path.orders)
            await switch.start()
            stack.push_async_callback(switch.stop)
            app.state.deadman = switch
            hub = MarketDataHub(
                path.view,
                sessionmaker,
                app.state.authenticator,
                app.state.ws_tokens,
                batch=settings.ws_batch_ms / 1000,
            )
            await hub.start()
            stack.push_async_callback(hub.stop)
            app.state.marketdata = hub
            kraken_feed = KrakenFeed(path.view, sessionmaker, app.state.ws_tokens)
            V1(kraken_feed)  # the v1 endpoint's formats on the same feed
            await kraken_feed.start()
            stack.push_async_callback(kraken_feed.stop)
            app.state.kraken_ws = kraken_feed
            # Revocations from any process: forget the key's secret, end its WebSocket sessions.
            notifications = Listener(listen_dsn(engine))
            authenticator = app.state.authenticator
            subscribe_revocations(notifications, authenticator.forget, authenticator.forget_all)
            subscribe_revocations(notifications, hub.key_revoked, hub.recheck_keys)
            subscribe_revocations(notifications, kraken_feed.key_revoked, kraken_feed.recheck_keys)
            sequencer = path.sequencer
            if sequencer is not None:
                # Subnets retired (by the indexer, in any process): the sequencer halts their
                # markets; on every (re)connection too, for notices missed meanwhile.
                halt = HaltRetiredMarkets()
                notifications.subscribe(
                    SUBNETS_RETIRED,
                    lambda _: sequencer.enqueue(halt),
                    lambda: sequencer.enqueue(halt),
                )
            # Deposits and withdrawals (changed by the custody worker, in any process).
            notifications.subscribe(CUSTODY_EVENTS, hub.custody_notice)
            notifications.subscribe(CUSTODY_EVENTS, kraken_feed.custody_notice)
            app.state.notifications = notifications
            await notifications.start()
            stack.push_async_callback(notifications.stop)
            policy = app.state.custody_policy = _custody_policy(app, settings)
            run_custody_here = settings.custody_enabled and policy is not None
            chain_url: str | None = None
            if settings.indexer_enabled or run_custody_here:
                # One chain for both (with CHAIN_URL=devnet: one in-process devnet).
                chain_url = await stack.enter_async_context(
                    chain_endpoint(
                        settings.chain_url,
                        resume_from=await devnet_resume_point(settings, engine),
                        host=settings.devnet_host,
                        port=settings.devnet_port,
                    )
                )
            elif not is_devnet(settings.chain_url):
                chain_url = settings.chain_url
            if settings.indexer_enabled:
                indexer_engine = create_engine(url, settings, INDEXER_POOL)
                stack.push_async_callback(indexer_engine.dispose)
                app.state.indexer = await stack.enter_async_context(
                    run_indexer(settings, indexer_engine, app.state.sync_listeners, chain_url)
                )
                readiness.register(
                    "indexer", readiness_check(engine, settings.indexer_max_staleness_seconds)
                )
            if chain_url is not None and policy is not None:
                custody_chain = AsyncCustodyChain.connect(chain_url)
                stack.push_async_callback(custody_chain.close)
                app.state.custody_chain = custody_chain
            if run_custody_here and chain_url is not None and policy is not None:
                custody_engine = create_engine(url, settings, CUSTODY_POOL)
                stack.push_async_callback(custody_engine.dispose)
                app.state.custody = await stack.enter_async_context(
                    run_custody(settings, custody_engine, chain_url, policy)
                )
                readiness.register("custody", custody_readiness(app.state.custody))
            yield

    app = FastAPI(
        # No OpenTelemetry: /metrics is ours. (Enabled, FastAPI looks for providers in the
        # environment on every request.)
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="dTAO Exchange",
        version="0.1.0",
        summary="Listing and trading of Bittensor subnet tokens (alpha) against TAO.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        renderers={"/0/": kraken_render},
        max_inflight_per_client=settings.max_inflight_per_client,
        max_inflight_per_key=settings.max_inflight_per_key,
        refusal_rate=settings.refusal_rate_per_connection,
    )
    # Outside the request middleware, so that its own refusals get their headers too; CORS
    # outermost (a preflight is answered before anything else).
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(CORSMiddleware, origins=settings.cors_origins)
    if settings.role == "sequencer":  # no API: health, readiness and metrics
        app.include_router(ops_router)
        return app
    # The trading routes first: Starlette matches routes in order (the hot path stays short).
    app.include_router(orders_router)
    app.include_router(kraken_router)
    app.include_router(ops_router)
    app.include_router(account_router)
    app.include_router(subnets_router)
    app.include_router(ledger_router)
    app.include_router(marketdata_router)
    app.include_router(marketdata_ws)
    app.include_router(kraken_ws)
    app.include_router(kraken_ws1)
    app.include_router(markets_public)
    app.include_router(assets_router)
    app.include_router(listings_router)
    app.include_router(markets_admin)
    app.include_router(fees_router)
    app.include_router(audit_router)
    app.include_router(keys_admin)
    app.include_router(users_admin)
    app.include_router(staking_router)
    app.include_router(staking_admin)
    app.include_router(custody_router)
    app.include_router(custody_admin)
    app.include_router(por_router)
    install_web(app)
    install_openapi(app)  # the error answers of every operation
    return app
