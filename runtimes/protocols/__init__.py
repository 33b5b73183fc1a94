"""Runtime protocols: one narrow ``typing.Protocol`` per concern, no Django imports.

Depend on the narrowest protocol you use: a caller that only chats takes an
``LLMRuntime``; the lifecycle takes a ``ManagedRuntime``; discovery takes a
``ProviderRuntime``. Adapters implement exactly the protocols their runtime serves.
"""

from runtimes.protocols.common import Usage
from runtimes.protocols.embedding import (
    CAPABILITY as TEXT_EMBEDDING,
)
from runtimes.protocols.embedding import (
    EmbeddingRequest,
    EmbeddingResponse,
    TextEmbeddingRuntime,
)
from runtimes.protocols.llm import CAPABILITY as LLM
from runtimes.protocols.llm import (
    AsyncLLMRuntime,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    LLMRuntime,
)
from runtimes.protocols.managed import (
    HealthReport,
    HealthState,
    ManagedRuntime,
    RunningTarget,
    RuntimeMetadata,
)
from runtimes.protocols.moderation import CAPABILITY as MODERATION
from runtimes.protocols.moderation import (
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    ModerationRuntime,
)
from runtimes.protocols.provider import (
    CredentialCheck,
    ProviderRuntime,
    Reachability,
    ServedModel,
)
from runtimes.protocols.rerank import CAPABILITY as RERANK
from runtimes.protocols.rerank import RerankRequest, RerankResponse, RerankResult, RerankRuntime
from runtimes.protocols.speech_to_text import CAPABILITY as SPEECH_TO_TEXT
from runtimes.protocols.speech_to_text import (
    SpeechToTextRuntime,
    TranscriptionRequest,
    TranscriptionResponse,
)
from runtimes.protocols.tts import CAPABILITY as TTS
from runtimes.protocols.tts import SpeechRequest, SpeechResponse, TTSRuntime

CAPABILITY_PROTOCOLS: tuple[tuple[str, type], ...] = (
    (LLM, LLMRuntime),
    (TEXT_EMBEDDING, TextEmbeddingRuntime),
    (RERANK, RerankRuntime),
    (SPEECH_TO_TEXT, SpeechToTextRuntime),
    (TTS, TTSRuntime),
    (MODERATION, ModerationRuntime),
)
"""Every capability name with the protocol that serves it; the registry derives from this."""

__all__ = [
    "CAPABILITY_PROTOCOLS",
    "LLM",
    "MODERATION",
    "RERANK",
    "SPEECH_TO_TEXT",
    "TEXT_EMBEDDING",
    "TTS",
    "AsyncLLMRuntime",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "CredentialCheck",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "HealthReport",
    "HealthState",
    "LLMRuntime",
    "ManagedRuntime",
    "ModerationRequest",
    "ModerationResponse",
    "ModerationResult",
    "ModerationRuntime",
    "ProviderRuntime",
    "Reachability",
    "RerankRequest",
    "RerankResponse",
    "RerankResult",
    "RerankRuntime",
    "RunningTarget",
    "RuntimeMetadata",
    "ServedModel",
    "SpeechRequest",
    "SpeechResponse",
    "SpeechToTextRuntime",
    "TTSRuntime",
    "TextEmbeddingRuntime",
    "TranscriptionRequest",
    "TranscriptionResponse",
    "Usage",
]
