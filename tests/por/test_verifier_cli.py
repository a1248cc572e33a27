"""The standalone verifier: it imports nothing of the exchange (only the standard library,
xxhash, sr25519 and, for the chain check, substrate-interface), runs as a copied file, and
checks what `python -m app por create` published, a user's proof and the chain."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from substrateinterface import SubstrateInterface

from app.chain.custody import AsyncCustodyChain
from app.chain.devnet.server import DevnetThread
from app.config import PROJECT_ROOT
from app.custody.policy import Policy
from tests.conftest import SignedFactory
from tests.custody.conftest import ALICE, TAO, finalize, make_worker, send
from tests.custody.test_deposits import deposit_address

VERIFIER = PROJECT_ROOT / "app" / "por" / "verifier.py"
ALLOWED = {
    "__future__",
    "argparse",
    "collections.abc",
    "dataclasses",
    "fractions",
    "hashlib",
    "json",
    "sys",
    "typing",
    "urllib.request",
    "sr25519",
    "xxhash",
    "substrateinterface",
}


def test_the_verifier_imports_nothing_of_the_exchange() -> None:
    imported = set()
    for node in ast.walk(ast.parse(VERIFIER.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= ALLOWED, imported - ALLOWED


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.acceptance
async def test_create_then_verify_from_the_command_line(
    app: FastAPI,
    signed: SignedFactory,
    policy: Policy,
    devnet: DevnetThread,
    wallet: SubstrateInterface,
    custody_chain: AsyncCustodyChain,
    database_url: str,
    db: AsyncEngine,
    tmp_path: Path,
) -> None:
    user = await signed("read")
    worker = make_worker(app, custody_chain)
    await worker.scanner.scan()
    dest = {"dest": await deposit_address(user), "value": 7 * TAO}
    send(devnet, wallet, ALICE, "Balances", "transfer_keep_alive", dest)
    finalize(devnet)
    await worker.scanner.scan()

    # The operator, where the custody secret is: `python -m app por create`.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env.update(
        DATABASE_URL=database_url,
        CHAIN_URL=devnet.url,
        EXCHANGE_CUSTODY_SECRET_URI="//Exchange",
        EXCHANGE_DATA_DIR=str(tmp_path / "data"),
        EXCHANGE_LOG_JSON="false",
    )
    audit_file = tmp_path / "audit.json"
    created = _run(["-m", "app", "por", "create", "--output", str(audit_file)], PROJECT_ROOT, env)
    assert created.returncode == 0, created.stderr
    assert "liabilities root 0x" in created.stdout and "TAO" in created.stdout

    # A user saves the public document and their proof.
    r = await user.get("/v1/proof-of-reserves/proof")
    assert r.status_code == 200, r.text
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(r.text)
    assert json.loads(audit_file.read_text()) == (await app_document(app))

    # Anyone: the verifier as a file of its own, somewhere else, with the chain check.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(VERIFIER, elsewhere / "verify_por.py")
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    checked = _run(
        [
            "-I",
            "verify_por.py",
            "--audit",
            str(audit_file),
            "--proof",
            str(proof_file),
            "--chain",
            devnet.url,
        ],
        elsewhere,
        plain,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"user {user.user_id} is in the liabilities" in checked.stdout
    assert "storage values proven against state root" in checked.stdout
    assert checked.stdout.rstrip().endswith("proof of reserves: verified")

    # A proof whose balance was changed fails, and says so.
    forged = json.loads(proof_file.read_text())
    forged["leaf"]["balances"]["TAO"] = str(int(forged["leaf"]["balances"]["TAO"]) + 1)
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    failed = _run(
        ["-I", "verify_por.py", "--audit", str(audit_file), "--proof", str(forged_file)],
        elsewhere,
        plain,
    )
    assert failed.returncode == 1 and "FAIL" in failed.stdout, failed.stdout

    # The same through the exchange's CLI (no database, no settings needed).
    again = _run(
        ["-m", "app", "por", "verify", "--audit", str(audit_file), "--proof", str(proof_file)],
        PROJECT_ROOT,
        plain,
    )
    assert again.returncode == 0, again.stdout + again.stderr


async def app_document(app: FastAPI) -> dict[str, object]:
    from app.por.service import get_audit

    async with app.state.sessionmaker() as session:
        document: dict[str, object] = (await get_audit(session)).document
    return document
