"""Launch a real redis-server for the edge buffer, with a generated config.

Append-only file on with appendfsync always (a window counts as stored only once it is on disk;
sync.redis_appendfsync), RDB snapshots off (the AOF is the
record), bound to loopback only, data in the given directory. Used by the tests and by
`storelens demo`; a production box runs Debian's redis-server with the same settings.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from devkit.servers.process import free_port, stop_process, wait_for_port

log = logging.getLogger(__name__)


def render_config(*, port: int, data_dir: Path, appendfsync: str, password: str | None) -> str:
    lines = [
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f"dir {data_dir}",
        "appendonly yes",
        "appendfilename storelens.aof",
        f"appendfsync {appendfsync}",
        'save ""',
        "daemonize no",
        "loglevel notice",
        f"logfile {data_dir / 'redis.log'}",
        # The buffer bounds itself; Redis must never evict a window on its own.
        "maxmemory-policy noeviction",
    ]
    if password:
        lines.append(f"requirepass {password}")
    return "\n".join(lines) + "\n"


class RedisServer:
    """A redis-server child process; restartable on the same data dir (the AOF survives)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, appendfsync: str = "always",
                 password: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "redis.conf"
        conf.write_text(render_config(port=self.port, data_dir=self.data_dir,
                                      appendfsync=self.appendfsync, password=self.password))
        conf.chmod(0o600)  # holds requirepass
        self.proc = subprocess.Popen(["redis-server", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, self.data_dir / "redis.log")
        log.info("redis-server on 127.0.0.1:%s (AOF %s) in %s", self.port, self.appendfsync, self.data_dir)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a power cut would: only what the AOF fsynced survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
