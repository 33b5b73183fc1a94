"""Start, watch and stop runtime processes the hub launches itself.

A launched process gets a free port on 127.0.0.1, its own process group (so stopping
it stops its children too) and a log file. What we know about it is a small
serializable ``ProcessHandle``; the launcher also keeps the handles in a JSON state
file so that a restarted hub can re-adopt what is still running or clean it up. A pid
alone is not proof of identity (pids are recycled), so every check also compares the
process start time recorded at launch.

Before spawning, the launcher checks the executable against its allow-list and builds
the child's environment from scratch (``runtimes.launch_policy``): a process never
inherits the hub's settings or secrets, and no argument passes through a shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from runtimes.errors import (
    ExecutableNotFound,
    HealthCheckFailed,
    LaunchRefused,
    ModelFileNotFound,
    SpawnFailed,
)
from runtimes.launch_policy import default_allowed_executables, executable_problem, minimal_env
from runtimes.protocols.managed import ProcessHandle

DEFAULT_DIR = Path("var/runtimes")
LOCALHOST = "127.0.0.1"

ListenArgs = Callable[[str, int], Sequence[str]]
"""The flags that make a runtime listen on (host, port), e.g. ``--host H --port P``."""


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on right now (the runtime binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid``, or None if there is no such live process.

    Zombies count as gone: they hold a pid but serve nothing.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses; split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


class Launcher:
    """Launches runtime processes and remembers them in ``state_dir/processes.json``.

    Safe to use from several processes on one host: state file updates hold a lock.
    ``allowed_executables`` is the allow-list of ``command[0]`` (names or absolute
    paths); the default is ``launch_policy.default_allowed_executables()``.
    """

    def __init__(
        self, base_dir: Path | str | None = None, *, allowed_executables: Iterable[str] | None = None
    ) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else DEFAULT_DIR
        self.allowed_executables = tuple(
            default_allowed_executables() if allowed_executables is None else allowed_executables
        )
        self.log_dir = self.base_dir / "logs"
        self.state_path = self.base_dir / "processes.json"
        # Children we spawned in this process, so stopping them also reaps them.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(
        self,
        key: str,
        command: Sequence[str],
        *,
        listen_args: ListenArgs,
        env: dict[str, str] | None = None,
        host: str = LOCALHOST,
        model_file_flags: Sequence[str] = (),
    ) -> ProcessHandle:
        """Start ``command`` plus its listen flags on a free port; do not wait for it.

        ``key`` names the process in the state file (e.g. the asset id); starting a
        key that is already alive raises ``SpawnFailed`` rather than starting twice.
        What no retry can fix raises a non-retryable ``SpawnFailed``: ``LaunchRefused``
        (executable not on the allow-list), ``ModelFileNotFound`` (the value of one of
        ``model_file_flags``, e.g. llama-server's ``-m``, is not a file on this host;
        checked before spawning) and ``ExecutableNotFound`` (no such executable, not on
        ``PATH``, or not executable). The process sees only ``minimal_env(env)``, never
        the hub's environment.
        """
        problem = executable_problem(command, self.allowed_executables)
        if problem is not None:
            raise LaunchRefused(f"{key}: {problem}")
        model_file = model_file_argument(command, model_file_flags)
        if model_file is not None and not Path(model_file).is_file():
            raise ModelFileNotFound(f"model file not found: {model_file}")
        existing = self.recorded().get(key)
        if existing is not None and self.is_alive(existing):
            raise SpawnFailed(f"{key}: already running as pid {existing.pid}")
        port = free_port(host)
        argv = [*command, *listen_args(host, port)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(key)
        with log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {argv}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=minimal_env(env or {}),
                    shell=False,  # an argv list, never a shell command line
                    start_new_session=True,  # own process group: stop kills the whole tree
                )
            except FileNotFoundError as exc:  # no such file, or not on the PATH it was given
                raise ExecutableNotFound(f"executable not found: {argv[0]}") from exc
            except PermissionError as exc:  # exists but is not executable (or is a directory)
                raise ExecutableNotFound(f"executable cannot be run: {argv[0]}: {exc.strerror}") from exc
            except OSError as exc:  # e.g. out of memory or processes: may pass next time
                raise SpawnFailed(f"{key}: cannot start {argv[0]}: {exc}") from exc
        self._children[proc.pid] = proc
        handle = ProcessHandle(
            key=key,
            pid=proc.pid,
            start_time=process_start_time(proc.pid),
            port=port,
            base_url=f"http://{host}:{port}",
            log_path=str(log_path),
            command=tuple(argv),
        )
        self._record(handle)
        return handle

    def wait_ready(
        self,
        handle: ProcessHandle,
        probe: Callable[[], bool],
        *,
        timeout_s: float,
        initial_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
    ) -> None:
        """Poll ``probe`` with exponential backoff until it returns true.

        Raises ``SpawnFailed`` (with the log's tail) if the process exits first, or
        ``HealthCheckFailed`` if it is not ready within ``timeout_s``; in both cases
        the process is stopped before raising.
        """
        deadline = time.monotonic() + timeout_s
        delay = initial_delay_s
        while True:
            if not self.is_alive(handle):
                self.stop(handle)
                raise SpawnFailed(
                    f"{handle.key}: process exited while starting; log tail:\n" + self.log_tail(handle)
                )
            if probe():
                return
            if time.monotonic() >= deadline:
                self.stop(handle)
                raise HealthCheckFailed(f"{handle.key}: not ready after {timeout_s:g}s")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, max_delay_s)

    def is_alive(self, handle: ProcessHandle) -> bool:
        """True if the handle's process still runs (same pid *and* same start time)."""
        self._reap(handle.pid)
        started = process_start_time(handle.pid)
        if started is None:
            return False
        return handle.start_time is None or started == handle.start_time

    def stop(self, handle: ProcessHandle, *, grace_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; forget the handle.

        Idempotent, and never signals a recycled pid that is not ours.
        """
        if self.is_alive(handle):
            _signal_group(handle.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.is_alive(handle) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.is_alive(handle):
                _signal_group(handle.pid, signal.SIGKILL)
                while self.is_alive(handle):
                    time.sleep(0.02)
        self._children.pop(handle.pid, None)
        self._forget(handle)

    def recorded(self) -> dict[str, ProcessHandle]:
        """Every handle in the state file, alive or not, by key."""
        with self._locked():
            return self._read()

    def recover(self, keep: Callable[[ProcessHandle], bool] | None = None) -> list[ProcessHandle]:
        """After a hub restart: re-adopt live processes, clean up the rest.

        Dead entries are dropped; live ones that ``keep`` rejects are stopped; the
        live ones kept are returned for their adapters to adopt (pass each to the
        adapter as ``handle=``).
        """
        adopted: list[ProcessHandle] = []
        for handle in self.recorded().values():
            if not self.is_alive(handle):
                self._forget(handle)
            elif keep is None or keep(handle):
                adopted.append(handle)
            else:
                self.stop(handle)
        return adopted

    def log_path(self, key: str) -> Path:
        """Where the process started for ``key`` writes its output (kept after it stops)."""
        return self.log_dir / f"{_safe(key)}.log"

    def log_tail(self, handle: ProcessHandle, lines: int = 20) -> str:
        try:
            text = Path(handle.log_path).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _reap(self, pid: int) -> None:
        proc = self._children.get(pid)
        if proc is not None:
            proc.poll()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        with (self.base_dir / "processes.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, ProcessHandle]:
        try:
            raw = json.loads(self.state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {key: ProcessHandle.from_dict(value) for key, value in raw.items()}

    def _write(self, handles: dict[str, ProcessHandle]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: h.to_dict() for k, h in handles.items()}, indent=2))
        tmp.replace(self.state_path)

    def _record(self, handle: ProcessHandle) -> None:
        with self._locked():
            handles = self._read()
            handles[handle.key] = handle
            self._write(handles)

    def _forget(self, handle: ProcessHandle) -> None:
        with self._locked():
            handles = self._read()
            recorded = handles.get(handle.key)
            # Only our own entry: the key may already name a newer process.
            if recorded is not None and recorded.pid == handle.pid:
                del handles[handle.key]
                self._write(handles)


def tail_lines(path: Path, lines: int, *, max_bytes: int = 64 * 1024) -> list[str] | None:
    """The last ``lines`` lines of ``path``, reading at most its last ``max_bytes``; None if absent."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - max_bytes))
            data = file.read()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None
    text = data.decode("utf-8", errors="replace").splitlines()
    if len(data) == max_bytes and size > max_bytes:
        text = text[1:]  # the first line was cut in the middle
    return text[-lines:] if lines > 0 else []


def model_file_argument(command: Sequence[str], flags: Sequence[str]) -> str | None:
    """The value of the last of ``flags`` in ``command`` (``-m X`` or ``--model=X``), or None.

    The last one wins, as in llama-server; earlier ones may belong to a wrapper (``python -m``).
    """
    found: str | None = None
    for index, arg in enumerate(command[1:], start=1):
        if arg in flags and index + 1 < len(command):
            found = command[index + 1]
        elif "=" in arg and arg.split("=", 1)[0] in flags and arg.startswith("--"):
            found = arg.split("=", 1)[1]
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or "runtime"
