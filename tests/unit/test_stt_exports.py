"""``additional_formats``: parsing the options as the SDKs send them, and reading back every format produced
(SRT with a small parser, DOCX unzipped and XML-parsed, PDF checked structurally, HTML with html.parser)."""

from __future__ import annotations

import base64
import html.parser
import io
import json
import re
import zipfile
from xml.etree import ElementTree

import pytest

from chorus.errors import BadRequest
from chorus.services.stt import shape_response
from chorus.stt.base import Transcript, Word
from chorus.stt.exports import (
    ExportRequest,
    parse_additional_formats,
    render_exports,
    segment_words,
    text_width,
)

_PROSE = (
    "the quick brown fox jumps over the lazy dog while the farmer watches from the old wooden gate "
    "and then the rain begins to fall softly across the wide green valley below the silent hills "
    "everyone hurries home before the storm arrives with thunder and bright flashes of lightning "
    "later that evening the family gathers around the warm fire to share stories about the long day"
)
SENTENCES = _PROSE.split()


def long_body(repeat: int = 2, granularity: str = "word") -> dict:
    """Words of 0.3 s with 0.05 s gaps, and a 1.5 s pause after every 15th word."""
    items, t = [], 0.2
    for i, text in enumerate(SENTENCES * repeat):
        items.append(Word(text, round(t, 3), round(t + 0.3, 3), -0.05))
        t += 0.35 + (1.5 if i % 15 == 14 else 0.0)
    transcript = Transcript(" ".join(w.text for w in items), tuple(items), "eng", 0.97, t)
    return shape_response(transcript, granularity, t + 0.5, "tr_long")


def item(text: str, start: float, end: float, speaker: str | None, kind: str = "word") -> dict:
    return {"text": text, "start": start, "end": end, "type": kind, "speaker_id": speaker, "logprob": -0.1}


def diarized_body() -> dict:
    """Two speakers, an audio event without spacing around it, and text that needs escaping."""
    words = [
        item("Hi", 0.12, 0.3, "speaker_0"),
        item(" ", 0.3, 0.34, "speaker_0", "spacing"),
        item("there.", 0.34, 0.7, "speaker_0"),
        item("(laughter)", 0.8, 1.4, "speaker_0", "audio_event"),
        item(" ", 1.4, 2.5, None, "spacing"),
        item("Is", 2.5, 2.7, "speaker_1"),
        item(" ", 2.7, 2.75, "speaker_1", "spacing"),
        item("<you>", 2.75, 3.0, "speaker_1"),
        item(" ", 3.0, 3.05, "speaker_1", "spacing"),
        item("&", 3.05, 3.1, "speaker_1"),
        item(" ", 3.1, 3.15, "speaker_1", "spacing"),
        item("café", 3.15, 3.5, "speaker_1"),
        item(" ", 3.5, 3.55, "speaker_1", "spacing"),
        item("naïve—really?", 3.55, 4.2, "speaker_1"),
        item(" ", 4.2, 4.3, "speaker_1", "spacing"),
        item("☃", 4.3, 4.6, "speaker_1"),
    ]
    return {
        "language_code": "eng",
        "language_probability": 0.98,
        "text": "Hi there. (laughter) Is <you> & café naïve—really? ☃",
        "words": words,
        "channel_index": None,
        "additional_formats": None,
        "transcription_id": "tr_diar",
        "entities": None,
        "audio_duration_secs": 5.0,
    }


def one(body: dict, **options) -> dict:
    [out] = render_exports(body, parse_additional_formats(json.dumps([options])))
    return out


def normalised(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------ parsing


def test_sdk_wire_form_and_defaults():
    from elevenlabs.core.jsonable_encoder import jsonable_encoder
    from elevenlabs.types.export_options import ExportOptions_Srt, ExportOptions_Txt

    # Exactly what the Python SDK puts in its application/json form part.
    raw = json.dumps(jsonable_encoder([ExportOptions_Srt(), ExportOptions_Txt(include_speakers=False)]))
    srt, txt = parse_additional_formats(raw)
    assert srt == ExportRequest("srt", False, True, 0.8, 4.0, 84, 42)
    assert txt == ExportRequest("txt", False, True, None, None, None, 100)
    assert parse_additional_formats('[{"format": "pdf"}]') == [ExportRequest("pdf", True, True)]


def test_other_wire_forms():
    assert parse_additional_formats(None) == []
    assert parse_additional_formats("null") == []
    assert parse_additional_formats("") == []
    assert parse_additional_formats(b'[{"format": "html"}]') == [ExportRequest("html")]
    assert parse_additional_formats('{"format": "docx"}') == [ExportRequest("docx")]  # a bare object
    # Repeated form fields, each an object or an array.
    assert [r.format for r in parse_additional_formats(['{"format": "srt"}', '[{"format": "txt"}]'])] == [
        "srt",
        "txt",
    ]
    # The JS SDK sends the options object as written, in camelCase.
    [req] = parse_additional_formats(
        '[{"format": "srt", "includeSpeakers": true, "maxCharactersPerLine": 30}]'
    )
    assert (req.include_speakers, req.max_characters_per_line, req.max_segment_chars) == (True, 30, 84)
    # An explicit null switches a default limit off; unknown keys are ignored.
    [req] = parse_additional_formats('[{"format": "srt", "max_segment_chars": null, "colour": "red"}]')
    assert req.max_segment_chars is None and req.max_segment_duration_s == 4.0
    # max_characters_per_line only exists for txt and srt.
    [req] = parse_additional_formats('[{"format": "html", "max_characters_per_line": 10}]')
    assert req.max_characters_per_line is None


@pytest.mark.parametrize(
    "raw",
    [
        "[{",
        '[{"format": "vtt"}]',
        '[{"include_speakers": true}]',
        '["srt"]',
        "[42]",
        '[{"format": "srt", "include_speakers": "yes"}]',
        '[{"format": "srt", "max_segment_chars": 0}]',
        '[{"format": "srt", "max_segment_chars": 12.5}]',
        '[{"format": "srt", "max_segment_chars": true}]',
        '[{"format": "srt", "segment_on_silence_longer_than_s": -1}]',
        '[{"format": "srt", "max_segment_duration_s": "4"}]',
        '[{"format": "txt", "max_characters_per_line": NaN}]',
        json.dumps([{"format": "txt"}] * 11),
    ],
)
def test_bad_options_are_400(raw):
    with pytest.raises(BadRequest) as info:
        parse_additional_formats(raw)
    assert info.value.status == "invalid_additional_formats"
    assert info.value.http_status == 400


# ------------------------------------------------------------------------------------------- segmentation


def test_segmentation_rules():
    body = diarized_body()
    # Speaker changes always split.
    assert [s.text for s in segment_words(body["words"])] == [
        "Hi there. (laughter)",
        "Is <you> & café naïve—really? ☃",
    ]
    # Silence longer than the limit splits (0.1 s before the event and before the snowman, 0.05 s elsewhere).
    assert [s.text for s in segment_words(body["words"], silence_s=0.07)] == [
        "Hi there.",
        "(laughter)",
        "Is <you> & café naïve—really?",
        "☃",
    ]
    # Duration and characters.
    long = long_body(1)["words"]
    for seg in segment_words(long, max_duration_s=2.0):
        assert seg.end - seg.start <= 2.0 or len(seg.words) == 1
    for seg in segment_words(long, max_chars=30):
        assert len(seg.text) <= 30
    assert " ".join(s.text for s in segment_words(long, max_chars=30)) == long_body(1)["text"]


# ---------------------------------------------------------------------------------------------------- SRT

_SRT_TIME = r"(\d\d):([0-5]\d):([0-5]\d),(\d\d\d)"


def parse_srt(content: str) -> list[tuple[float, float, list[str]]]:
    assert content.endswith("\n") and not content.endswith("\n\n\n")
    cues = []
    for number, block in enumerate(content.rstrip("\n").split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        m = re.fullmatch(f"{_SRT_TIME} --> {_SRT_TIME}", lines[1])
        assert m, lines[1]
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        assert lines[2:] and all(line.strip() for line in lines[2:])
        cues.append((start, end, lines[2:]))
    return cues


def test_srt_defaults_read_back():
    body = long_body(2)
    out = one(body, format="srt")
    assert (out["file_extension"], out["is_base64_encoded"]) == ("srt", False)
    cues = parse_srt(out["content"])
    previous_end = 0.0
    for start, end, lines in cues:
        assert previous_end <= start < end
        assert end - start <= 4.0 + 1e-9
        assert len(lines) <= 2
        assert all(len(line) <= 42 for line in lines)
        assert len(" ".join(lines)) <= 84
        previous_end = end
    assert normalised(" ".join(" ".join(lines) for _, _, lines in cues)) == body["text"]
    # Every 1.5 s pause (longer than 0.8 s) ends a cue: the 15th, 30th, ... words end cues.
    ends = {round(end, 3) for _, end, _ in cues}
    words = [w for w in body["words"] if w["type"] == "word"]
    for k in range(14, len(words) - 1, 15):
        assert round(words[k]["end"], 3) in ends
    # Cue times are the words' times.
    assert cues[0][0] == words[0]["start"]


def test_srt_with_speakers_and_events():
    cues = parse_srt(one(diarized_body(), format="srt", include_speakers=True)["content"])
    assert [" ".join(lines) for _, _, lines in cues] == [
        "speaker_0: Hi there. (laughter)",
        "speaker_1: Is <you> & café naïve—really? ☃",
    ]
    assert (cues[0][0], cues[0][1], cues[1][0], cues[1][1]) == (0.12, 1.4, 2.5, 4.6)


def test_srt_without_word_times_spreads_words_over_the_audio():
    body = long_body(1, granularity="none")
    assert body["words"][0]["start"] is None
    cues = parse_srt(one(body, format="srt")["content"])
    assert len(cues) > 3
    assert cues[-1][1] <= body["audio_duration_secs"] + 1e-6
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:], strict=False))
    assert normalised(" ".join(" ".join(lines) for _, _, lines in cues)) == body["text"]


def test_empty_transcript_gives_valid_empty_outputs():
    body = {**diarized_body(), "text": "", "words": []}
    outs = render_exports(body, parse_additional_formats(json.dumps([{"format": f} for f in ("srt", "txt")])))
    assert [o["content"] for o in outs] == ["", ""]
    pdf = base64.b64decode(one(body, format="pdf")["content"])
    assert check_pdf(pdf)[0] == 1


# ---------------------------------------------------------------------------------------- TXT and JSON


def test_txt_wrapping_and_headers():
    body = long_body(2)
    content = one(body, format="txt", max_characters_per_line=60, max_segment_duration_s=10)["content"]
    paragraphs = content.rstrip("\n").split("\n\n")
    assert len(paragraphs) > 2
    for paragraph in paragraphs:
        assert re.match(r"\[\d\d:\d\d:\d\d\.\d{3} - \d\d:\d\d:\d\d\.\d{3}\] ", paragraph)
        assert all(len(line) <= 60 for line in paragraph.split("\n"))
    plain = one(body, format="txt", include_timestamps=False, include_speakers=False)["content"]
    assert normalised(plain) == body["text"]
    assert all(len(line) <= 100 for line in plain.splitlines())
    speakers = one(diarized_body(), format="txt", include_timestamps=False)["content"]
    assert speakers == "speaker_0: Hi there. (laughter)\n\nspeaker_1: Is <you> & café naïve—really? ☃\n"


def test_segmented_json():
    body = diarized_body()
    out = one(body, format="segmented_json")
    assert (out["content_type"], out["file_extension"]) == ("application/json", "json")
    doc = json.loads(out["content"])
    assert doc["transcription_id"] == "tr_diar" and doc["language_code"] == "eng"
    assert [(s["speaker"], s["start"], s["end"]) for s in doc["segments"]] == [
        ("speaker_0", 0.12, 1.4),
        ("speaker_1", 2.5, 4.6),
    ]
    assert " ".join(s["text"] for s in doc["segments"]) == body["text"]
    assert [w["type"] for w in doc["segments"][0]["words"]] == ["word", "word", "audio_event"]
    bare = json.loads(
        one(body, format="segmented_json", include_timestamps=False, include_speakers=False)["content"]
    )
    segment = bare["segments"][0]
    assert "start" not in segment and "speaker" not in segment
    assert "start" not in segment["words"][0] and "speaker_id" not in segment["words"][0]


# --------------------------------------------------------------------------------------------------- HTML


class _SegmentText(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[str] = []
        self.tags: list[str] = []
        self._in = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "p" and ("class", "segment") in attrs:
            self._in = 1
            self.segments.append("")

    def handle_endtag(self, tag):
        if tag == "p":
            self._in = 0

    def handle_data(self, data):
        if self._in:
            self.segments[-1] += data


def test_html_is_escaped_and_self_contained():
    out = one(diarized_body(), format="html")
    assert (out["content_type"], out["is_base64_encoded"]) == ("text/html", False)
    content = out["content"]
    assert content.startswith("<!DOCTYPE html>") and '<html lang="en">' in content
    assert "&lt;you&gt; &amp; café" in content and "<you>" not in content
    parser = _SegmentText()
    parser.feed(content)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert parser.segments == [
        "[00:00:00.120 - 00:00:01.400] speaker_0: Hi there. (laughter)",
        "[00:00:02.500 - 00:00:04.600] speaker_1: Is <you> & café naïve—really? ☃",
    ]


# --------------------------------------------------------------------------------------------------- DOCX

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def test_docx_is_a_real_package():
    body = diarized_body()
    out = one(body, format="docx")
    assert out["is_base64_encoded"] and out["file_extension"] == "docx"
    data = base64.b64decode(out["content"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist()[0] == "[Content_Types].xml"
        assert {"[Content_Types].xml", "_rels/.rels", "word/document.xml"} <= set(archive.namelist())
        types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
        rels = ElementTree.fromstring(archive.read("_rels/.rels"))
        document = ElementTree.fromstring(archive.read("word/document.xml"))
    overrides = {o.get("PartName"): o.get("ContentType") for o in types}
    assert overrides["/word/document.xml"].endswith("wordprocessingml.document.main+xml")
    assert [r.get("Target") for r in rels] == ["word/document.xml"]
    paragraphs = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in document.iter(f"{_W}p")]
    assert paragraphs == [
        "Transcript",
        "[00:00:00.120 - 00:00:01.400] speaker_0: Hi there. (laughter)",
        "[00:00:02.500 - 00:00:04.600] speaker_1: Is <you> & café naïve—really? ☃",
    ]
    assert base64.b64decode(one(body, format="docx")["content"]) == data  # byte-for-byte reproducible


# ---------------------------------------------------------------------------------------------------- PDF


def _unescape_pdf_string(raw: bytes) -> bytes:
    out, k = bytearray(), 0
    while k < len(raw):
        c = raw[k]
        if c == 0x5C:
            nxt = raw[k + 1 : k + 2]
            if nxt.isdigit():
                m = re.match(rb"[0-7]{1,3}", raw[k + 1 :])
                out.append(int(m.group(), 8))
                k += 1 + len(m.group())
                continue
            out += nxt
            k += 2
            continue
        out.append(c)
        k += 1
    return bytes(out)


def check_pdf(data: bytes) -> tuple[int, list[str]]:
    """Structural checks; returns (page count, the text lines drawn, in order)."""
    assert data.startswith(b"%PDF-1.4\n") and data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\s*$", data).group(1))
    assert data[startxref : startxref + 5] == b"xref\n"
    m = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    count = int(m.group(1))
    table = data[startxref + m.end() :]
    entries = [table[k * 20 : (k + 1) * 20] for k in range(count)]
    assert entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry), entry
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj\n" % number)
    trailer = table[count * 20 :]
    assert int(re.search(rb"/Size (\d+)", trailer).group(1)) == count
    objects = dict(
        (int(n), body) for n, body in re.findall(rb"(?m)^(\d+) 0 obj\n(.*?)\nendobj\n", data, re.DOTALL)
    )
    assert len(objects) == count - 1
    pages = [n for n, body in objects.items() if re.match(rb"<< /Type /Page ", body)]
    page_tree = next(body for body in objects.values() if body.startswith(b"<< /Type /Pages"))
    assert int(re.search(rb"/Count (\d+)", page_tree).group(1)) == len(pages)
    lines: list[str] = []
    for n in sorted(pages):
        contents = int(re.search(rb"/Contents (\d+) 0 R", objects[n]).group(1))
        stream_obj = objects[contents]
        length = int(re.match(rb"<< /Length (\d+) >>\nstream\n", stream_obj).group(1))
        stream = stream_obj[stream_obj.index(b"stream\n") + 7 :]
        assert stream[length:] == b"endstream"
        for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", stream[:length]):
            lines.append(_unescape_pdf_string(raw).decode("cp1252"))
    return len(pages), lines


def test_pdf_structure_text_and_pages():
    body = long_body(12)
    out = one(body, format="pdf", include_timestamps=False, include_speakers=False)
    assert (out["content_type"], out["is_base64_encoded"]) == ("application/pdf", True)
    pages, lines = check_pdf(base64.b64decode(out["content"]))
    assert pages >= 2
    assert lines[0] == "Transcript"
    assert normalised(" ".join(lines[1:])) == body["text"]
    for line in lines[1:]:
        assert text_width(line, 11) <= 595 - 2 * 56  # wrapped by measured width inside the margins


def test_pdf_escapes_and_winansi():
    pages, lines = check_pdf(base64.b64decode(one(diarized_body(), format="pdf")["content"]))
    assert pages == 1
    assert lines[1:] == [
        "[00:00:00.120 - 00:00:01.400] speaker_0: Hi there. (laughter)",
        "[00:00:02.500 - 00:00:04.600] speaker_1: Is <you> & café naïve—really? ?",  # no snowman in WinAnsi
    ]
    body = {**diarized_body(), "text": "x", "words": [item("a\\b(c)" + "W" * 120, 0.0, 1.0, None)]}
    pages, lines = check_pdf(base64.b64decode(one(body, format="pdf")["content"]))
    # A word wider than the line is broken between characters; backslash and parentheses survive escaping.
    assert lines[1] == "[00:00:00.000 - 00:00:01.000]"
    assert len(lines) >= 5 and "".join(lines[2:]) == "a\\b(c)" + "W" * 120
    assert all(text_width(line, 11) <= 595 - 2 * 56 for line in lines[1:])


def test_all_formats_in_one_request_are_deterministic():
    body = diarized_body()
    requests = parse_additional_formats(
        json.dumps([{"format": f} for f in ("segmented_json", "docx", "pdf", "txt", "html", "srt")])
    )  # noqa: E501
    first = render_exports(body, requests)
    assert render_exports(body, requests) == first
    assert [o["requested_format"] for o in first] == ["segmented_json", "docx", "pdf", "txt", "html", "srt"]
    for o in first:
        assert set(o) == {
            "requested_format",
            "file_extension",
            "content_type",
            "is_base64_encoded",
            "content",
        }
        assert isinstance(o["content"], str)
