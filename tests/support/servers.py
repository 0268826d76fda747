"""Throwaway PostgreSQL and Redis servers for a test run.

Each server lives in its own temporary directory (data, sockets and logs) on a free port of
127.0.0.1. The servers can be stopped, killed (SIGKILL) and started again on the same data
directory and port, which the fault tests rely on. ``close()`` stops the server and removes
its directory; every live server is also closed at interpreter exit as a safety net.

Run ``python -m tests.support.servers`` for a self-check.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.abc import QueryNoTemplate
from psycopg.conninfo import make_conninfo

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "find_postgres_bindir",
    "find_redis_server",
    "free_port",
    "postgres_server",
    "redis_server",
]

LOCALHOST = "127.0.0.1"

#: Settings for a fast, crash-unsafe test server (written to postgresql.conf).
PG_FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "jit": "off",
    "logging_collector": "off",
    "log_destination": "stderr",
    "log_min_messages": "warning",
    "log_min_error_statement": "error",
    "timezone": "UTC",
    "log_timezone": "UTC",
}

_LIVE: set[_ServerBase] = set()


class ServerError(RuntimeError):
    """A throwaway server could not be set up, started or stopped."""


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, max_bytes: int = 4000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return text.strip() or "<empty>"


def _clean_env() -> dict[str, str]:
    """The current environment without libpq variables, with a predictable locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.pop("LC_ALL", None)
    env["LANG"] = "C"
    return env


def _child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; empty elsewhere)."""
    children: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return children


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != b"Z"


def _wait_pids_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise ServerError(f"processes {pids} still alive {timeout:.0f}s after SIGKILL")
        time.sleep(0.01)


class _ServerBase:
    """A server process running from its own temporary directory."""

    name = "server"

    def __init__(self, port: int | None, base_dir: str | None, prefix: str) -> None:
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.host: str = LOCALHOST
        self.dir: Path = Path(tempfile.mkdtemp(prefix=prefix, dir=base_dir))
        self.log_path: Path = self.dir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        _LIVE.add(self)

    # -- to implement ------------------------------------------------------------------
    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The server's main process id while running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again) on the same directory and port; wait until it is ready."""
        if self._closed:
            raise ServerError(f"{self.name} server was closed")
        if self.running:
            return
        # Only a first start picks another port when the free one got taken meanwhile.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
            except ServerError:
                if attempt + 1 < attempts and "ddress already in use" in self.log_tail():
                    self.port = free_port()
                    continue
                raise
            break
        self._fixed_port = True

    def _start_once(self, timeout: float) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} starting on port {self.port}\n".encode())
            log.flush()
            self._proc = self._spawn(log)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise ServerError(
                    f"{self.name} exited with code {code} during start-up "
                    f"(port {self.port}); log {self.log_path}:\n{self.log_tail()}"
                )
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                self._kill_tree()
                raise ServerError(
                    f"{self.name} not ready after {timeout:.0f}s (port {self.port}); "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def _stop_signal(self, mode: str) -> signal.Signals:
        return signal.SIGTERM

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Shut the server down gracefully; SIGKILL it when it does not exit in time."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self._stop_signal(mode))
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_tree()
        self._kill_tree()  # reaps the process and any orphaned children
        self._proc = None

    def kill(self) -> None:
        """Simulate a crash: SIGKILL the server (and its children) without any clean-up."""
        self._kill_tree()
        self._proc = None

    def _kill_tree(self) -> None:
        proc = self._proc
        if proc is None:
            return
        pids = [proc.pid, *_child_pids(proc.pid)] if proc.poll() is None else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        _wait_pids_gone(pids, timeout=10.0)

    def restart(self, timeout: float = 30.0) -> None:
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the server and remove its directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop(mode="immediate", timeout=10.0)
        finally:
            _LIVE.discard(self)
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, max_bytes: int = 4000) -> str:
        return _log_tail(self.log_path, max_bytes)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "closed" if self._closed else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"


# -- PostgreSQL ------------------------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))


def find_postgres_bindir() -> Path:
    """Directory with ``initdb`` and ``postgres``.

    Looks at $POSTGRES_BINDIR, then PATH, then the newest /usr/lib/postgresql/*/bin (Debian).
    """
    candidates: list[Path] = []
    if env := os.environ.get("POSTGRES_BINDIR"):
        candidates.append(Path(env))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    candidates.append(Path("/usr/local/pgsql/bin"))
    for bindir in candidates:
        if all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "postgres")):
            return bindir
    raise ServerError(
        "PostgreSQL server binaries (initdb, postgres) not found: install Debian's "
        "postgresql package or set POSTGRES_BINDIR"
    )


class PostgresServer(_ServerBase):
    """A throwaway PostgreSQL cluster: ``initdb`` + ``postgres`` on 127.0.0.1:<port>.

    Authentication is ``trust`` (local socket and loopback TCP): passwords are accepted but
    not checked. The superuser is ``postgres`` without a password.
    """

    name = "postgres"
    superuser = "postgres"

    def __init__(
        self,
        *,
        port: int | None = None,
        settings: Mapping[str, str] | None = None,
        bindir: str | Path | None = None,
        base_dir: str | None = None,
        start: bool = True,
        timeout: float = 30.0,
    ) -> None:
        """Create the cluster and (unless ``start=False``) start it.

        ``settings`` are added to / override :data:`PG_FAST_SETTINGS`.
        """
        self.bindir = Path(bindir) if bindir is not None else find_postgres_bindir()
        # The server refuses to run as root: then initdb/postgres run as the postgres OS user.
        self._uid: int | None = None
        self._gid: int | None = None
        self._extra_groups: list[int] | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerError("running as root but no 'postgres' OS user exists") from None
            self._uid, self._gid, self._extra_groups = pw.pw_uid, pw.pw_gid, []
            if base_dir is None:
                base_dir = "/tmp"  # reachable by the postgres user whatever $TMPDIR says
        super().__init__(port, base_dir, prefix="pg-test-")
        try:
            self.data_dir: Path = self.dir / "data"
            self.socket_dir: Path = self.dir / "sock"
            self.socket_dir.mkdir()
            if len(str(self.socket_dir / ".s.PGSQL.65535")) > 100:
                raise ServerError(f"socket path too long under {self.dir}: use a shorter base_dir")
            if self._uid is not None and self._gid is not None:
                for path in (self.dir, self.socket_dir):
                    os.chown(path, self._uid, self._gid)
            self._initdb()
            self._write_settings({**PG_FAST_SETTINGS, **(settings or {})})
            if start:
                self.start(timeout)
        except BaseException:
            self.close()
            raise

    def _initdb(self) -> None:
        log_path = self.dir / "initdb.log"
        cmd = [
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self.superuser,
            "--encoding",
            "UTF8",
            "--no-locale",
            "--auth",
            "trust",
            "--no-sync",
            "--no-instructions",
        ]
        with log_path.open("wb") as log:
            proc = subprocess.run(
                cmd,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
                cwd=self.dir,
                env=_clean_env(),
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )
        if proc.returncode != 0:
            raise ServerError(
                f"initdb failed with code {proc.returncode}; log {log_path}:\n{_log_tail(log_path)}"
            )

    def _write_settings(self, settings: Mapping[str, str]) -> None:
        def literal(value: str) -> str:
            return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

        lines = [
            "",
            "# ---- throwaway test server (tests/support/servers.py) ----",
            f"listen_addresses = {literal(LOCALHOST)}",
            f"unix_socket_directories = {literal(str(self.socket_dir))}",
            *(f"{key} = {literal(value)}" for key, value in settings.items()),
            "",
        ]
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n".join(lines))

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        # The port goes on the command line so that a retry on another port needs no rewrite.
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.dir,
            env=_clean_env(),
            user=self._uid,
            group=self._gid,
            extra_groups=self._extra_groups,
        )

    def _is_ready(self) -> bool:
        # postmaster.pid line 8 says "ready" once connections are accepted (what pg_ctl polls).
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[7].strip() != "ready" or lines[0].strip() != str(self.pid):
            return False
        try:
            with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _stop_signal(self, mode: str) -> signal.Signals:
        modes = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
        try:
            return modes[mode]
        except KeyError:
            raise ValueError(f"mode must be one of {sorted(modes)}, not {mode!r}") from None

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Shut down: mode "smart" (SIGTERM), "fast" (SIGINT, default) or "immediate" (SIGQUIT).

        A server that does not exit within ``timeout`` is SIGKILLed.
        """
        self._stop_signal(mode)  # validate before doing anything
        super().stop(mode, timeout)

    # -- connection helpers ------------------------------------------------------------------
    def _conninfo(self, dbname: str) -> str:
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.superuser,
            dbname=dbname,
            sslmode="disable",
        )

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        """libpq URL for the superuser, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def url(self, user: str, password: str | None, dbname: str) -> str:
        """libpq URL for ``user``."""
        return self.sqlalchemy_url(user, password, dbname, driver=None)

    def sqlalchemy_url(
        self, user: str, password: str | None, dbname: str, driver: str | None = "asyncpg"
    ) -> str:
        """E.g. ``postgresql+asyncpg://user:pw@127.0.0.1:5432/db``; ``driver=None`` omits it."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A sync autocommit psycopg connection as the superuser (close it yourself)."""
        return psycopg.connect(self._conninfo(dbname), autocommit=True, connect_timeout=10)

    def execute(self, query: QueryNoTemplate, dbname: str = "postgres") -> None:
        """Run one statement as the superuser in autocommit mode."""
        with self.connect(dbname) as conn:
            conn.execute(query)

    def create_role(
        self, name: str, password: str | None = None, login: bool = True, superuser: bool = False
    ) -> None:
        options: list[sql.Composable] = [sql.SQL("LOGIN" if login else "NOLOGIN")]
        if superuser:
            options.append(sql.SQL("SUPERUSER"))
        if password is not None:
            options.append(sql.SQL("PASSWORD {}").format(sql.Literal(password)))
        self.execute(
            sql.SQL("CREATE ROLE {} WITH {}").format(
                sql.Identifier(name), sql.SQL(" ").join(options)
            )
        )

    def create_database(self, name: str, owner: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        if owner is not None:
            query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting its sessions."""
        self.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def postgres_server(
    *,
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
    bindir: str | Path | None = None,
    base_dir: str | None = None,
    timeout: float = 30.0,
) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, closed (and its directory removed) on exit."""
    server = PostgresServer(
        port=port, settings=settings, bindir=bindir, base_dir=base_dir, timeout=timeout
    )
    try:
        yield server
    finally:
        server.close()


# -- Redis -----------------------------------------------------------------------------------


def find_redis_server() -> Path:
    """Path of ``redis-server`` (PATH, then /usr/bin, /usr/local/bin)."""
    found = shutil.which("redis-server")
    candidates = [Path(found)] if found else []
    candidates += [Path("/usr/bin/redis-server"), Path("/usr/local/bin/redis-server")]
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise ServerError(
        "redis-server not found on PATH nor in /usr/bin: install Debian's redis-server package "
        "(apt-get install redis-server; `make test` does it when run as root or with sudo)"
    )


def redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING with PONG (raw RESP over a socket)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(_ServerBase):
    """A throwaway Redis without persistence on 127.0.0.1:<port>."""

    name = "redis"

    def __init__(
        self,
        *,
        port: int | None = None,
        executable: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
        base_dir: str | None = None,
        start: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.executable = Path(executable) if executable is not None else find_redis_server()
        self.extra_args = extra_args
        super().__init__(port, base_dir, prefix="redis-test-")
        try:
            if start:
                self.start(timeout)
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return self.db_url(0)

    def db_url(self, db: int) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        cmd = [
            str(self.executable),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--loglevel",
            "warning",
            *self.extra_args,
        ]
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )

    def _is_ready(self) -> bool:
        return redis_ping(self.host, self.port)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Shut down with SIGTERM (``mode`` is ignored); SIGKILL after ``timeout``."""
        super().stop(mode, timeout)


@contextlib.contextmanager
def redis_server(
    *,
    port: int | None = None,
    executable: str | Path | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, closed (and its directory removed) on exit."""
    server = RedisServer(port=port, executable=executable, extra_args=extra_args, timeout=timeout)
    try:
        yield server
    finally:
        server.close()


def stop_peer(proc: subprocess.Popen[bytes]) -> None:
    """Stop a peer started in its own session with pipes: its stdin closes (a peer that
    watches it exits by itself), then SIGTERM to the group, SIGKILL after 10 s."""
    with contextlib.suppress(OSError):
        assert proc.stdin is not None
        proc.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


@atexit.register
def _close_all() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()


# -- self-check ------------------------------------------------------------------------------


def _selfcheck() -> None:
    def check(pg: PostgresServer, redis: RedisServer, label: str) -> None:
        with pg.connect() as conn:
            row = conn.execute("SELECT version()").fetchone()
        assert row is not None
        assert redis_ping(redis.host, redis.port), "redis did not answer PING"
        print(f"  {label}: {str(row[0]).split(',')[0]} | redis PONG on {redis.port}")

    t0 = time.perf_counter()
    with postgres_server() as pg:
        t_pg = time.perf_counter() - t0
        t1 = time.perf_counter()
        with redis_server() as redis:
            t_redis = time.perf_counter() - t1
            print(f"postgres initdb+start {t_pg:.2f}s on {pg.port} ({pg.dir})")
            print(f"redis start {t_redis:.2f}s on {redis.port} ({redis.dir})")
            check(pg, redis, "first start")

            pg.create_role("app", "s3cr'et")
            pg.create_database("app db", owner="app")
            with psycopg.connect(pg.url("app", "s3cr'et", "app db")) as conn:
                conn.execute("CREATE TABLE t (id int)")
                conn.execute("INSERT INTO t VALUES (1)")
            print("  role/database ok:", pg.sqlalchemy_url("app", "s3cr'et", "app db"))

            t = time.perf_counter()
            pg.restart()
            redis.restart()
            print(f"restart (graceful) {time.perf_counter() - t:.2f}s")
            check(pg, redis, "after restart")

            old_pids = (pg.pid, redis.pid)
            t = time.perf_counter()
            pg.kill()
            redis.kill()
            assert not pg.running and not redis.running
            assert not redis_ping(redis.host, redis.port)
            pg.start()
            redis.start()
            assert (pg.pid, redis.pid) != old_pids
            print(f"kill -9 + start (crash recovery) {time.perf_counter() - t:.2f}s")
            check(pg, redis, "after kill")
            with psycopg.connect(pg.url("app", "x", "app db")) as conn:
                assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
            dirs = (pg.dir, redis.dir)
    assert not any(d.exists() for d in dirs), "temporary directories left behind"
    print(f"ok: stopped and cleaned up in {time.perf_counter() - t0:.2f}s total")


if __name__ == "__main__":
    _selfcheck()
