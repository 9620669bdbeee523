"""A throw-away PostgreSQL server for the shared-study tests, started from Debian's binaries.

``make test`` installs ``postgresql`` with apt-get where it is missing; this module finds the
binaries (``/usr/lib/postgresql/<v>/bin`` or ``PATH``), runs ``initdb`` in a temporary folder,
starts the server on 127.0.0.1 at a free port (Unix socket in the same folder) and stops it at the
end. PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "find_bin", "start_server"]

START_TIMEOUT_S = 30.0


def find_bin() -> Path | None:
    """The folder that holds ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is absent."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server; ``url`` is a SQLAlchemy URL of its ``sharenas`` database."""

    bindir: Path
    datadir: Path
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/sharenas"

    def stop(self) -> None:
        """Stops the server (fast shutdown) and removes its folder."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"], check=False)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=START_TIMEOUT_S)


def start_server() -> PgServer:
    """Initialises and starts a server; raises ``RuntimeError`` saying why when it cannot.

    Raises:
        RuntimeError: PostgreSQL is not installed, or initdb/start failed (with its output).
    """
    bindir = find_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb); `make test` installs it with apt-get")
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, user=user)
    server = PgServer(bindir, root / "data", _free_port(), user)
    try:
        server._run([str(bindir / "initdb"), "-D", str(server.datadir), "-A", "trust", "-U", user, "--no-sync"])
        opts = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -c fsync=off"
        server._run([str(bindir / "pg_ctl"), "-D", str(server.datadir), "-o", opts, "-w", "-t", "30",
                     "-l", str(root / "log"), "start"])
        server._run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", user, "sharenas"])
    except (subprocess.SubprocessError, OSError) as e:
        out = getattr(e, "stderr", "") or ""
        server.stop()
        raise RuntimeError(f"PostgreSQL could not start: {e} {out.strip()[-300:]}") from e
    _wait_ready(server)
    return server


def _wait_ready(server: PgServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", server.port)) == 0:
                return
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"PostgreSQL did not accept connections on port {server.port} in {START_TIMEOUT_S:.0f} s")
