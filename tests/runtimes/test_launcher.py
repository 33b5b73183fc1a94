"""The launcher against real child processes: fakes run with ``python -m tests.fakes.<name>``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtimes.adapters.llama_cpp import LlamaCppAdapter
from runtimes.binding import LaunchSpec, RuntimeBinding
from runtimes.errors import (
    ExecutableNotFound,
    HealthCheckFailed,
    LaunchRefused,
    ModelFileNotFound,
    SpawnFailed,
)
from runtimes.launcher import Launcher, process_start_time
from runtimes.protocols import ChatRequest, LLMRuntime, ManagedRuntime
from runtimes.protocols.managed import ProcessHandle
from runtimes.registry import make_adapter

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(REPO)}
FAKE_COMMANDS = {
    "llama-cpp": ["-m", "tests.fakes.llama_cpp", "-m", "{model_file}", "--embeddings"],
    "vllm": ["-m", "tests.fakes.vllm", "serve", "org/chat-model"],
    "tei": ["-m", "tests.fakes.tei", "--model-id", "BAAI/bge-small"],
}
MODELS = {"llama-cpp": "model.gguf", "vllm": "org/chat-model", "tei": "BAAI/bge-small"}


def gone(pid: int) -> bool:
    return process_start_time(pid) is None


def no_listen_args(host: str, port: int) -> list[str]:
    return []


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path / "runtimes", allowed_executables=[sys.executable])
    yield launcher
    for handle in launcher.recorded().values():  # never leave a child behind a failed test
        launcher.stop(handle, grace_s=1)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


def launch_binding(kind: str, model_file: Path, *extra: str, timeout: float = 60) -> RuntimeBinding:
    args = [a.format(model_file=model_file) for a in FAKE_COMMANDS[kind]]
    launch = LaunchSpec(command=(sys.executable, *args, *extra), env=ENV, ready_timeout_s=timeout)
    return RuntimeBinding(kind=kind, model=MODELS[kind], launch=launch)


@pytest.mark.parametrize("kind", list(FAKE_COMMANDS))
def test_it_starts_a_runtime_as_a_child_process_waits_for_it_and_stops_it(
    kind: str, launcher: Launcher, model_file: Path
) -> None:
    adapter = make_adapter(launch_binding(kind, model_file, "--load-time", "0.3"), launcher=launcher)
    assert isinstance(adapter, ManagedRuntime)

    target = adapter.ensure_running()

    assert target.just_started
    assert target.handle is not None
    assert target.base_url == target.handle.base_url.rstrip("/")
    assert adapter.is_ready()
    assert Path(target.handle.log_path).is_file()
    assert launcher.recorded()[target.handle.key] == target.handle
    assert not adapter.ensure_running().just_started  # idempotent

    adapter.stop()

    assert gone(target.handle.pid)
    assert launcher.recorded() == {}
    adapter.stop()  # idempotent


def test_the_launched_runtime_serves_chat(launcher: Launcher, model_file: Path) -> None:
    adapter = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=launcher)
    adapter.ensure_running()
    try:
        assert isinstance(adapter, LLMRuntime)
        response = adapter.chat(ChatRequest.of([{"role": "user", "content": "hi"}], max_tokens=2))
        assert response.usage is not None
        assert [c.done for c in adapter.chat_stream(ChatRequest.of([{"role": "user", "content": "x"}]))][-1]
    finally:
        adapter.stop()


def test_the_launcher_adds_the_kinds_listen_flags(launcher: Launcher, model_file: Path) -> None:
    adapter = make_adapter(launch_binding("tei", model_file), launcher=launcher)
    target = adapter.ensure_running()  # type: ignore[attr-defined]
    adapter.stop()  # type: ignore[attr-defined]

    command = target.handle.command
    assert command[-4:] == ("--hostname", "127.0.0.1", "--port", str(target.handle.port))


def test_a_process_exiting_while_starting_is_spawn_failed_with_its_log(launcher: Launcher) -> None:
    handle = launcher.start(
        "dies",
        [sys.executable, "-c", "import sys; print('bad flag --nope', flush=True); sys.exit(3)"],
        listen_args=no_listen_args,
    )

    with pytest.raises(SpawnFailed, match="bad flag --nope") as raised:
        launcher.wait_ready(handle, lambda: False, timeout_s=60)
    assert raised.value.retryable  # a crash while starting may not happen again
    assert launcher.recorded() == {}


def test_a_missing_executable_is_a_permanent_spawn_failure_naming_it(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path / "runtimes", allowed_executables=["/nonexistent/llama-server"])
    with pytest.raises(ExecutableNotFound) as raised:
        launcher.start("nothing", ["/nonexistent/llama-server"], listen_args=no_listen_args)
    assert isinstance(raised.value, SpawnFailed)
    assert not raised.value.retryable
    assert raised.value.message == "executable not found: /nonexistent/llama-server"
    assert launcher.recorded() == {}


def test_an_executable_not_on_the_path_is_a_permanent_spawn_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # the launched process's PATH: no vllm there
    launcher = Launcher(tmp_path / "runtimes", allowed_executables=["vllm"])
    with pytest.raises(ExecutableNotFound) as raised:
        launcher.start("nothing", ["vllm", "serve", "x"], listen_args=no_listen_args)
    assert raised.value.message == "executable not found: vllm"
    assert not raised.value.retryable


def test_an_executable_without_execute_permission_is_a_permanent_spawn_failure(tmp_path: Path) -> None:
    script = tmp_path / "llama-server"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    launcher = Launcher(tmp_path / "runtimes", allowed_executables=[str(script)])
    with pytest.raises(ExecutableNotFound, match="cannot be run") as raised:
        launcher.start("noexec", [str(script)], listen_args=no_listen_args)
    assert not raised.value.retryable


@pytest.mark.parametrize("model_args", [["-m", "{path}"], ["--model", "{path}"], ["--model={path}"]])
def test_a_missing_model_file_is_a_permanent_spawn_failure_before_spawning(
    launcher: Launcher, tmp_path: Path, model_args: list[str]
) -> None:
    marker = tmp_path / "ran"
    absent = tmp_path / "absent.gguf"
    args = [a.format(path=absent) for a in model_args]
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w')", *args]

    with pytest.raises(ModelFileNotFound) as raised:
        launcher.start("nomodel", command, listen_args=no_listen_args, model_file_flags=("-m", "--model"))

    assert isinstance(raised.value, SpawnFailed)
    assert not raised.value.retryable
    assert raised.value.message == f"model file not found: {absent}"
    assert not marker.exists()  # nothing was spawned
    assert launcher.recorded() == {}


def test_the_llama_cpp_adapter_declares_its_model_flags_so_a_missing_gguf_fails_its_launch(
    launcher: Launcher, tmp_path: Path
) -> None:
    adapter = LlamaCppAdapter(launch_binding("llama-cpp", tmp_path / "absent.gguf"), launcher=launcher)

    with pytest.raises(ModelFileNotFound) as raised:
        adapter.ensure_running()
    assert raised.value.http_status == 404
    assert raised.value.message == f"model file not found: {tmp_path / 'absent.gguf'}"
    assert launcher.recorded() == {}


def test_an_existing_model_file_is_launched(launcher: Launcher, model_file: Path) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(60)", "--model", str(model_file)]

    handle = launcher.start(
        "withmodel", command, listen_args=no_listen_args, model_file_flags=("-m", "--model")
    )

    assert launcher.is_alive(handle)
    launcher.stop(handle, grace_s=1)


def test_model_file_flags_of_other_kinds_are_not_checked(launcher: Launcher) -> None:
    # vLLM's and TEI's model arguments may name a hub repository: no flag declared, no check.
    command = [sys.executable, "-c", "import time; time.sleep(60)", "--model", "org/not-a-file"]

    handle = launcher.start("repo", command, listen_args=no_listen_args)

    assert launcher.is_alive(handle)
    launcher.stop(handle, grace_s=1)


def test_a_runtime_not_ready_in_time_fails_its_health_check_and_is_stopped(
    launcher: Launcher, model_file: Path
) -> None:
    binding = launch_binding("llama-cpp", model_file, "--load-time", "600", timeout=0.5)
    adapter = LlamaCppAdapter(binding, launcher=launcher)

    with pytest.raises(HealthCheckFailed):
        adapter.ensure_running()

    assert adapter.handle is not None
    assert gone(adapter.handle.pid)
    assert launcher.recorded() == {}


def test_a_restarted_hub_re_adopts_a_live_runtime(tmp_path: Path, model_file: Path) -> None:
    first = Launcher(tmp_path / "runtimes", allowed_executables=[sys.executable])
    started = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=first).ensure_running()
    assert started.handle is not None

    second = Launcher(
        tmp_path / "runtimes", allowed_executables=[sys.executable]
    )  # what a restarted hub builds
    adopted = second.recover()
    adapter = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=second, handle=adopted[0])
    try:
        assert adopted == [started.handle]
        assert not adapter.ensure_running().just_started
    finally:
        adapter.stop()
    assert gone(started.handle.pid)


def test_recover_stops_live_runtimes_the_hub_no_longer_wants(tmp_path: Path, model_file: Path) -> None:
    first = Launcher(tmp_path / "runtimes", allowed_executables=[sys.executable])
    started = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=first).ensure_running()
    assert started.handle is not None

    adopted = Launcher(tmp_path / "runtimes", allowed_executables=[sys.executable]).recover(
        keep=lambda handle: False
    )

    assert adopted == []
    assert gone(started.handle.pid)
    assert first.recorded() == {}


def test_a_recycled_pid_is_not_mistaken_for_our_process(launcher: Launcher) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start_time(stranger.pid)
        assert started is not None
        recycled = ProcessHandle(
            key="old",
            pid=stranger.pid,
            start_time=started + 1,  # the pid we recorded belonged to an earlier process
            port=1,
            base_url="http://127.0.0.1:1",
            log_path="/dev/null",
            command=("llama-server",),
        )
        launcher.base_dir.mkdir(parents=True, exist_ok=True)
        launcher.state_path.write_text(json.dumps({"old": recycled.to_dict()}))

        assert not launcher.is_alive(recycled)
        assert launcher.recover() == []
        launcher.stop(recycled, grace_s=0.1)

        assert stranger.poll() is None  # untouched
        assert launcher.recorded() == {}
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_kills_a_process_that_ignores_sigterm_and_its_children(launcher: Launcher) -> None:
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    handle = launcher.start("stubborn", [sys.executable, "-c", script], listen_args=no_listen_args)
    child_pid = None
    deadline = time.monotonic() + 30
    while child_pid is None and time.monotonic() < deadline:
        for line in Path(handle.log_path).read_text().splitlines():
            if line.startswith("child "):
                child_pid = int(line.split()[1])
        time.sleep(0.05)
    assert child_pid is not None

    launcher.stop(handle, grace_s=0.3)

    assert gone(handle.pid)
    deadline = time.monotonic() + 10
    while not gone(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the orphaned child is reaped by init, not by us
    assert gone(child_pid)


def test_a_handle_round_trips_through_json() -> None:
    handle = ProcessHandle("a", os.getpid(), 5, 8080, "http://127.0.0.1:8080", "/tmp/x.log", ("x", "-m"))

    assert ProcessHandle.from_dict(json.loads(json.dumps(handle.to_dict()))) == handle


def test_a_second_adapter_adopts_the_process_the_first_started(launcher: Launcher, model_file: Path) -> None:
    first = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=launcher, key="asset-1")
    started = first.ensure_running()
    second = LlamaCppAdapter(launch_binding("llama-cpp", model_file), launcher=launcher, key="asset-1")

    target = second.ensure_running()

    assert not target.just_started
    assert target.handle == started.handle
    second.stop()
    assert started.handle is not None
    assert gone(started.handle.pid)


DUMP_ENV = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


def test_a_launched_process_sees_only_path_home_locale_and_its_own_env(
    launcher: Launcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "SECRET_KEY": "hub-secret",
        "DATABASE_URL": "postgresql://app:pw@db/hub",
        "REDIS_URL": "redis://cache:6379/0",
        "HUB_RUNTIME_SECRET_OPENAI_API_KEY": "sk-upstream",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "HOME": "/home/hub",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    }.items():
        monkeypatch.setenv(name, value)
    dump = tmp_path / "env.json"

    handle = launcher.start(
        "env-dump",
        [sys.executable, "-c", DUMP_ENV, str(dump)],
        listen_args=no_listen_args,
        env={"CUDA_VISIBLE_DEVICES": "1"},
    )
    deadline = time.monotonic() + 30
    while launcher.is_alive(handle) and time.monotonic() < deadline:
        time.sleep(0.02)
    launcher.stop(handle)

    seen = json.loads(dump.read_text())
    assert seen == {
        "PATH": os.environ["PATH"],
        "HOME": "/home/hub",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "CUDA_VISIBLE_DEVICES": "1",
    }


@pytest.mark.parametrize(
    "command",
    [
        ["/bin/sh", "-c", "touch {marker}"],
        ["sh", "-c", "touch {marker}"],
        ["bash", "-c", "touch {marker}"],
        ["/usr/bin/env", "touch", "{marker}"],
        ["/tmp/elsewhere/vllm", "{marker}"],  # a path is not the listed name
    ],
)
def test_the_launcher_refuses_an_executable_not_on_its_allow_list(tmp_path: Path, command: list[str]) -> None:
    marker = tmp_path / "ran"
    launcher = Launcher(tmp_path / "runtimes", allowed_executables=["vllm", sys.executable])

    with pytest.raises(LaunchRefused, match="not an allowed executable") as raised:
        launcher.start("shell", [c.format(marker=marker) for c in command], listen_args=no_listen_args)
    assert isinstance(raised.value, SpawnFailed)
    assert not raised.value.retryable
    assert not marker.exists()
    assert launcher.recorded() == {}


def test_a_listed_executable_gets_its_arguments_verbatim_with_no_shell(
    launcher: Launcher, tmp_path: Path
) -> None:
    dump = tmp_path / "argv.json"
    script = "import json, sys; json.dump(sys.argv[1:], open(sys.argv[1], 'w'))"
    handle = launcher.start(
        "argv",
        [sys.executable, "-c", script, str(dump), "$HOME", "; touch x", "`id`"],
        listen_args=no_listen_args,
    )
    deadline = time.monotonic() + 30
    while launcher.is_alive(handle) and time.monotonic() < deadline:
        time.sleep(0.02)
    launcher.stop(handle)

    assert json.loads(dump.read_text()) == [str(dump), "$HOME", "; touch x", "`id`"]
