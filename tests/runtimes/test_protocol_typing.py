"""Seed 000's acceptance criteria, checked by mypy itself on small snippet files.

An LLM-only runtime and a provider-only flow type-check without the methods they do
not use; handing an LLM-only runtime to code that needs embeddings is a type error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SNIPPETS = {
    "llm_only.py": """
        from collections.abc import Iterator

        from runtimes.protocols import ChatChunk, ChatRequest, ChatResponse, LLMRuntime


        class EchoLLM:
            \"\"\"Chat and nothing else: no embed, rerank, moderate, transcribe, synthesize.\"\"\"

            def chat(self, request: ChatRequest) -> ChatResponse:
                return ChatResponse(body={}, upstream=b"", passthrough=True)

            def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
                yield ChatChunk(sse=b"data: [DONE]\\n\\n", upstream=b"", done=True)


        def ask(runtime: LLMRuntime) -> str:
            return runtime.chat(ChatRequest.of([{"role": "user", "content": "hi"}])).content


        ask(EchoLLM())
    """,
    "provider_only.py": """
        from typing import Any

        from runtimes.protocols import CredentialCheck, ProviderRuntime, Reachability, ServedModel


        class Catalogue:
            \"\"\"A provider with no invocation methods at all.\"\"\"

            def check_reachable(self) -> Reachability:
                return Reachability(True)

            def list_models(self) -> list[ServedModel]:
                return [ServedModel("m")]

            def validate_credentials(self) -> CredentialCheck:
                return CredentialCheck(True)

            def config_schema(self) -> dict[str, Any]:
                return {}


        def discover(provider: ProviderRuntime) -> list[str]:
            if not provider.validate_credentials().valid:
                return []
            return [model.name for model in provider.list_models()]


        discover(Catalogue())
    """,
    "real_adapters.py": """
        from runtimes.adapters.llama_cpp import LlamaCppAdapter
        from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter
        from runtimes.adapters.tei import TEIAdapter
        from runtimes.binding import RuntimeBinding
        from runtimes.protocols import (
            AsyncLLMRuntime,
            LLMRuntime,
            ManagedRuntime,
            ProviderRuntime,
            RerankRuntime,
            TextEmbeddingRuntime,
        )

        binding = RuntimeBinding(kind="x", model="m", base_url="http://127.0.0.1:1")
        llm: LLMRuntime = LlamaCppAdapter(binding)
        streaming: AsyncLLMRuntime = OpenAICompatibleAdapter(binding)
        managed: ManagedRuntime = TEIAdapter(binding)
        embedder: TextEmbeddingRuntime = TEIAdapter(binding)
        reranker: RerankRuntime = TEIAdapter(binding)
        llama_reranker: RerankRuntime = LlamaCppAdapter(binding)
        provider: ProviderRuntime = OpenAICompatibleAdapter(binding)
    """,
    "misuse.py": """
        from runtimes.adapters.ollama import OllamaAdapter
        from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter
        from runtimes.adapters.tei import TEIAdapter
        from runtimes.binding import RuntimeBinding
        from runtimes.protocols import (
            EmbeddingRequest,
            LLMRuntime,
            ManagedRuntime,
            RerankRuntime,
            TextEmbeddingRuntime,
        )

        from llm_only import EchoLLM


        def embed_all(runtime: TextEmbeddingRuntime) -> int:
            return runtime.embed(EmbeddingRequest(inputs=["a"])).dimension


        binding = RuntimeBinding(kind="x", model="m", base_url="http://127.0.0.1:1")
        embed_all(EchoLLM())  # expect-error
        reranker: RerankRuntime = OllamaAdapter(binding)  # expect-error
        lifecycle: ManagedRuntime = OpenAICompatibleAdapter(binding)  # expect-error
        chat: LLMRuntime = TEIAdapter(binding)  # expect-error
    """,
}


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[int]]:
    """Run mypy --strict once over every snippet; errors by file name -> line numbers."""
    workdir = tmp_path_factory.mktemp("typing")
    for name, source in SNIPPETS.items():
        (workdir / name).write_text(textwrap.dedent(source).lstrip())
    (workdir / "mypy.ini").write_text(
        "[mypy]\nstrict = True\nfollow_imports = silent\ncache_dir = .mypy_cache\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *SNIPPETS],
        cwd=workdir,
        env={**os.environ, "MYPYPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors: dict[str, set[int]] = {}
    for match in re.finditer(r"^(\S+\.py):(\d+): error:", result.stdout, re.MULTILINE):
        errors.setdefault(match.group(1), set()).add(int(match.group(2)))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return errors


def expected_lines(name: str) -> set[int]:
    lines = textwrap.dedent(SNIPPETS[name]).lstrip().splitlines()
    return {i for i, line in enumerate(lines, start=1) if "# expect-error" in line}


def test_an_llm_only_runtime_type_checks_without_other_capability_methods(
    mypy_errors: dict[str, set[int]],
) -> None:
    assert "llm_only.py" not in mypy_errors


def test_a_provider_only_flow_type_checks_without_invocation_methods(
    mypy_errors: dict[str, set[int]],
) -> None:
    assert "provider_only.py" not in mypy_errors


def test_the_real_adapters_satisfy_the_protocols_they_claim(mypy_errors: dict[str, set[int]]) -> None:
    assert "real_adapters.py" not in mypy_errors


def test_using_a_runtime_for_a_capability_it_lacks_is_a_type_error(
    mypy_errors: dict[str, set[int]],
) -> None:
    assert mypy_errors.get("misuse.py") == expected_lines("misuse.py")
