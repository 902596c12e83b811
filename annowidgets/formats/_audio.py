"""How long an audio file is, read from its header through fsspec (for ASR manifests).

WAV is read with the standard library's ``wave``; other containers (MP3, FLAC, OGG, M4A…)
with ``mutagen`` when it is installed (optional: ``pip install annowidgets[audio]``).
"""
from __future__ import annotations

import wave

from ..core.io import open_url


def _mutagen_length(f) -> float | None:
    try:
        import mutagen
    except ImportError:
        return None
    try:
        f.seek(0)
        audio = mutagen.File(f)
    except (mutagen.MutagenError, OSError, ValueError):
        return None
    length = getattr(getattr(audio, "info", None), "length", None)
    return float(length) if length else None


def audio_duration(url: str) -> float | None:
    """Seconds of audio at ``url``, or None if it cannot be opened or measured."""
    try:
        with open_url(url, "rb") as f:
            try:
                with wave.open(f, "rb") as w:
                    rate = w.getframerate()
                    return w.getnframes() / rate if rate else None
            except (wave.Error, EOFError):
                return _mutagen_length(f)
    except (OSError, ValueError):
        return None
