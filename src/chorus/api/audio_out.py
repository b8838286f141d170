"""Encoding a synthesis job's PCM into the client's format (the one place encoding happens)."""

from __future__ import annotations

from contextlib import aclosing

from chorus.audio.encode import StreamEncoder
from chorus.audio.formats import OutputFormat
from chorus.services.alignment import CharAlignment
from chorus.services.tts import SynthesisJob


async def render_whole(job: SynthesisJob, fmt: OutputFormat) -> tuple[bytes, CharAlignment, CharAlignment]:
    """Run ``job`` to the end; return the encoded audio and the alignments. Refunds on failure."""
    encoder = StreamEncoder(job.pcm_format, fmt)
    parts: list[bytes] = []
    alignment, normalized = CharAlignment(), CharAlignment()
    try:
        async with aclosing(job.chunks(encoder.feed)) as chunks:
            async for chunk, data in chunks:
                parts.append(data)
                alignment.extend(chunk.alignment)
                normalized.extend(chunk.normalized_alignment)
        parts.append(encoder.flush())
    except BaseException:
        await job.abort()
        raise
    return b"".join(parts), alignment, normalized
