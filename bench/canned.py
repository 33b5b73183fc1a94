"""A canned llama-server for the gateway bench: nginx (Debian's ``nginx-light``) answering
``POST /v1/chat/completions`` with a fixed body, in one process.

The Python fake (``tests.fakes.llama_cpp``) spends 100-200 us of CPU per request and serves
~5,000 requests/s here: beside a proxy that serves a few thousand, it would be part of what is
measured. nginx serves tens of thousands, so direct throughput can reach 10x the proxied one.

Two ports, since nginx answers without reading the body: ``json_port`` answers a chat
completion, ``sse_port`` the same as a stream (the chunks llama-server sends, with
``[DONE]``). Both answer ``GET /health``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

MODEL = "bench.gguf"
_ID, _CREATED = "chatcmpl-bench", 1796222829

ANSWER = {
    "id": _ID,
    "created": _CREATED,
    "model": MODEL,
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "tok0 tok1 tok2 tok3 "},
            "finish_reason": "length",
        }
    ],
    "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8},
}


def _chunk(delta: dict[str, str], finish: str | None = None) -> str:
    event = {
        "id": _ID,
        "created": _CREATED,
        "model": MODEL,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(event)}\n\n"


STREAM = (
    _chunk({"role": "assistant"})
    + "".join(_chunk({"content": f"tok{i} "}) for i in range(4))
    + _chunk({}, "length")
    + "data: [DONE]\n\n"
)


def _quoted(text: str) -> str:
    """An nginx string literal: single-quoted, with its escapes (``\\n``); no variables."""
    if "$" in text:
        raise ValueError("nginx would read $ as a variable")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def config(workdir: Path, json_port: int, sse_port: int) -> str:
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    health = 'location = /health { default_type application/json; return 200 \'{"status": "ok"}\'; }'

    def server(port: int, content_type: str, body: str) -> str:
        chat = (
            f"location = /v1/chat/completions {{ default_type {content_type}; return 200 {_quoted(body)}; }}"
        )
        return f"  server {{\n    listen 127.0.0.1:{port};\n    {chat}\n    {health}\n  }}\n"

    return (
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"error_log {workdir / 'error.log'} warn;\npid {workdir / 'nginx.pid'};\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"  access_log off;\n  {temp}\n"
        "  keepalive_requests 100000000;\n  keepalive_timeout 120s;\n"
        + server(json_port, "application/json", json.dumps(ANSWER))
        + server(sse_port, "text/event-stream", STREAM)
        + "}\n"
    )


def available() -> bool:
    return shutil.which("nginx") is not None


def start(json_port: int, sse_port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """nginx in the foreground, one process (its pid is the one whose CPU counts); the
    folder holding its config and error log, for :func:`stop`."""
    nginx = shutil.which("nginx")
    if nginx is None:
        raise RuntimeError("nginx is not on PATH (apt-get install nginx-light)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    conf = workdir / "nginx.conf"
    conf.write_text(config(workdir, json_port, sse_port))
    args = [nginx, "-q", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")]
    return subprocess.Popen(args), workdir
