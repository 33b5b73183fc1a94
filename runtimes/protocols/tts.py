"""``TTSRuntime``: text in, audio out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

CAPABILITY: Final = "tts"


@dataclass(frozen=True)
class SpeechRequest:
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0


@dataclass(frozen=True)
class SpeechResponse:
    audio: bytes
    content_type: str


@runtime_checkable
class TTSRuntime(Protocol):
    """Synthesize speech with one model."""

    def synthesize(self, request: SpeechRequest) -> SpeechResponse:
        """Render the whole input as audio in ``response_format``.

        Raises ``ModelNotFound``, ``ModelLoading``, ``RuntimeBusy``, ``InvalidRequest``
        (unknown voice or format), ``RuntimeTimeout`` or ``UpstreamError``.
        """
        ...
