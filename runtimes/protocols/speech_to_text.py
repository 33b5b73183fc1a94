"""``SpeechToTextRuntime``: audio in, text out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

CAPABILITY: Final = "speech_to_text"


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: bytes
    filename: str = "audio.wav"
    content_type: str = "audio/wav"
    language: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class TranscriptionResponse:
    text: str
    language: str | None = None
    duration_s: float | None = None


@runtime_checkable
class SpeechToTextRuntime(Protocol):
    """Transcribe speech with one model."""

    def transcribe(self, request: TranscriptionRequest) -> TranscriptionResponse:
        """Transcribe the whole clip.

        Raises ``ModelNotFound``, ``ModelLoading``, ``RuntimeBusy``, ``InvalidRequest``
        (unreadable audio), ``RuntimeTimeout`` or ``UpstreamError``.
        """
        ...
