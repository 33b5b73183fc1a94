"""Runtime kind -> adapter class, and what each kind can do.

Capabilities are not listed here: they are read off each adapter class, by checking
which capability protocols it implements. Adding a kind is adding its class to
``_ADAPTERS``; adding a capability is adding its protocol to
``runtimes.protocols.CAPABILITY_PROTOCOLS``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from runtimes.adapters._http import HttpAdapter
from runtimes.adapters.llama_cpp import LlamaCppAdapter
from runtimes.adapters.ollama import OllamaAdapter
from runtimes.adapters.openai_compatible import OpenAICompatibleAdapter
from runtimes.adapters.tei import TEIAdapter
from runtimes.adapters.vllm import VLLMAdapter
from runtimes.binding import RuntimeBinding
from runtimes.protocols import CAPABILITY_PROTOCOLS, ManagedRuntime, ProviderRuntime

_ADAPTERS: dict[str, type[HttpAdapter]] = {
    cls.kind: cls
    for cls in (
        OllamaAdapter,
        VLLMAdapter,
        TEIAdapter,
        LlamaCppAdapter,
        OpenAICompatibleAdapter,
    )
}


def runtime_kinds() -> tuple[str, ...]:
    return tuple(_ADAPTERS)


def adapter_class(kind: str) -> type[HttpAdapter]:
    """The adapter class for ``kind``; ``KeyError`` for an unknown kind."""
    return _ADAPTERS[kind]


def capabilities_of_class(cls: type) -> frozenset[str]:
    """Capability names whose protocol ``cls`` implements (checked structurally)."""
    return frozenset(name for name, protocol in CAPABILITY_PROTOCOLS if issubclass(cls, protocol))


@functools.cache  # kinds are fixed; a structural check is slow (the gateway asks per request)
def capabilities_of(kind: str) -> frozenset[str]:
    """Capability names the kind's adapter implements; ``KeyError`` for an unknown kind."""
    return capabilities_of_class(adapter_class(kind))


def is_managed(kind: str) -> bool:
    """True if the hub can start/load and stop/unload models of this kind."""
    return issubclass(adapter_class(kind), ManagedRuntime)


def is_provider(kind: str) -> bool:
    return issubclass(adapter_class(kind), ProviderRuntime)


def is_launchable(kind: str) -> bool:
    """True if the hub can start this kind as a process (``runtime.launch``)."""
    return adapter_class(kind).launchable


def accepts_api_key(kind: str) -> bool:
    """True if assets of this kind may name an upstream key (``runtime.api_key_env`` / ``_file``)."""
    return adapter_class(kind).accepts_api_key


def config_model(kind: str) -> type[BaseModel]:
    """The pydantic model of the ``runtime`` block ``kind`` accepts (its fields, with descriptions);
    ``KeyError`` for an unknown kind."""
    return adapter_class(kind).config_model


def make_adapter(binding: RuntimeBinding, **options: Any) -> HttpAdapter:
    """A new adapter for ``binding``; ``options`` go to the constructor (e.g. ``launcher=``,
    ``handle=``, ``key=`` for launchable kinds; ``secrets=`` for kinds that
    ``accepts_api_key``). ``KeyError`` for an unknown kind.

    Narrow the result to the protocol you need with ``isinstance``, e.g.
    ``isinstance(adapter, LLMRuntime)``.
    """
    factory: Callable[..., HttpAdapter] = adapter_class(binding.kind)
    return factory(binding, **options)
