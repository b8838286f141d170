"""TextBuffer: the chunk_length_schedule, flush, auto_mode and try_trigger_generation."""

from __future__ import annotations

from chorus.services.text_stream import DEFAULT_SCHEDULE, TRIGGER_MIN_CHARS, TextBuffer


def _words(n: int) -> str:
    """``n`` characters of whole words ("abcd " repeated), ending with a space."""
    assert n % 5 == 0
    return "abcd " * (n // 5)


def test_default_schedule_is_elevenlabs() -> None:
    assert DEFAULT_SCHEDULE == (120, 160, 250, 290)
    assert TextBuffer().schedule == DEFAULT_SCHEDULE
    assert TextBuffer([]).schedule == DEFAULT_SCHEDULE


def test_default_schedule_thresholds_in_turn() -> None:
    buffer = TextBuffer()
    assert buffer.add(_words(115)) == []  # below 120: nothing yet
    first = buffer.add(_words(5))
    assert first == [_words(120)] and buffer.pending == ""
    assert buffer.add(_words(155)) == []  # the second generation waits for 160
    assert buffer.add(_words(5)) == [_words(160)]
    assert buffer.add(_words(245)) == []
    assert buffer.add(_words(5)) == [_words(250)]
    for _ in range(2):  # the last value repeats
        assert buffer.add(_words(285)) == []
        assert buffer.add(_words(5)) == [_words(290)]


def test_custom_schedule_and_word_boundaries() -> None:
    buffer = TextBuffer([50])
    # 52 characters, the last word still arriving: the cut is at the last space, the rest waits.
    assert buffer.add(_words(50) + "ef") == [_words(50)]
    assert buffer.pending == "ef"
    assert buffer.add("gh ") == []  # "efgh " is short of 50
    assert buffer.pending == "efgh "
    # One long word with no space yet: it is not split, however long.
    buffer = TextBuffer([50])
    assert buffer.add("x" * 80) == []
    assert buffer.add(" ") == ["x" * 80 + " "]


def test_long_message_goes_whole_up_to_its_last_space() -> None:
    buffer = TextBuffer([50, 60])
    # The schedule is a minimum, not a size: 200 characters at once are one segment, not four.
    assert buffer.add(_words(200) + "tail") == [_words(200)]
    assert buffer.pending == "tail"


def test_flush_releases_everything_and_counts_as_a_generation() -> None:
    buffer = TextBuffer([50, 100])
    assert buffer.add("Short. ") == []
    assert buffer.flush() == ["Short. "]
    assert buffer.pending == ""
    assert buffer.flush() == []  # nothing left
    # The flush was generation one: the next threshold is 100.
    assert buffer.add(_words(95)) == []
    assert buffer.add(_words(5)) == [_words(100)]


def test_whitespace_is_not_text() -> None:
    buffer = TextBuffer([50])
    assert buffer.add(" ") == []  # the opening " " and keep-alives
    assert buffer.pending == ""
    assert buffer.flush() == []
    buffer.add("   ")
    assert buffer.flush() == []
    buffer.add("Hi ")
    buffer.add("  ")
    assert buffer.flush() == ["Hi   "]


def test_auto_mode_releases_each_sentence_at_once() -> None:
    buffer = TextBuffer(auto_mode=True)
    assert buffer.add("Hello") == []
    assert buffer.add(" there.") == []  # the sentence end needs the space after it
    assert buffer.add(" How") == ["Hello there. "]
    assert buffer.pending == "How"
    assert buffer.add(" are you? Fine! And") == ["How are you? Fine! "]
    assert buffer.pending == "And"
    assert buffer.flush() == ["And"]
    # Closing quotes and brackets stay with their sentence; the schedule is ignored.
    buffer = TextBuffer([500], auto_mode=True)
    assert buffer.add('He said "no." Then ') == ['He said "no." ']


def test_without_auto_mode_sentences_wait_for_the_schedule() -> None:
    buffer = TextBuffer()
    assert buffer.add("Hello there. How are you? ") == []
    assert buffer.pending == "Hello there. How are you? "


def test_try_trigger_needs_the_minimum() -> None:
    assert TRIGGER_MIN_CHARS == 50
    buffer = TextBuffer()
    buffer.add("Too short to trigger. ")
    assert buffer.try_trigger() == []
    assert buffer.pending == "Too short to trigger. "
    buffer.add(_words(30))
    assert len(buffer.pending.strip()) >= TRIGGER_MIN_CHARS
    assert buffer.try_trigger() == ["Too short to trigger. " + _words(30)]
    assert buffer.pending == ""
    # A trigger counts as a generation: the schedule moves on to 160.
    assert buffer.add(_words(155)) == []
    assert buffer.add(_words(5)) == [_words(160)]
