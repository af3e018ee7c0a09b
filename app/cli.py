"""The ``cpis`` command: serve, migrate, token, demo-data and operators' tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.db.runtime import open_database
from app.db.session import DatabaseURLs, create_engine, create_sessionmaker, transaction
from app.observability.logs import configure_logging

log = logging.getLogger("cpis")
DEMO_CHILDREN = 200


def _terminate_gracefully(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the embedded database is stopped on the way out.
    raise SystemExit(128 + signum)


def run_in_session(
    settings: Settings,
    urls: DatabaseURLs,
    work: Callable[[AsyncSession], Coroutine[Any, Any, Any]],
) -> Any:
    """Run ``work`` in one committed transaction as the service role."""

    async def go() -> Any:
        engine = create_engine(settings, urls)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.db.migrate import upgrade_to_head
    from app.main import create_app
    from app.serving import UVICORN_OPTIONS, tune_garbage_collector

    if settings.env == "production" and settings.development_mode:
        print(
            "refusing to start: CPIS_ENV=production needs a real identity provider "
            "(CPIS_JWT_ISSUER, CPIS_JWT_AUDIENCE, CPIS_JWKS_URL or CPIS_JWKS_FILE)",
            file=sys.stderr,
        )
        return 2
    with open_database(settings) as urls:
        if args.migrate or not settings.database_url:
            upgrade_to_head(urls.owner)
        if args.demo_data:
            _load_demo(settings, urls, only_if_empty=True)
        if settings.development_mode:
            print(DEV_BANNER.format(host=args.host, port=args.port), file=sys.stderr)
        app = create_app(settings, urls)
        tune_garbage_collector()
        uvicorn.run(app, host=args.host, port=args.port, **UVICORN_OPTIONS)
    return 0


DEV_BANNER = """
  cpis is running in DEVELOPMENT MODE on http://{host}:{port}  (OpenAPI UI: /docs)
  Tokens are signed by a local development key. Mint one with:
      .venv/bin/cpis token clinician --org RJ122 --activity B0107
      .venv/bin/cpis token la --org E09000007
  Never use development mode with real patient data.
"""


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrate import upgrade_to_head

    with open_database(settings) as urls:
        upgrade_to_head(urls.owner)
    print("database schema is at head", file=sys.stderr)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from app.auth import dev_tokens
    from app.auth.keys import ensure_dev_key

    if not settings.development_mode:
        print(
            "cpis token only mints development tokens; an identity provider is configured",
            file=sys.stderr,
        )
        return 2
    claims: dict[str, Any]
    if args.kind == "clinician":
        claims = dev_tokens.clinician_claims(
            org=args.org or "RJ122",
            activity=args.activity or ["B0107"],
            name=args.name,
            sub=args.sub or "dev-clinician-0001",
        )
    elif args.kind == "la":
        org = args.org or "E09000007"
        claims = (
            dev_tokens.la_claims(org=org, scopes=args.scope)
            if args.scope
            else dev_tokens.la_claims(org=org)
        )
    elif args.kind == "auditor":
        claims = dev_tokens.auditor_claims()
    else:
        claims = dev_tokens.admin_claims()
    key = ensure_dev_key(settings.dev_key_path)
    print(
        dev_tokens.mint_token(
            key,
            issuer=settings.issuer,
            audience=settings.audience,
            claims=claims,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def _load_demo(settings: Settings, urls: DatabaseURLs, *, only_if_empty: bool) -> None:
    from sqlalchemy import text

    from app import demo
    from app.clock import today_in_london

    async def work(session: AsyncSession) -> list[str]:
        if only_if_empty and await session.scalar(text("SELECT EXISTS (SELECT 1 FROM plans)")):
            return []
        await demo.fill_demo_contacts(session)
        return await demo.load_demo_plans(session, children=DEMO_CHILDREN, today=today_in_london())

    numbers = run_in_session(settings, urls, work)
    if numbers:
        print(
            f"loaded demo plans for {len(numbers)} synthetic children; try NHS numbers "
            f"{', '.join(numbers[:3])}",
            file=sys.stderr,
        )


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from app.db.migrate import upgrade_to_head

    if args.upload_file:
        return _write_upload_file(args)
    if settings.env == "production":
        print("refusing to load synthetic data with CPIS_ENV=production", file=sys.stderr)
        return 2
    with open_database(settings) as urls:
        upgrade_to_head(urls.owner)
        _load_demo(settings, urls, only_if_empty=False)
    return 0


def _write_upload_file(args: argparse.Namespace) -> int:
    from app.ingest.demo_file import write_upload_file

    kinds = write_upload_file(
        args.upload_file, rows=args.rows, bad_share=args.bad_share, seed=int(args.authority[1:])
    )
    print(f"wrote {args.rows} synthetic records to {args.upload_file}: {dict(kinds)}")
    return 0


def cmd_upload(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from app.ingest.send import send_file

    token = args.token or os.environ.get("CPIS_TOKEN")
    if not token:
        from app.auth import dev_tokens
        from app.auth.keys import ensure_dev_key

        if not settings.development_mode:
            print(
                "give --token (or CPIS_TOKEN): an identity provider is configured", file=sys.stderr
            )
            return 2
        token = dev_tokens.mint_token(
            ensure_dev_key(settings.dev_key_path),
            issuer=settings.issuer,
            audience=settings.audience,
            claims=dev_tokens.la_claims(org=args.org),
        )
    status, body = send_file(
        args.url,
        args.file,
        token=token,
        sequence=args.sequence,
        mode=args.mode,
        allow_mass_withdrawal=args.allow_mass_withdrawal,
    )
    print(json.dumps(body, indent=2))
    return 0 if status in (200, 201) else 1


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from app.audit import console
    from app.audit import service as audit
    from app.audit.verify import default_processes
    from app.db.session import server_settings
    from app.db.urls import plain_url

    progress = console.progress_for(sys.stderr)
    with open_database(settings) as urls:
        # A large trail is checked by one worker process per core (app/audit/verify.py).
        workers = audit.Workers(
            plain_url(urls.service), server_settings(settings, urls), default_processes()
        )
        began = time.perf_counter()
        try:
            result = run_in_session(
                settings, urls, lambda s: audit.verify(s, progress, workers=workers)
            )
        finally:
            if progress:
                progress.close()
        seconds = time.perf_counter() - began
    print(json.dumps(result.__dict__))
    print(console.verdict(result, seconds), file=sys.stderr)
    return 0 if result.ok else 1


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from app.clock import today_in_london
    from app.retention import service as retention

    actor = retention.operator_actor()
    today = today_in_london()
    with open_database(settings) as urls:
        result = run_in_session(
            settings, urls, lambda s: retention.purge(s, today=today, actor=actor, wait=True)
        )
    print(json.dumps(result.as_detail()))
    print(
        f"purged {result.plans_deleted} plans past retention "
        f"({result.withdrawn_plans_deleted} of them withdrawn); the audit trail is untouched",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cpis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--migrate",
        action="store_true",
        help="apply migrations first (always done for the embedded database)",
    )
    serve.add_argument(
        "--demo-data",
        action="store_true",
        help="load synthetic plans if there are none (development only)",
    )
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        handler=cmd_migrate
    )

    token = commands.add_parser("token", help="mint a development token")
    token.add_argument("kind", choices=["clinician", "la", "auditor", "admin"])
    token.add_argument("--org", help="ODS code (clinician) or GSS code (la)")
    token.add_argument("--activity", action="append", help="B0107 or B0170; repeatable")
    token.add_argument("--scope", action="append", help="cpis:upload etc.; repeatable (la)")
    token.add_argument("--name", default="Dr Ada Example")
    token.add_argument("--sub", default=None)
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(handler=cmd_token)

    demo = commands.add_parser("demo-data", help="load synthetic plans for trying cpis out")
    demo.add_argument(
        "--upload-file", type=Path, help="write a synthetic upload CSV here instead of loading"
    )
    demo.add_argument("--rows", type=int, default=1000, help="records in the upload file")
    demo.add_argument("--bad-share", type=float, default=0.0, help="share of bad records")
    demo.add_argument("--authority", default="E09000007", help="GSS code (seeds the numbers)")
    demo.set_defaults(handler=cmd_demo_data)

    send = commands.add_parser("upload", help="send an upload file to a running service")
    send.add_argument("file", type=Path)
    send.add_argument("--sequence", type=int, required=True)
    send.add_argument("--mode", choices=["delta", "snapshot"], default="delta")
    send.add_argument("--allow-mass-withdrawal", action="store_true")
    send.add_argument("--org", default="E09000007", help="GSS code for a development token")
    send.add_argument("--url", default="http://127.0.0.1:8000")
    send.add_argument("--token", help="bearer token (default: $CPIS_TOKEN, else a dev token)")
    send.set_defaults(handler=cmd_upload)

    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="recompute every hash chain").set_defaults(
        handler=cmd_audit_verify
    )

    commands.add_parser(
        "purge", help="delete plans past retention (never the audit trail)"
    ).set_defaults(handler=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level)
    if getattr(args, "host", None) is None and hasattr(args, "host"):
        args.host = settings.host
    if getattr(args, "port", None) is None and hasattr(args, "port"):
        args.port = settings.port
    signal.signal(signal.SIGTERM, _terminate_gracefully)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
