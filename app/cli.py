"""Command line: `python -m app <command>` or the `dtao-exchange` console script."""

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from app.config import Settings, get_settings
from app.db import CLI_POOL, INDEXER_POOL, create_engine, create_sessionmaker
from app.kit.logging import configure_logging

log = logging.getLogger("app.cli")
T = TypeVar("T")


class DatabaseUnreachable(Exception):
    """The command's database cannot be reached (or the embedded one started), or is not
    migrated for a command that needs it to be: the CLI says so in one line and exits 1,
    without a traceback."""


def redact_url(url: str) -> str:
    """A database URL fit to print: its password (in the authority or as a `password=`
    parameter) replaced with `***`."""
    url = re.sub(r"^([a-z0-9+.-]+://[^/@:?#]*):[^/@?#]*@", r"\1:***@", url, flags=re.I)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.I)


def describe_database(settings: Settings) -> str:
    """Which database a command uses: the configured URL (password hidden), or the embedded
    Postgres and its data folder."""
    if settings.database_url:
        return redact_url(settings.database_url)
    return f"embedded Postgres in {settings.embedded_db_dir}"


def _one_line(exc: BaseException) -> str:
    """The reason in one line, without SQLAlchemy's wrapping (`(module.Error) ...
    (Background on this error at: ...)`)."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^\([\w.]+\) ", "", text)
    text = re.sub(r" \(Background on this error at: [^)]*\)$", "", text)
    return (text or type(exc).__name__)[:300]


def _database(settings: Settings, *, migrated: bool = False) -> str:
    """The command's database URL, once it is known to answer (the embedded one started and
    migrated to head; with `migrated`, a configured one must be at head too: the commands
    that do not migrate it themselves); says which it is on stderr. Raises
    DatabaseUnreachable."""
    from app.kit.embedded_pg import start_embedded_postgres, to_async_url
    from app.kit.migrate import upgrade

    where = describe_database(settings)
    if settings.database_url:
        try:
            url = to_async_url(settings.database_url)
        except ValueError as exc:
            raise DatabaseUnreachable(f"DATABASE_URL {where}: {exc}") from None
        try:
            revision = asyncio.run(_probe(url, settings))
        except Exception as exc:
            raise DatabaseUnreachable(
                f"cannot reach the database {where}: {_one_line(exc)}"
            ) from None
        if migrated:
            from app.kit.migrate import head_revision

            if revision != head_revision():
                raise DatabaseUnreachable(
                    f"the database {where} is at migration {revision or '(none)'}, not "
                    f"{head_revision()}: run `python -m app migrate` first"
                )
    else:
        try:
            url = to_async_url(start_embedded_postgres(settings.embedded_db_dir))
        except Exception as exc:
            raise DatabaseUnreachable(
                f"cannot start the embedded Postgres in {settings.embedded_db_dir}: "
                f"{_one_line(exc)}"
            ) from None
        upgrade(url)  # the service owns that database: any command may bring it up to date
    print(f"database: {where}", file=sys.stderr)
    return url


async def _probe(url: str, settings: Settings) -> str | None:
    """Connect; the database's migration (None: not migrated)."""
    from sqlalchemy import text

    engine = create_engine(url, settings, CLI_POOL)
    try:
        async with engine.connect() as conn:
            if not await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
                return None
            revision: str | None = await conn.scalar(
                text("SELECT version_num FROM alembic_version")
            )
            return revision
    finally:
        await engine.dispose()


def _exit_on_sigterm() -> None:
    # Until uvicorn installs its own handlers, SIGTERM must still unwind normally so that
    # atexit stops the embedded Postgres.
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _run_with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one transaction, committed on success."""

    url = _database(settings, migrated=True)

    async def runner() -> T:
        engine = create_engine(url, settings, CLI_POOL)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.kit.migrate import downgrade, upgrade

    url = _database(settings)
    if args.revision.startswith("-") or args.revision == "base" or args.down:
        downgrade(url, args.revision)
    else:
        upgrade(url, args.revision)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.kit.heap import settled_after
    from app.kit.migrate import upgrade
    from app.kit.wsframes import FramingWebSocketProtocol
    from app.main import create_app

    if args.role:
        settings = settings.model_copy(update={"role": args.role})
    url = _database(settings)
    if settings.database_url:  # the embedded one is already migrated
        upgrade(url)
    app = create_app(settings, database_url=url)
    app.router.lifespan_context = settled_after(app.router.lifespan_context)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        access_log=False,
        # Compressing each small feed message for each subscriber costs more CPU than it
        # saves bandwidth: the WebSocket fan-out would compete with the order path for it.
        ws=FramingWebSocketProtocol,  # feed messages written once for all subscribers
        ws_per_message_deflate=settings.ws_compression,
        ws_max_size=settings.max_body_bytes,  # a WebSocket message is bounded like a body
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_indexer(args: argparse.Namespace, settings: Settings) -> int:
    """Run only the indexer (serve also runs it unless EXCHANGE_INDEXER_ENABLED=false)."""
    from app.main import build_sync_listeners

    url = _database(settings)
    if settings.database_url:
        from app.kit.migrate import upgrade

        upgrade(url)

    async def run() -> None:
        from app.indexer.runner import run_indexer

        engine = create_engine(url, settings, INDEXER_POOL)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with run_indexer(settings, engine, build_sync_listeners()):
                await stop.wait()
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def cmd_custody_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run only the custody worker: the scanner, and the signer where the secret is (serve
    also runs it unless EXCHANGE_CUSTODY_ENABLED=false)."""
    from app.chain.endpoint import chain_endpoint
    from app.custody.policy import Policy
    from app.custody.runner import run_custody
    from app.db import CUSTODY_POOL

    url = _database(settings)
    if settings.database_url:
        from app.kit.migrate import upgrade

        upgrade(url)
    policy = Policy.from_settings(settings)

    async def run() -> None:
        engine = create_engine(url, settings, CUSTODY_POOL)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with (
                chain_endpoint(
                    settings.chain_url, host=settings.devnet_host, port=settings.devnet_port
                ) as chain_url,
                run_custody(settings, engine, chain_url, policy) as worker,
            ):
                log.info(
                    "custody worker running",
                    extra={"omnibus": policy.keys.omnibus, "signer": worker.signer is not None},
                )
                await stop.wait()
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def cmd_custody_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Print the public custody values an API host needs (no secret)."""
    from app.custody.policy import Policy

    keys = Policy.from_settings(settings, with_signer=False).keys
    print(f"EXCHANGE_CUSTODY_OMNIBUS={keys.omnibus}")
    print(f"EXCHANGE_CUSTODY_DEPOSIT_ROOT=0x{keys.deposit_root.hex()}")
    return 0


def cmd_custody_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from app.chain.custody import AsyncCustodyChain
    from app.chain.endpoint import is_devnet
    from app.custody.policy import Policy
    from app.custody.reconciliation import reconcile

    if is_devnet(settings.chain_url):
        print("custody reconcile needs CHAIN_URL of a running node", file=sys.stderr)
        return 2
    policy = Policy.from_settings(settings, with_signer=False)

    async def work(session: Any) -> Any:
        chain = AsyncCustodyChain.connect(settings.chain_url)
        try:
            return await reconcile(session, chain, policy)
        finally:
            await chain.close()

    report = _run_with_session(settings, work)
    print(f"custody at block {report.block_number} ({report.accounts} accounts)")
    for a in report.assets:
        print(
            f"  {a.asset:8} on chain {a.on_chain:>22}  ledger {a.ledger_custody:>22}  "
            f"difference {a.difference:>20}  {'OK' if a.ok else 'DEFICIT'}"
        )
    print("custody reconcile: OK" if report.ok else "custody reconcile: DEFICIT")
    return 0 if report.ok else 1


def cmd_por_create(args: argparse.Namespace, settings: Settings) -> int:
    """Run a proof-of-reserves audit now (where the custody secret is: every custody key
    signs it) and publish it; `--output` also writes the document to a file."""
    import json

    from app.chain.custody import AsyncCustodyChain
    from app.chain.endpoint import is_devnet
    from app.custody.policy import Policy
    from app.por.service import create_audit

    if is_devnet(settings.chain_url):
        print("por create needs CHAIN_URL of a running node", file=sys.stderr)
        return 2
    policy = Policy.from_settings(settings)

    async def work(session: Any) -> Any:
        chain = AsyncCustodyChain.connect(settings.chain_url)
        try:
            audit = await create_audit(session, chain, policy)
            return audit.document
        finally:
            await chain.close()

    document = _run_with_session(settings, work)
    block = document["block"]
    liabilities = document["liabilities"]
    print(f"audit {document['audit_id']} at block {block['number']} {block['hash']}")
    print(f"liabilities root {liabilities['root']} ({liabilities['leaf_count']} users)")
    for row in document["coverage"]:
        ratio = row["ratio"] if row["ratio"] is not None else "-"
        print(
            f"  {row['asset']:8} liabilities {row['liabilities']:>22}  reserves "
            f"{row['reserves']:>22}  ratio {ratio}" + ("" if row["covered"] else "  SHORT")
        )
        if row["reason"]:
            print(f"           {row['reason']}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
    return 0


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.service import create_user

    user = _run_with_session(settings, lambda s: create_user(s, args.email, args.name))
    print(f"user {user.id} {user.email}")
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.scopes import Scope
    from app.auth.service import MAX_NONCE_WINDOW_MS, create_api_key, get_user_by_email
    from app.kit.crypto import SecretBox, load_server_key

    if not 0 <= args.nonce_window_ms <= MAX_NONCE_WINDOW_MS:
        print(f"--nonce-window-ms must be 0..{MAX_NONCE_WINDOW_MS}", file=sys.stderr)
        return 2
    try:
        scopes = [Scope(s.strip()) for s in args.scopes.split(",") if s.strip()]
    except ValueError:
        print(
            f"unknown scope in {args.scopes!r}; known: read,trade,withdraw,admin", file=sys.stderr
        )
        return 2
    box = SecretBox(load_server_key(settings))

    async def work(session: Any) -> Any:
        user = await get_user_by_email(session, args.email)
        return await create_api_key(session, box, user.id, scopes, args.label, args.nonce_window_ms)

    issued = _run_with_session(settings, work)
    print(f"API-Key:    {issued.key}")
    print(f"API-Secret: {issued.secret}")
    print(f"scopes:     {','.join(issued.api_key.scopes)}")
    print(f"nonce window: {issued.api_key.nonce_window_ms} ms")
    print("The secret is shown only this once.", file=sys.stderr)
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth.service import revoke_api_key

    _run_with_session(settings, lambda s: revoke_api_key(s, args.key))
    print("revoked")
    return 0


def cmd_devnet(args: argparse.Namespace, settings: Settings) -> int:
    from app.chain.devnet.chain import DevnetConfig
    from app.chain.devnet.server import run_devnet

    config = DevnetConfig(
        seed=args.seed,
        subnets=args.subnets,
        block_time=args.block_time if args.block_time > 0 else None,
    )

    host = args.host or settings.devnet_host
    port = settings.devnet_port if args.port is None else args.port

    async def serve_forever() -> None:
        async with run_devnet(config, host=host, port=port) as devnet:
            print(f"devnet listening on {devnet.url}", flush=True)
            await asyncio.Event().wait()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_forever())
    except OSError as exc:  # the asked-for port is taken: say so, do not pick another
        print(f"devnet: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def cmd_ledger_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.ledger.check import check_ledger

    report = _run_with_session(settings, lambda s: check_ledger(s, limit=args.limit))
    print(report.render())
    return 0 if report.ok else 1


def cmd_staking_check(args: argparse.Namespace, settings: Settings) -> int:
    from app.staking.service import check_staking

    mismatches = _run_with_session(settings, check_staking)
    for m in mismatches:
        print(
            f"  user {m.user_id} {m.asset}: ledger staked {m.ledger_staked} != "
            f"allocated {m.allocated} + unbonding {m.unbonding}"
        )
    print(f"staking check: {len(mismatches)} mismatch(es)" if mismatches else "staking check: OK")
    return 1 if mismatches else 0


def cmd_staking_distribute(args: argparse.Namespace, settings: Settings) -> int:
    from app.staking.rewards import distribute_block

    created = _run_with_session(settings, lambda s: distribute_block(s, args.block))
    for d in created:
        print(
            f"netuid {d.netuid} {d.hotkey} epoch {d.epoch}: {d.kind} growth {d.growth} "
            f"users {d.users_total} commission {d.commission} rounding {d.rounding}"
        )
    print(f"{len(created)} distribution(s) at block {args.block}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dtao-exchange", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate to head, then run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--role",
        choices=["all", "api", "sequencer", "gateway"],
        help="what this process runs (default: EXCHANGE_ROLE, all): see README, Scale-out",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply migrations (default: to head)")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--down", action="store_true", help="downgrade to REVISION")
    migrate.set_defaults(func=cmd_migrate)

    devnet = sub.add_parser("devnet", help="run the built-in devnet (a simulated subtensor node)")
    devnet.add_argument("--host", default=None, help="default: EXCHANGE_DEVNET_HOST (127.0.0.1)")
    devnet.add_argument(
        "--port",
        type=int,
        default=None,
        help="default: EXCHANGE_DEVNET_PORT (9944); 0 picks a free port",
    )
    devnet.add_argument("--seed", type=int, default=0)
    devnet.add_argument("--subnets", type=int, default=32, help="dynamic subnets at genesis")
    devnet.add_argument(
        "--block-time", type=float, default=12.0, help="seconds per block (0: no blocks)"
    )
    devnet.set_defaults(func=cmd_devnet)

    indexer = sub.add_parser("indexer", help="run the chain indexer on its own")
    indexer.set_defaults(func=cmd_indexer)

    custody = sub.add_parser("custody", help="on-chain custody").add_subparsers(
        dest="action", required=True
    )
    custody.add_parser(
        "run", help="run the custody worker alone (scanner; signer and sweeper with the secret)"
    ).set_defaults(func=cmd_custody_run)
    custody.add_parser(
        "keys", help="print the omnibus address and the deposit root public key"
    ).set_defaults(func=cmd_custody_keys)
    custody.add_parser(
        "reconcile", help="custody on chain against the ledger; exit 1 on a deficit"
    ).set_defaults(func=cmd_custody_reconcile)

    por = sub.add_parser("por", help="proof of reserves").add_subparsers(
        dest="action", required=True
    )
    por_create = por.add_parser(
        "create", help="run an audit now and publish it (needs the custody secret)"
    )
    por_create.add_argument("--output", help="also write the published document here")
    por_create.set_defaults(func=cmd_por_create)
    por.add_parser(
        "verify",
        add_help=False,
        help="check an audit (and your inclusion proof) with the standalone verifier: "
        "--audit FILE|URL [--proof FILE] [--chain URL]",
    )

    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    users_create = users.add_parser("create")
    users_create.add_argument("--email", required=True)
    users_create.add_argument("--name")
    users_create.set_defaults(func=cmd_users_create)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    keys_create = keys.add_parser("create", help="print a new key and its secret, once")
    keys_create.add_argument("--email", required=True, help="the key's owner")
    keys_create.add_argument(
        "--scopes", default="read", help="comma list: read,trade,withdraw,admin"
    )
    keys_create.add_argument("--label")
    keys_create.add_argument(
        "--nonce-window-ms",
        type=int,
        default=10_000,
        help="nonces may arrive this far below the highest one used (each once); 0: strictly "
        "increasing",
    )
    keys_create.set_defaults(func=cmd_keys_create)
    keys_revoke = keys.add_parser("revoke")
    keys_revoke.add_argument("key")
    keys_revoke.set_defaults(func=cmd_keys_revoke)

    ledger = sub.add_parser("ledger", help="ledger tools").add_subparsers(
        dest="action", required=True
    )
    ledger_check = ledger.add_parser(
        "check", help="verify the ledger invariants; exit 1 on any violation"
    )
    ledger_check.add_argument("--limit", type=int, default=50, help="rows shown per invariant")
    ledger_check.set_defaults(func=cmd_ledger_check)

    staking = sub.add_parser("staking", help="staking tools").add_subparsers(
        dest="action", required=True
    )
    staking.add_parser(
        "check", help="ledger staked == allocations + pending unbondings, per user and asset"
    ).set_defaults(func=cmd_staking_check)
    distribute = staking.add_parser(
        "distribute", help="close the reward periods an indexed block ends (idempotent)"
    )
    distribute.add_argument("--block", type=int, required=True)
    distribute.set_defaults(func=cmd_staking_distribute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["por", "verify"]:
        # The standalone verifier: no settings, no database, nothing of the server.
        from app.por import verifier

        return verifier.main(argv[2:])
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    _exit_on_sigterm()
    from app.kit.dberrors import unavailable
    from app.kit.errors import AppError

    try:
        result: int = args.func(args, settings)
    except DatabaseUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AppError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except Exception as exc:
        if unavailable(exc) is None:
            raise  # a bug: its traceback is wanted
        # The database went away during the command.
        where = describe_database(settings)
        print(f"error: lost the database {where}: {_one_line(exc)}", file=sys.stderr)
        return 1
    return result
