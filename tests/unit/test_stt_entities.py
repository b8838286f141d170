"""Entity detection and redaction on transcripts: wire forms of the options, what is found in cased text with
digits and in pocketsphinx-style lower-case text with numbers as words, and redaction of text and words."""

from __future__ import annotations

import json

import pytest

from chorus.errors import BadRequest
from chorus.services.stt import shape_response
from chorus.stt.base import Transcript, Word
from chorus.stt.entities import (
    CATEGORIES,
    ENTITY_TYPES,
    check_redaction,
    detect_entities,
    parse_entity_option,
    parse_redaction_mode,
    redact,
)

ALL = frozenset(ENTITY_TYPES)
PII = frozenset(CATEGORIES["pii"])
# The example in ElevenLabs' entity detection guide (entity_detection=["pii"]).
DOCS_TEXT = (
    "My name is Jill. My date of birth is the 12th of July 1987, and my credit card number is "
    "4242-4242-4242-4242."
)


def found(text: str, types: frozenset[str] = ALL) -> list[tuple[str, str]]:
    entities = detect_entities(text, types)
    for e in entities:
        assert text[e["start_char"] : e["end_char"]] == e["text"]
    return [(e["entity_type"], e["text"]) for e in entities]


def body_for(text: str, granularity: str = "word") -> dict:
    tokens = text.split()
    words = tuple(Word(w, i * 0.5, i * 0.5 + 0.4, -0.1 - i / 1000) for i, w in enumerate(tokens))
    transcript = Transcript(" ".join(text.split()), words, "eng", 0.9, len(words) * 0.5)
    return shape_response(transcript, granularity, len(words) * 0.5, "tr_test")


# ------------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "raw",
    ['["pii"]', '"pii"', "pii", "PII", ["pii"], ['["pii"]'], b'["pii"]'],
)
def test_option_wire_forms_of_one_category(raw):
    assert parse_entity_option(raw, "entity_detection") == PII


def test_option_lists_repeated_fields_and_commas_combine():
    expected = frozenset({"email_address", "phone_number"})
    assert parse_entity_option('["email_address", "phone_number"]', "entity_detection") == expected
    assert parse_entity_option(["email_address", "phone_number"], "entity_detection") == expected  # JS SDK
    assert parse_entity_option("email_address,phone_number", "entity_detection") == expected


@pytest.mark.parametrize("raw", [None, "null", "", "  ", "[]", ["null"], []])
def test_option_absent_forms_are_none(raw):
    assert parse_entity_option(raw, "entity_detection") is None


def test_option_all_categories_and_aliases():
    assert parse_entity_option("all", "entity_detection") == ENTITY_TYPES
    assert parse_entity_option("pci", "entity_detection") == {"credit_card", "credit_card_expiration", "cvv"}
    offensive = parse_entity_option("offensive_language", "entity_detection")
    assert offensive == {"very_offensive_language", "less_offensive_language"}
    # Legacy aliases expand to the types they stand for.
    assert parse_entity_option("statistics", "entity_detection") == {"statistics", "clinical_measurement"}
    assert parse_entity_option("gender_sexuality", "x") == {
        "gender_sexuality",
        "gender",
        "sexual_orientation",
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('["pii", "social_media"]', "entity_detection"),
        ("credit card", "entity_detection"),
        ('["pii"', "entity_detection"),
        ("[1, 2]", "entity_redaction"),
        ('{"pii": true}', "entity_redaction"),
    ],
)
def test_option_bad_values_are_400_naming_the_valid_ones(raw, field):
    with pytest.raises(BadRequest) as info:
        parse_entity_option(raw, field)
    assert info.value.status == f"invalid_{field}"
    assert info.value.http_status == 400
    if "social_media" in str(raw):
        assert "'social_media'" in info.value.message
        assert "email_address" in info.value.message and "pii" in info.value.message


def test_redaction_subset_and_mode():
    check_redaction(PII, frozenset({"name", "credit_card"}))
    check_redaction(None, None)
    with pytest.raises(BadRequest) as info:
        check_redaction(frozenset({"name"}), frozenset({"name", "ssn"}))
    assert info.value.status == "invalid_entity_redaction" and "ssn" in info.value.message
    with pytest.raises(BadRequest):
        check_redaction(None, frozenset({"name"}))
    assert parse_redaction_mode(None) == "enumerated_entity_type"
    assert parse_redaction_mode("null") == "enumerated_entity_type"
    assert parse_redaction_mode("entity_type") == "entity_type"
    with pytest.raises(BadRequest) as info:
        parse_redaction_mode("mask")
    assert info.value.status == "invalid_entity_redaction_mode"


# ---------------------------------------------------------------------------------------------- detection


def test_docs_example_exactly():
    assert detect_entities(DOCS_TEXT, PII) == [
        {"text": "Jill", "entity_type": "name", "start_char": 11, "end_char": 15},
        {"text": "12th of July 1987", "entity_type": "dob", "start_char": 41, "end_char": 58},
        {"text": "4242-4242-4242-4242", "entity_type": "credit_card", "start_char": 89, "end_char": 108},
    ]


def test_docs_example_as_pocketsphinx_would_say_it():
    text = (
        "my name is jill my date of birth is the twelfth of july nineteen eighty seven and my credit card "
        "number is four two four two four two four two four two four two four two four two"
    )
    assert found(text, PII) == [
        ("name", "jill"),
        ("dob", "twelfth of july nineteen eighty seven"),
        ("credit_card", "four two four two four two four two four two four two four two four two"),
    ]


def test_only_requested_types_are_reported():
    assert found(DOCS_TEXT, frozenset({"credit_card"})) == [("credit_card", "4242-4242-4242-4242")]
    # Without dob the same stretch is reported as a plain date.
    assert ("date", "12th of July 1987") in found(DOCS_TEXT, frozenset({"date"}))
    assert detect_entities(DOCS_TEXT, frozenset()) == []
    assert detect_entities("", ALL) == []


def test_card_numbers_need_a_valid_luhn_checksum():
    assert found("card 4111 1111 1111 1111 please", frozenset({"credit_card"})) == [
        ("credit_card", "4111 1111 1111 1111")
    ]
    assert found("card 4111 1111 1111 1112 please", frozenset({"credit_card"})) == []
    spoken_bad = "number four one one one one one one one one one one one one one one two"
    assert found(spoken_bad, frozenset({"credit_card"})) == []
    # A card number followed by its expiry in one breath is still found.
    text = "it is 4242 4242 4242 4242 0427"
    assert ("credit_card", "4242 4242 4242 4242") in found(text, frozenset({"credit_card"}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("you can reach me at john dot smith at example dot com thanks", "john dot smith at example dot com"),
        ("write to Jane.Doe+news@mail.example.co.uk today", "Jane.Doe+news@mail.example.co.uk"),
        ("email j smith underscore two at gmail dot com", "smith underscore two at gmail dot com"),
    ],
)
def test_email_addresses_written_and_spoken(text, expected):
    assert found(text, frozenset({"email_address"})) == [("email_address", expected)]


def test_look_at_the_dot_com_bubble_is_no_email():
    assert found("look at the dot com bubble", frozenset({"email_address"})) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "call five five five one two three four five six seven tomorrow",
            "five five five one two three four five six seven",
        ),  # noqa: E501
        ("call me at (555) 123-4567 tonight", "(555) 123-4567"),
        ("the office is +44 20 7946 0958 from abroad", "+44 20 7946 0958"),
        ("my phone is double five five one two one two", "double five five one two one two"),
        (
            "dial one eight hundred five five five one two one two",
            "one eight hundred five five five one two one two",
        ),  # noqa: E501
    ],
)
def test_phone_numbers(text, expected):
    assert found(text, frozenset({"phone_number"})) == [("phone_number", expected)]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("the meeting is on march third twenty twenty four", "date", "march third twenty twenty four"),
        ("It happened on March 3rd, 2024 at noon.", "date", "March 3rd, 2024"),
        ("due 03/15/2024 at the latest", "date", "03/15/2024"),
        ("stamped 2024-03-15 by the clerk", "date", "2024-03-15"),
        ("i was born on june fifth two thousand and one", "dob", "june fifth two thousand and one"),
        ("he arrived may ten eighteen fifty one", "date", "may ten eighteen fifty one"),
        ("we moved in nineteen eighty seven", "date_interval", "nineteen eighty seven"),
        ("see you on monday", "date", "monday"),
    ],
)
def test_dates(text, kind, expected):
    assert (kind, expected) in found(text, frozenset({"date", "dob", "date_interval"}))


def test_may_and_march_as_words_are_not_dates():
    assert found("you may go and they march on", frozenset({"date", "date_interval"})) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i live at twenty one baker street apartment four b", "twenty one baker street apartment four b"),
        (
            "Send it to 1600 Pennsylvania Ave, Washington, DC 20500.",
            "1600 Pennsylvania Ave, Washington, DC 20500",
        ),  # noqa: E501
        ("the shop at 221b Baker Street closed", "221b Baker Street"),
        ("it is at one two three main street", "one two three main street"),
    ],
)
def test_street_addresses(text, expected):
    assert ("location_address", expected) in found(text, frozenset({"location_address"}))


def test_cued_identifiers_and_spoken_digit_strings():
    ids = frozenset({"ssn", "account_number", "numerical_pii", "routing_number", "cvv", "passport_number"})
    assert found("my social security number is one two three four five six seven eight nine", ids) == [
        ("ssn", "one two three four five six seven eight nine")
    ]
    assert found("SSN 123-45-6789 on file", ids) == [("ssn", "123-45-6789")]
    assert found("my account number is four four one two nine eight", ids) == [
        ("account_number", "four four one two nine eight")
    ]
    assert found("passport number X1234567 expired", ids) == [("passport_number", "X1234567")]
    assert found("the security code is seven three one", ids) == [("cvv", "seven three one")]
    # Digits read out with no cue are still numerical PII.
    assert found("it was nine eight seven six five four in the end", ids) == [
        ("numerical_pii", "nine eight seven six five four")
    ]


def test_names_from_cues_lists_and_capitals():
    names = frozenset({"name"})
    assert found("hello my name is xiomara okonkwo", names) == [("name", "xiomara")]
    assert found("i spoke with mister henderson yesterday", names) == [("name", "henderson")]
    assert found("John Brown met Will Smith in Paris.", names) == [
        ("name", "John Brown"),
        ("name", "Will Smith"),
    ]
    assert found("sarah and michael went home", names) == [("name", "sarah"), ("name", "michael")]
    # Names that are ordinary words need capitals or a cue.
    assert found("i will mark the grade", names) == []
    assert found("I will mark the grade.", names) == []


def test_name_subtypes_and_medical_professionals():
    text = "Doctor Priya Patel saw John Smith."
    assert found(text, frozenset({"name_medical_professional", "name"})) == [
        ("name_medical_professional", "Doctor Priya Patel"),
        ("name", "John Smith"),
    ]
    assert found(text, frozenset({"name_given", "name_family"})) == [
        ("name_given", "Priya"),
        ("name_family", "Patel"),
        ("name_given", "John"),
        ("name_family", "Smith"),
    ]


def test_spoken_web_addresses_files_and_ips():
    kinds = frozenset({"url", "filename", "ip_address", "email_address"})
    assert found("visit w w w dot example dot com or open report dot pdf", kinds) == [
        ("url", "w w w dot example dot com"),
        ("filename", "report dot pdf"),
    ]
    assert found("the server is one nine two dot one six eight dot one dot twenty", kinds) == [
        ("ip_address", "one nine two dot one six eight dot one dot twenty")
    ]
    assert found("Go to https://example.com/a?b=1, or 10.0.0.254.", kinds) == [
        ("url", "https://example.com/a?b=1"),
        ("ip_address", "10.0.0.254"),
    ]


def test_quantities_times_and_people_facts():
    text = (
        "I am 42 years old and paid five hundred dollars, 20% more, at three thirty p m for a two hour "
        "session; I weigh 80 kilograms."
    )
    assert found(text, frozenset({"age", "money", "percent", "time", "time_duration", "measurement"})) == [
        ("age", "42"),
        ("money", "five hundred dollars"),
        ("percent", "20%"),
        ("time", "three thirty p m"),
        ("time_duration", "two hour"),
        ("measurement", "80 kilograms"),
    ]


def test_health_and_other_lexicon_types():
    text = (
        "She was diagnosed with asthma, takes albuterol, had an MRI, blood type O negative, "
        "and her blood pressure was 120 over 80. She speaks Spanish, is Catholic and lives in Toronto, Canada."
    )
    got = found(text, ALL - {"cardinal", "ordinal"})
    for item in [
        ("condition", "asthma"),
        ("drug", "albuterol"),
        ("medical_process", "MRI"),
        ("blood_type", "O negative"),
        ("clinical_measurement", "120 over 80"),
        ("language", "Spanish"),
        ("religion", "Catholic"),
        ("location_city", "Toronto"),
        ("location_country", "Canada"),
    ]:
        assert item in got


def test_everyday_sentences_have_no_pii():
    quiet = PII - {"cardinal", "ordinal", "occupation"}
    for text in [
        "as you know and as i have given you proof i have the greatest admiration in the world",
        "the weather was fine and we walked down to the river after lunch",
        "I think we should meet again soon, maybe next week if that works for you.",
        "one two three four",
    ]:
        assert found(text, quiet) == [], text


def test_entities_are_ordered_and_disjoint():
    text = "Call 555-123-4567 or 555-987-6543, email a@b.io, on May 5th 2021 at 10:30 am. " * 20
    entities = detect_entities(text, ALL)
    assert len(entities) >= 100
    for a, b in zip(entities, entities[1:], strict=False):
        assert a["end_char"] <= b["start_char"]
    assert detect_entities(text, ALL) == entities  # deterministic


# ---------------------------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("redacted", "my name is {REDACTED} and my card is {REDACTED} thanks {REDACTED} bye {REDACTED}"),
        ("entity_type", "my name is {NAME} and my card is {CREDIT_CARD} thanks {NAME} bye {NAME}"),
        (
            "enumerated_entity_type",
            "my name is {NAME_0} and my card is {CREDIT_CARD_0} thanks {NAME_0} bye {NAME_1}",
        ),  # noqa: E501
    ],
)
def test_redaction_modes_in_text_and_words(mode, expected):
    body = body_for(
        "my name is jill smith and my card is four two four two four two four two four two four two four two "
        "four two thanks jill smith bye sarah"
    )
    entities = detect_entities(body["text"], PII)
    out = redact(body, entities, PII, mode)
    assert out["text"] == expected
    assert out["entities"] is None  # the docs: a redacted response carries no entities
    assert "".join(w["text"] for w in out["words"]) == out["text"]
    assert body["text"].startswith("my name is jill smith")  # the input is not modified
    # The card's sixteen words and fifteen spaces became one word item spanning their times.
    card = next(
        w for w in out["words"] if "CREDIT_CARD" in w["text"] or w["text"] == "{REDACTED}" and w["end"] > 5
    )
    assert card["type"] == "word"
    assert (card["start"], card["end"]) == (4.5, 12.4)
    assert card["logprob"] == pytest.approx(min(w["logprob"] for w in body["words"][18:49]))
    # Every other item keeps its text and times.
    kept = [(w["text"], w["start"], w["end"]) for w in out["words"] if "{" not in w["text"]]
    original = [(w["text"], w["start"], w["end"]) for w in body["words"]]
    assert all(item in original for item in kept)


def test_redaction_keeps_punctuation_around_entities_and_unredacted_types():
    body = {
        "language_code": "eng",
        "text": "Hi Jill. Call 555-123-4567!",
        "words": [
            {"text": "Hi", "start": 0.0, "end": 0.2, "type": "word", "speaker_id": "speaker_0", "logprob": -0.1},
            {"text": " ", "start": 0.2, "end": 0.3, "type": "spacing", "speaker_id": "speaker_0", "logprob": 0.0},
            {"text": "Jill.", "start": 0.3, "end": 0.6, "type": "word", "speaker_id": "speaker_0", "logprob": -0.2},
            {"text": " ", "start": 0.6, "end": 0.9, "type": "spacing", "speaker_id": "speaker_0", "logprob": 0.0},
            {"text": "Call", "start": 0.9, "end": 1.1, "type": "word", "speaker_id": "speaker_1", "logprob": -0.1},
            {"text": " ", "start": 1.1, "end": 1.2, "type": "spacing", "speaker_id": "speaker_1", "logprob": 0.0},
            {"text": "555-123-4567!", "start": 1.2, "end": 2.4, "type": "word", "speaker_id": "speaker_1",
             "logprob": -0.3},
        ],
        "entities": None,
    }  # fmt: skip
    entities = detect_entities(body["text"], PII)
    assert [e["entity_type"] for e in entities] == ["name", "phone_number"]
    out = redact(body, entities, frozenset({"phone_number"}), "entity_type", detect_types=PII)
    assert out["text"] == "Hi Jill. Call {PHONE_NUMBER}!"
    assert out["words"][2]["text"] == "Jill."
    assert out["words"][-1] == {
        "text": "{PHONE_NUMBER}!",
        "start": 1.2,
        "end": 2.4,
        "type": "word",
        "speaker_id": "speaker_1",
        "logprob": -0.3,
    }
    out = redact(body, entities, PII)
    assert out["text"] == "Hi {NAME_0}. Call {PHONE_NUMBER_0}!"
    assert out["words"][2]["text"] == "{NAME_0}."


def test_redaction_with_character_timestamps_leaves_no_original_characters():
    body = body_for("my name is jill and i like tea", granularity="character")
    out = redact(body, detect_entities(body["text"], PII), PII, "redacted")
    item = out["words"][6]
    assert item["text"] == "{REDACTED}"
    assert "".join(c["text"] for c in item["characters"]) == "{REDACTED}"
    assert item["characters"][0]["start"] == item["start"] and item["characters"][-1]["end"] == item["end"]
    assert "jill" not in json.dumps(out)


def test_redaction_validates_mode_and_subset():
    body = body_for("my name is jill")
    entities = detect_entities(body["text"], PII)
    with pytest.raises(BadRequest):
        redact(body, entities, frozenset({"name"}), "stars")
    with pytest.raises(BadRequest) as info:
        redact(body, entities, frozenset({"name"}), detect_types=frozenset({"email_address"}))
    assert info.value.status == "invalid_entity_redaction"
    # Nothing to redact: the text stays, entities are still dropped.
    out = redact(body, [], frozenset({"name"}))
    assert out["text"] == body["text"] and out["words"] == body["words"] and out["entities"] is None


def test_random_text_never_breaks_detection_or_redaction():
    """Word salad from the detector's own vocabulary: no exceptions, offsets exact, entities disjoint, and
    redacted words still spell the redacted text."""
    import random

    salad = (
        "a the at dot com one two three four five six seven eight nine zero oh double hundred thousand twenty "
        "nineteen eighty march may the third of born my name is jill smith doctor mister street avenue "
        "apartment b account number phone card ending in zip code password is expires cvv , . - ( ) / : @ "
        "555-123-4567 4242 12th 2024 03/04/2025 $5 20% x1234567 www underscore pdf john at gmail years old "
        "dollars percent p m o'clock noon Jill Smith Paris New York blood type o negative over 120 80"
    )
    vocabulary = salad.split()
    rng = random.Random(1234)
    for _ in range(300):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 40))]
        text = " ".join(words)
        entities = detect_entities(text, ALL)
        for e in entities:
            assert 0 <= e["start_char"] < e["end_char"] <= len(text)
            assert text[e["start_char"] : e["end_char"]] == e["text"]
        for a, b in zip(entities, entities[1:], strict=False):
            assert a["end_char"] <= b["start_char"]
        if words:
            body = body_for(text)
            out = redact(body, detect_entities(body["text"], ALL), ALL)
            assert "".join(w["text"] for w in out["words"]) == out["text"]
            starts = [w["start"] for w in out["words"]]
            assert starts == sorted(starts)


def test_organizations_events_and_offensive_language():
    kinds = frozenset(
        {"organization", "event", "less_offensive_language", "very_offensive_language", "zodiac_sign"}
    )
    assert found("I work at Acme Widgets Inc. and studied at the University of Toronto.", kinds) == [
        ("organization", "Acme Widgets Inc"),
        ("organization", "University of Toronto"),
    ]
    assert found("i work for acme widgets inc since christmas", kinds) == [
        ("organization", "acme widgets inc"),
        ("event", "christmas"),
    ]
    assert found("damn that was a shitty call", kinds) == [
        ("less_offensive_language", "damn"),
        ("very_offensive_language", "shitty"),
    ]
    # "cancer" is a star sign only when the talk is of signs.
    assert found("my star sign is cancer", kinds) == [("zodiac_sign", "cancer")]
    assert found("she beat cancer", kinds) == []
