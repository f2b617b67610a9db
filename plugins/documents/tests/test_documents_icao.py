"""The ICAO 9303 parser on the standard's own Utopia specimens, and on what OCR gets wrong."""

from __future__ import annotations

from datetime import date

import pytest
from appliance_plugin_documents.icao import MrzError, check_digit, correct_line, parse_mrz

TODAY = date(2026, 1, 1)

# The specimens of ICAO Doc 9303 parts 4 to 7 (Utopia, ERIKSSON ANNA MARIA).
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
MRVA = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")
MRVB = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<")


@pytest.mark.parametrize(("text", "digit"), [("L898902C3", "6"), ("740812", "2"), ("120415", "9"), ("<<<<<", "0")])
def test_check_digits_of_the_standard(text: str, digit: str) -> None:
    assert check_digit(text) == digit


def test_td1_fields_and_every_check() -> None:
    document = parse_mrz(TD1, today=TODAY)
    assert document.format == "TD1"
    assert document.checks == {"document_number": True, "birth_date": True, "expiry_date": True, "composite": True}
    assert document.fields == {
        "document_type": "I",
        "issuing_state": "UTO",
        "nationality": "UTO",
        "birth_date": "1974-08-12",
        "sex": "F",
        "expiry_date": "2012-04-15",
        "surname": "ERIKSSON",
        "given_names": "ANNA MARIA",
        "document_number": "D23145890",
        "optional_data": "",
        "optional_data_2": "",
    }
    assert document.corrections == 0


def test_td2_fields_and_every_check() -> None:
    document = parse_mrz(TD2, today=TODAY)
    assert (document.format, document.checks_passed) == ("TD2", True)
    assert set(document.checks) == {"document_number", "birth_date", "expiry_date", "composite"}
    assert document.fields["document_number"] == "D23145890"
    assert (document.fields["surname"], document.fields["given_names"]) == ("ERIKSSON", "ANNA MARIA")


def test_td3_fields_and_every_check() -> None:
    document = parse_mrz(TD3, today=TODAY)
    assert (document.format, document.checks_passed) == ("TD3", True)
    assert set(document.checks) == {"document_number", "birth_date", "expiry_date", "personal_number", "composite"}
    assert document.fields["personal_number"] == "ZE184226B"
    assert document.fields["document_number"] == "L898902C3"
    assert document.expiry() == date(2012, 4, 15)


@pytest.mark.parametrize(("lines", "name"), [(MRVA, "MRVA"), (MRVB, "MRVB")])
def test_visas_have_no_composite(lines: tuple[str, str], name: str) -> None:
    document = parse_mrz(lines, today=TODAY)
    assert document.format == name
    assert document.checks == {"document_number": True, "birth_date": True, "expiry_date": True}
    assert document.fields["nationality"] == "XXX"


def test_a_long_td1_document_number_continues_in_the_optional_data() -> None:
    number = "D23145890734"
    first = f"I<UTO{number[:9]}<{number[9:]}{check_digit(number)}".ljust(30, "<")
    second = "7408122F1204159UTO<<<<<<<<<<<"
    composite = check_digit(first[5:30] + second[:7] + second[8:15] + second[18:29])
    document = parse_mrz((first, second + composite, TD1[2]), today=TODAY)
    assert document.fields["document_number"] == number and document.checks_passed
    assert document.fields["optional_data"] == ""


def test_a_wrong_check_digit_fails_only_its_checks() -> None:
    tampered = (TD3[0], TD3[1][:19] + "3" + TD3[1][20:])  # birth date check digit 2 -> 3
    document = parse_mrz(tampered, today=TODAY)
    assert document.checks["birth_date"] is False and document.checks["composite"] is False
    assert document.checks["document_number"] and document.checks["expiry_date"]
    assert not document.checks_passed


def test_a_changed_birth_date_fails_its_check_digit() -> None:
    tampered = (TD3[0], TD3[1][:13] + "750812" + TD3[1][19:])
    assert parse_mrz(tampered, today=TODAY).checks["birth_date"] is False


def test_ocr_confusions_are_corrected_only_where_the_field_type_says() -> None:
    # Nationality and name read with digits, dates and check digits with letters: all corrected.
    misread = ("P<UT0ER1KSSON<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<", "L898902C36UT07408I22F12O4159ZE184226B<<<<<10")
    document = parse_mrz(misread, today=TODAY)
    assert document.lines == TD3
    assert document.corrections == 6 and document.checks_passed


def test_alphanumeric_fields_are_never_guessed() -> None:
    # The document number may hold letters and digits: a misread O stays, and its check fails.
    misread = (TD3[0], "L8989O2C36" + TD3[1][10:])
    document = parse_mrz(misread, today=TODAY)
    assert document.fields["document_number"] == "L8989O2C3"
    assert document.checks["document_number"] is False


def test_the_ocr_alternatives_decide_before_the_table() -> None:
    # The table would make 0 an O; the OCR's second reading of that position is D.
    classes = "AAA"
    assert correct_line("0<<", classes) == "O<<"
    assert correct_line("0<<", classes, ["0DO", "<", "<"]) == "D<<"


def test_two_digit_years_are_placed_in_a_century() -> None:
    document = parse_mrz(TD3, today=TODAY)
    assert document.fields["birth_date"] == "1974-08-12"  # never in the future
    born_2011 = (TD3[0], TD3[1][:13] + "110101" + check_digit("110101") + TD3[1][20:])
    assert parse_mrz(born_2011, today=TODAY).fields["birth_date"] == "2011-01-01"


def test_a_date_that_is_no_date_is_none() -> None:
    lines = (TD3[0], TD3[1][:21] + "121345" + check_digit("121345") + TD3[1][28:])
    document = parse_mrz(lines, today=TODAY)
    assert document.fields["expiry_date"] is None and document.expiry() is None
    assert document.checks["expiry_date"] is True


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("P<UTO", "L898"), "no MRZ"),
        ((TD3[0],), "no MRZ"),
        ((TD3[0], TD3[1][:-1] + "*"), "only A-Z"),
    ],
)
def test_text_that_is_no_mrz_is_refused(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(MrzError, match=message):
        parse_mrz(lines, today=TODAY)
