"""``additional_formats``: the transcript as SRT, plain text, segmented JSON, HTML, DOCX or PDF.

Requests are ``ExportOptions`` objects (discriminated by ``format``) with the spec's defaults: speakers and
timestamps included (SRT: speakers off), no segmentation limits except SRT's 0.8 s silence / 4 s / 84
characters, and lines of 100 (TXT) or 42 (SRT) characters. An explicit ``null`` switches a limit off. The
results are ``AdditionalFormatResponseModel`` items; DOCX and PDF come base64-encoded.

Every format segments the words the same way (:func:`segment_words`): a new segment starts when the speaker
changes, after a silence longer than ``segment_on_silence_longer_than_s``, and before the segment would run
past ``max_segment_duration_s`` or ``max_segment_chars`` (SRT also keeps each cue to two lines of
``max_characters_per_line``). Segments never split a word. Output is deterministic: the same body and options
always give the same bytes (DOCX entries carry a fixed date, the PDF no creation date).

Choices where the spec is silent: speakers are shown by their ``speaker_id`` (``speaker_0: ...``), times as
``HH:MM:SS.mmm``; SRT always has timestamps (the format needs them) and, for transcripts without word times
(``timestamps_granularity=none``), spreads the words over the audio in proportion to their length; the
segmented JSON document is ``{"language_code", "transcription_id", "audio_duration_secs", "segments": [{text,
start, end, speaker, words}]}`` with times and speakers left out when their option is off.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from chorus.errors import BadRequest


def _split(text: str) -> list[str]:
    """Whitespace-separated words (a function so the word lists stay readable strings)."""
    return text.split()


FORMATS = ("segmented_json", "docx", "pdf", "txt", "html", "srt")
MAX_FORMATS = 10  # AdditionalFormats maxItems
FILE_EXTENSIONS = {
    "segmented_json": "json",
    "docx": "docx",
    "pdf": "pdf",
    "txt": "txt",
    "html": "html",
    "srt": "srt",
}
CONTENT_TYPES = {
    "segmented_json": "application/json",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "html": "text/html",
    "srt": "text/srt",
}
_BINARY = frozenset({"docx", "pdf"})


@dataclass(frozen=True)
class ExportRequest:
    """One validated ``ExportOptions`` object. ``None`` limits are off; ``max_characters_per_line`` only
    applies to ``txt`` and ``srt``."""

    format: str
    include_speakers: bool = True
    include_timestamps: bool = True
    segment_on_silence_longer_than_s: float | None = None
    max_segment_duration_s: float | None = None
    max_segment_chars: int | None = None
    max_characters_per_line: int | None = None


_DEFAULTS: dict[str, dict[str, Any]] = {
    "srt": {
        "include_speakers": False,
        "segment_on_silence_longer_than_s": 0.8,
        "max_segment_duration_s": 4.0,
        "max_segment_chars": 84,
        "max_characters_per_line": 42,
    },
    "txt": {"max_characters_per_line": 100},
}
# The JS SDK serialises the options object as written by the caller, so camelCase keys arrive too.
_CAMEL = {
    "includeSpeakers": "include_speakers",
    "includeTimestamps": "include_timestamps",
    "segmentOnSilenceLongerThanS": "segment_on_silence_longer_than_s",
    "maxSegmentDurationS": "max_segment_duration_s",
    "maxSegmentChars": "max_segment_chars",
    "maxCharactersPerLine": "max_characters_per_line",
}


def _bad(message: str) -> BadRequest:
    return BadRequest(message, status="invalid_additional_formats")


def parse_additional_formats(raw: str | bytes | Sequence[Any] | None) -> list[ExportRequest]:
    """Validated export requests from the ``additional_formats`` form value.

    Accepts what clients send: one JSON array of ``ExportOptions`` (the Python SDK sends it as a part with
    content type ``application/json``; ``null`` when unset), a single JSON object, repeated fields each
    holding an object or an array, or already-decoded lists of dicts. Anything malformed is a 400
    ``invalid_additional_formats`` saying what is wrong. Unknown keys are ignored, as the API's schema does.
    """
    options = _decode(raw)
    if len(options) > MAX_FORMATS:
        raise _bad(f"additional_formats takes at most {MAX_FORMATS} formats, got {len(options)}.")
    return [_option(value, k) for k, value in enumerate(options)]


def _decode(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        text = raw.strip()
        if text in ("", "null"):
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(f"additional_formats is not valid JSON ({exc.msg} at character {exc.pos}).") from None
        return _decode(value) if isinstance(value, list | dict) or value is None else [value]
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list | tuple):
        out: list[Any] = []
        for item in raw:
            if isinstance(item, str | bytes):
                out.extend(_decode(item))
            elif item is not None:
                out.append(item)
        return out
    return [raw]


def _option(value: Any, index: int) -> ExportRequest:
    where = f"additional_formats[{index}]"
    if not isinstance(value, dict):
        raise _bad(f'{where} must be an object like {{"format": "srt"}}, got {type(value).__name__}.')
    fields = {_CAMEL.get(k, k): v for k, v in value.items()}
    fmt = fields.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise _bad(f"{where}.format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    settings: dict[str, Any] = {"format": fmt, **_DEFAULTS.get(fmt, {})}
    for name in ("include_speakers", "include_timestamps"):
        if fields.get(name) is not None:
            settings[name] = _boolean(fields[name], f"{where}.{name}")
    for name in ("segment_on_silence_longer_than_s", "max_segment_duration_s"):
        if name in fields:
            settings[name] = _number(fields[name], f"{where}.{name}", integer=False)
    names = ["max_segment_chars"] + (["max_characters_per_line"] if fmt in ("txt", "srt") else [])
    for name in names:
        if name in fields:
            settings[name] = _number(fields[name], f"{where}.{name}", integer=True)
    return ExportRequest(**settings)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad(f"{where} must be true or false, got {value!r}.")


def _number(value: Any, where: str, *, integer: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{where} must be a {'whole ' if integer else ''}number or null, got {value!r}.")
    if integer:
        if value != int(value):
            raise _bad(f"{where} must be a whole number, got {value!r}.")
        if value < 1:
            raise _bad(f"{where} must be at least 1, got {value!r}.")
        return int(value)
    if value <= 0:
        raise _bad(f"{where} must be greater than 0, got {value!r}.")
    return float(value)


# ------------------------------------------------------------------------------------------- segmentation


@dataclass(frozen=True)
class Segment:
    """A stretch of consecutive words: its text (spacing as transcribed), times, speaker and word items."""

    text: str
    start: float | None
    end: float | None
    speaker: str | None
    words: tuple[dict[str, Any], ...]


def speaker_prefix(speaker: str | None) -> str:
    return f"{speaker}: " if speaker else ""


def wrap(text: str, width: int | None, measure: Callable[[str], float] = len) -> list[str]:
    """Greedy word wrap to ``width`` (measured by ``measure``); a word wider than a line gets a line of its
    own rather than being broken."""
    words = text.split()
    if not words:
        return []
    if width is None:
        return [" ".join(words)]
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if current and measure(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def segment_words(
    words: Sequence[dict[str, Any]],
    *,
    silence_s: float | None = None,
    max_duration_s: float | None = None,
    max_chars: int | None = None,
    line_width: int | None = None,
    max_lines: int | None = None,
    speakers_in_text: bool = False,
) -> list[Segment]:
    """Split response ``words`` (word, spacing and audio_event items) into segments: on a speaker change, on
    a silence longer than ``silence_s``, and before a segment would last longer than ``max_duration_s``, hold
    more than ``max_chars`` characters, or wrap into more than ``max_lines`` lines of ``line_width`` (counting
    the ``speaker_0: `` prefix when ``speakers_in_text``). A single word always fits."""
    segments: list[Segment] = []
    current: list[dict[str, Any]] = []
    text = ""
    pending = ""  # spacing seen since the last word
    saw_spacing = False

    def flush() -> None:
        nonlocal current, text
        if current:
            segments.append(
                Segment(
                    text=text.strip(),
                    start=_time(current[0].get("start")),
                    end=_time(current[-1].get("end")),
                    speaker=current[0].get("speaker_id"),
                    words=tuple(current),
                )
            )
        current, text = [], ""

    for item in words:
        kind = item.get("type", "word")
        piece = str(item.get("text") or "")
        if kind == "spacing":
            pending += piece
            saw_spacing = True
            continue
        if not piece.strip():
            continue
        if current:
            joiner = pending
            if not saw_spacing and (kind == "audio_event" or current[-1].get("type") == "audio_event"):
                joiner = " "  # events often come without spacing items around them
            candidate = text + joiner + piece
            if _should_split(
                current, item, candidate.strip(), silence_s, max_duration_s, max_chars, line_width, max_lines,
                speakers_in_text,
            ):  # fmt: skip
                flush()
                text = piece
            else:
                text = candidate
        else:
            text = piece
        current.append(item)
        pending, saw_spacing = "", False
    flush()
    return segments


def _should_split(
    current: list[dict[str, Any]],
    item: dict[str, Any],
    candidate: str,
    silence_s: float | None,
    max_duration_s: float | None,
    max_chars: int | None,
    line_width: int | None,
    max_lines: int | None,
    speakers_in_text: bool,
) -> bool:
    if item.get("speaker_id") != current[0].get("speaker_id"):
        return True
    start, prev_end, seg_start = (
        _time(item.get("start")),
        _time(current[-1].get("end")),
        _time(current[0].get("start")),
    )
    end = _time(item.get("end"))
    if silence_s is not None and start is not None and prev_end is not None and start - prev_end > silence_s:
        return True
    if (
        max_duration_s is not None
        and end is not None
        and seg_start is not None
        and end - seg_start > max_duration_s
    ):
        return True
    if max_chars is not None and len(candidate) > max_chars:
        return True
    if line_width is not None and max_lines is not None:
        prefix = speaker_prefix(current[0].get("speaker_id")) if speakers_in_text else ""
        if len(wrap(prefix + candidate, line_width)) > max_lines:
            return True
    return False


def _time(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _estimate_times(words: Sequence[dict[str, Any]], duration: float) -> list[dict[str, Any]]:
    """Words without times (``timestamps_granularity=none``) spread over the audio by their length."""
    total = sum(len(str(w.get("text") or "")) for w in words) or 1
    out, pos = [], 0
    for w in words:
        size = len(str(w.get("text") or ""))
        start = duration * pos / total
        pos += size
        out.append({**w, "start": round(start, 3), "end": round(duration * pos / total, 3)})
    return out


def _segments(body: dict[str, Any], request: ExportRequest, *, srt: bool = False) -> list[Segment]:
    words = list(body.get("words") or [])
    if srt and any(_time(w.get("start")) is None or _time(w.get("end")) is None for w in words):
        duration = _time(body.get("audio_duration_secs")) or 0.06 * len(str(body.get("text") or ""))
        words = _estimate_times(words, duration)
    segments = segment_words(
        words,
        silence_s=request.segment_on_silence_longer_than_s,
        max_duration_s=request.max_segment_duration_s,
        max_chars=request.max_segment_chars,
        line_width=request.max_characters_per_line if srt else None,
        max_lines=2 if srt else None,
        speakers_in_text=srt and request.include_speakers,
    )
    text = str(body.get("text") or "").strip()
    if not segments and text:  # a transcript without word items still exports its text
        end = _time(body.get("audio_duration_secs"))
        segments = [Segment(text, 0.0 if srt or end is not None else None, end, None, ())]
    return segments


# ----------------------------------------------------------------------------------------------- renderers


def render_exports(body: dict[str, Any], requests: Sequence[ExportRequest]) -> list[dict[str, Any]]:
    """``AdditionalFormatResponseModel`` items, one per request, in request order."""
    out = []
    for request in requests:
        content = _RENDERERS[request.format](body, request)
        binary = request.format in _BINARY
        out.append(
            {
                "requested_format": request.format,
                "file_extension": FILE_EXTENSIONS[request.format],
                "content_type": CONTENT_TYPES[request.format],
                "is_base64_encoded": binary,
                "content": base64.b64encode(content).decode("ascii") if binary else content,
            }
        )
    return out


def _clock(seconds: float, separator: str = ".") -> str:
    ms = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _header(segment: Segment, request: ExportRequest) -> tuple[str, str]:
    """(timestamp text, speaker text) for a segment, empty when not wanted or not known."""
    stamp = ""
    if request.include_timestamps and segment.start is not None and segment.end is not None:
        stamp = f"[{_clock(segment.start)} - {_clock(segment.end)}]"
    speaker = f"{segment.speaker}:" if request.include_speakers and segment.speaker else ""
    return stamp, speaker


def _paragraph(segment: Segment, request: ExportRequest) -> str:
    return " ".join(part for part in (*_header(segment, request), segment.text) if part)


def render_srt(body: dict[str, Any], request: ExportRequest) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, at most two lines each. Cue times never go
    backwards and every cue lasts at least a millisecond."""
    cues = []
    previous_end = 0.0
    for index, segment in enumerate(_segments(body, request, srt=True), start=1):
        start = max(segment.start or 0.0, previous_end)
        end = max(segment.end if segment.end is not None else start, start + 0.001)
        previous_end = end
        prefix = speaker_prefix(segment.speaker) if request.include_speakers else ""
        lines = wrap(prefix + segment.text, request.max_characters_per_line)
        cues.append(f"{index}\n{_clock(start, ',')} --> {_clock(end, ',')}\n" + "\n".join(lines))
    return "\n\n".join(cues) + ("\n" if cues else "")


def render_txt(body: dict[str, Any], request: ExportRequest) -> str:
    """Plain text: a paragraph per segment (``[start - end] speaker_0: text``), wrapped; blank lines
    between."""
    paragraphs = [
        "\n".join(wrap(_paragraph(seg, request), request.max_characters_per_line))
        for seg in _segments(body, request)
    ]
    return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")


def render_segmented_json(body: dict[str, Any], request: ExportRequest) -> str:
    segments = []
    for seg in _segments(body, request):
        entry: dict[str, Any] = {"text": seg.text}
        if request.include_timestamps:
            entry["start"], entry["end"] = seg.start, seg.end
        if request.include_speakers:
            entry["speaker"] = seg.speaker
        items = []
        for w in seg.words:
            item: dict[str, Any] = {"text": w.get("text"), "type": w.get("type", "word")}
            if request.include_timestamps:
                item["start"], item["end"] = w.get("start"), w.get("end")
            if request.include_speakers:
                item["speaker_id"] = w.get("speaker_id")
            item["logprob"] = w.get("logprob")
            items.append(item)
        entry["words"] = items
        segments.append(entry)
    document = {
        "language_code": body.get("language_code"),
        "transcription_id": body.get("transcription_id"),
        "audio_duration_secs": body.get("audio_duration_secs"),
        "segments": segments,
    }
    return json.dumps(document, ensure_ascii=False)


def _html_lang(code: Any) -> str:
    from chorus.stt.base import _ISO3

    two = {v: k for k, v in _ISO3.items()}
    return two.get(str(code or ""), str(code or "und"))


_HTML_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:48rem;"
    "margin:2rem auto;padding:0 1rem;line-height:1.55;color:#1a1a1a}"
    "h1{font-size:1.5rem}.segment{margin:0 0 1em}"
    ".timestamp{color:#666;font-variant-numeric:tabular-nums;margin-right:.5em}"
    ".speaker{font-weight:600;margin-right:.5em}"
)


def render_html(body: dict[str, Any], request: ExportRequest) -> str:
    """A self-contained HTML5 document (inline CSS, no scripts); every piece of transcript text is escaped."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(_html_lang(body.get("language_code")))}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Transcript</title>",
        f"<style>{_HTML_STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>Transcript</h1>",
    ]
    for seg in _segments(body, request):
        stamp, speaker = _header(seg, request)
        attrs = ""
        if stamp:
            attrs = f' data-start="{seg.start:.3f}" data-end="{seg.end:.3f}"'
        inner = ""
        if stamp:
            inner += f'<span class="timestamp">{html.escape(stamp)}</span> '
        if speaker:
            inner += f'<span class="speaker">{html.escape(speaker)}</span> '
        inner += html.escape(seg.text)
        parts.append(f'<p class="segment"{attrs}>{inner}</p>')
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------- DOCX

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/>'
    "</Relationships>"
)


def _xml_text(text: str) -> str:
    return xml_escape(_XML_INVALID.sub("", text))


def _run(text: str, props: str = "") -> str:
    rpr = f"<w:rPr>{props}</w:rPr>" if props else ""
    return f'<w:r>{rpr}<w:t xml:space="preserve">{_xml_text(text)}</w:t></w:r>'


def render_docx(body: dict[str, Any], request: ExportRequest) -> bytes:
    """A minimal Office Open XML word-processing package: a title, then one paragraph per segment with the
    timestamp in grey and the speaker in bold. Fixed zip entry dates keep it byte-for-byte reproducible."""
    title = _run("Transcript", '<w:b/><w:sz w:val="32"/>')
    paragraphs = [f"<w:p>{title}</w:p>"]
    for seg in _segments(body, request):
        stamp, speaker = _header(seg, request)
        runs = ""
        if stamp:
            runs += _run(stamp + " ", '<w:color w:val="666666"/>')
        if speaker:
            runs += _run(speaker + " ", "<w:b/>")
        runs += _run(seg.text)
        paragraphs.append(f"<w:p>{runs}</w:p>")
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{_W}"><w:body>'
        + "".join(paragraphs)
        + '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/>'
        '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="708" w:footer="708" '
        'w:gutter="0"/></w:sectPr></w:body></w:document>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            ("[Content_Types].xml", _CONTENT_TYPES_XML),
            ("_rels/.rels", _RELS_XML),
            ("word/document.xml", document),
        ):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data.encode("utf-8"))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------- PDF

# Helvetica advance widths (1/1000 em) for WinAnsiEncoding bytes 32-255, from Adobe's core-font metrics
# (Helvetica.afm); 0 marks bytes WinAnsi leaves undefined.
_HELVETICA_WIDTHS = tuple(
    int(w)
    for w in _split(
        "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 "
        "556 556 556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 "
        "278 500 667 556 833 722 778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 "
        "469 556 333 556 556 500 556 556 278 556 556 222 222 500 222 833 556 556 556 556 333 "
        "500 278 556 500 722 500 500 500 334 260 334 584 0 556 0 222 556 333 1000 556 556 "
        "333 1000 667 333 1000 0 611 0 0 222 222 333 333 350 556 1000 333 1000 500 333 944 0 "
        "500 667 278 333 556 556 556 556 260 556 333 737 370 556 584 333 737 333 400 584 333 "
        "333 333 556 537 278 333 333 365 556 834 834 834 611 667 667 667 667 667 667 1000 "
        "722 667 667 667 667 278 278 278 278 722 722 778 778 778 778 778 584 778 722 722 722 "
        "722 667 667 611 556 556 556 556 556 556 889 500 556 556 556 556 278 278 278 278 556 "
        "556 556 556 556 556 556 584 611 556 556 556 556 500 556 500"
    )
)
_PAGE_W, _PAGE_H = 595, 842  # A4 in points
_MARGIN = 56
_BODY_SIZE, _TITLE_SIZE = 11, 16


@cache
def _winansi_char(ch: str) -> bytes:
    if ch in "\t\n\r" or ord(ch) < 32:
        return b" "
    try:
        byte = ch.encode("cp1252")
    except UnicodeEncodeError:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            byte = base.encode("cp1252") if base else b"?"
        except UnicodeEncodeError:
            byte = b"?"
    if any(b == 127 or _HELVETICA_WIDTHS[b - 32] == 0 for b in byte if b >= 32):
        byte = b"?"
    return byte


def to_winansi(text: str) -> bytes:
    """``text`` in the PDF's WinAnsiEncoding: accents decomposed when the accented letter is missing, other
    characters outside the encoding shown as ``?``, control characters as spaces."""
    return b"".join(_winansi_char(ch) for ch in text)


@cache
def _char_width(ch: str) -> int:
    return sum(_HELVETICA_WIDTHS[b - 32] for b in _winansi_char(ch) if b >= 32)


def text_width(text: str, size: float) -> float:
    """The width in points of ``text`` set in Helvetica at ``size``."""
    return sum(_char_width(ch) for ch in text) * size / 1000


def _pdf_string(data: bytes) -> str:
    out = []
    for b in data:
        if b in (0x28, 0x29, 0x5C):  # ( ) \
            out.append("\\" + chr(b))
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return "(" + "".join(out) + ")"


def _pdf_wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap by measured Helvetica widths; a word wider than the line is broken between
    characters. Each word is measured once, so long transcripts wrap in linear time."""
    limit = width * 1000 / size  # in font units
    space = _char_width(" ")
    lines: list[str] = []
    current, used = "", 0.0
    for word in text.split():
        w = sum(_char_width(ch) for ch in word)
        if current and used + space + w <= limit:
            current, used = f"{current} {word}", used + space + w
            continue
        if current:
            lines.append(current)
        current, used = "", 0.0
        while w > limit and len(word) > 1:  # break an over-long word
            cut, part = 0, 0.0
            while cut < len(word) - 1 and part + _char_width(word[cut]) <= limit:
                part += _char_width(word[cut])
                cut += 1
            cut = max(cut, 1)
            lines.append(word[:cut])
            word = word[cut:]
            w = sum(_char_width(ch) for ch in word)
        current, used = word, w
    if current:
        lines.append(current)
    return lines


def render_pdf(body: dict[str, Any], request: ExportRequest) -> bytes:
    """A PDF 1.4 file written by hand: Helvetica (a standard font, so nothing is embedded), A4 pages, text
    wrapped by measured widths, as many pages as needed, uncompressed content streams, a correct xref."""
    width = _PAGE_W - 2 * _MARGIN
    lines: list[tuple[float, str]] = [(_TITLE_SIZE, "Transcript"), (_BODY_SIZE, "")]
    for seg in _segments(body, request):
        lines += [(_BODY_SIZE, line) for line in _pdf_wrap(_paragraph(seg, request), _BODY_SIZE, width)]
        lines.append((_BODY_SIZE, ""))
    pages: list[list[str]] = [[]]
    y = _PAGE_H - _MARGIN
    for size, line in lines:
        leading = size * 1.35
        if y - leading < _MARGIN and pages[-1]:
            pages.append([])
            y = _PAGE_H - _MARGIN
        y -= leading
        if line:
            pages[-1].append(
                f"BT /F1 {size:g} Tf 1 0 0 1 {_MARGIN} {y:.2f} Tm {_pdf_string(to_winansi(line))} Tj ET"
            )
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in once the page objects are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (Transcript) /Producer (Chorus) >>",
    ]
    kids = []
    for content in pages:
        stream = ("\n".join(content) + "\n").encode("latin-1")
        page_number = len(objects) + 1
        kids.append(f"{page_number} 0 R")
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_W} {_PAGE_H}] "
                f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_number + 1} 0 R >>"
            ).encode("ascii")
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode("ascii")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


_RENDERERS: dict[str, Callable[[dict[str, Any], ExportRequest], Any]] = {
    "srt": render_srt,
    "txt": render_txt,
    "segmented_json": render_segmented_json,
    "html": render_html,
    "docx": render_docx,
    "pdf": render_pdf,
}
