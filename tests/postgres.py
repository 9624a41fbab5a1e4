"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data directory, a free port.

initdb refuses to run as root, so as root (CI) the server runs as the `postgres` account that Debian's
package creates; otherwise as the user running the tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

BIN_GLOB = "/usr/lib/postgresql/*/bin"
USER = "awardcycle"  # the superuser initdb creates; trust authentication on loopback, as for a test server
INSTALL = "make postgres (or: apt-get install -y postgresql)"


def bin_dir() -> Path:
    """AWARDCYCLE_TEST_PG_BIN, else the newest of Debian's PostgreSQL versions."""
    if configured := os.environ.get("AWARDCYCLE_TEST_PG_BIN"):
        return Path(configured)
    found = sorted(Path("/").glob(BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if not found or not (found[-1] / "pg_ctl").is_file():
        raise RuntimeError(f"no PostgreSQL server binaries under {BIN_GLOB}; install them with: {INSTALL}")
    return found[-1]


def _scratch_dir() -> Path:
    # As root, under /tmp: the `postgres` account must reach it, which it may not through root's own TMPDIR.
    return Path(tempfile.mkdtemp(prefix="awardcycle-pg-", dir="/tmp" if os.geteuid() == 0 else None))


@dataclass
class PostgresServer:
    port: int
    root: Path = field(default_factory=_scratch_dir)
    bin: Path = field(default_factory=bin_dir)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")  # KeyError: the package that creates it is missing
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        # Durability off: a test server that loses its data on a crash loses nothing anyone needs.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "start")  # fmt: skip

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')  # a generated name; identifiers cannot be bound parameters
        return self.url(name)
