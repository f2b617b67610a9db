"""ICAO Doc 9303 machine readable zones: formats, check digits, field-wise OCR correction, parsing.

Pure Python, no image or OCR: `parse_mrz(lines)` takes the MRZ's lines as text.

Formats (Doc 9303 parts 4 to 7):

| format | lines x chars | first letter | documents |
|---|---|---|---|
| TD1 | 3 x 30 | I, A, C | ID cards |
| TD2 | 2 x 36 | I, A, C | ID cards, official travel documents |
| TD3 | 2 x 44 | P | passports |
| MRVA | 2 x 44 | V | visas, format A |
| MRVB | 2 x 36 | V | visas, format B |

Check digits (weights 7, 3, 1 repeating; 0-9 count as themselves, A-Z as 10-35, the filler `<` as
0; the sum modulo 10): every format checks the document number, the birth date and the expiry
date; TD3 also its personal number (optional data, whose check digit may be `<` when the field is
empty); TD1, TD2 and TD3 end with a composite check digit over the number, the dates and the
optional data (for TD1 both optional data fields). Visas have no composite. A TD1 or TD2 number
longer than nine characters continues in the optional data, its check digit after it, and `<`
stands in the check digit's usual place.

OCR confuses letters and digits that look alike (O and 0, I and 1, B and 8...). Each position of
a format has a character class: letters (document code, states, names, sex), digits (dates,
check digits) or both (document number, optional data). Where the class is letters or digits
and the character read is not, it is corrected: to the OCR's next best reading of that position
in the class when the OCR gives its alternatives, else by the confusion table below. Positions
that may hold both are never changed, so a misread there fails its check digit instead of being
guessed right.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

__all__ = [
    "FORMATS",
    "MrzDocument",
    "MrzError",
    "MrzFormat",
    "check_digit",
    "correct_line",
    "detect_format",
    "parse_mrz",
]

FILLER = "<"
LETTERS = frozenset(string.ascii_uppercase + FILLER)
DIGITS = frozenset(string.digits + FILLER)
#: Every character an MRZ may hold.
ALPHABET = string.ascii_uppercase + string.digits + FILLER

#: The letter a digit is mistaken for, and the digit a letter is mistaken for.
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "8": "B"}
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "A": "4", "S": "5", "G": "6", "B": "8"}

CharClass = Literal["A", "N", "X"]  # letters, digits, either
_Fields = dict[str, str | None]


class MrzError(ValueError):
    """The text is not the MRZ of any format (wrong number or length of lines, a foreign character)."""


@dataclass(frozen=True, slots=True)
class MrzFormat:
    name: str
    line_count: int
    length: int
    #: The first letter of the document code.
    codes: frozenset[str]
    #: Per line, one character class per position: A letters, N digits, X either (`<` fits all).
    classes: tuple[str, ...]


def _classes(*spans: tuple[int, CharClass]) -> str:
    return "".join(kind * count for count, kind in spans)


_NAME_LINE_44 = _classes((2, "A"), (3, "A"), (39, "A"))
_NAME_LINE_36 = _classes((2, "A"), (3, "A"), (31, "A"))
_DATA_LINE = _classes((9, "X"), (1, "N"), (3, "A"), (6, "N"), (1, "N"), (1, "A"), (6, "N"), (1, "N"))
FORMATS: dict[str, MrzFormat] = {
    "TD1": MrzFormat(
        "TD1",
        3,
        30,
        frozenset("IAC"),
        (
            _classes((2, "A"), (3, "A"), (9, "X"), (1, "N"), (15, "X")),
            _classes((6, "N"), (1, "N"), (1, "A"), (6, "N"), (1, "N"), (3, "A"), (11, "X"), (1, "N")),
            _classes((30, "A")),
        ),
    ),
    "TD2": MrzFormat("TD2", 2, 36, frozenset("IAC"), (_NAME_LINE_36, _DATA_LINE + _classes((7, "X"), (1, "N")))),
    "TD3": MrzFormat(
        "TD3", 2, 44, frozenset("P"), (_NAME_LINE_44, _DATA_LINE + _classes((14, "X"), (1, "N"), (1, "N")))
    ),
    "MRVA": MrzFormat("MRVA", 2, 44, frozenset("V"), (_NAME_LINE_44, _DATA_LINE + _classes((16, "X")))),
    "MRVB": MrzFormat("MRVB", 2, 36, frozenset("V"), (_NAME_LINE_36, _DATA_LINE + _classes((8, "X")))),
}


def check_digit(text: str) -> str:
    """The ICAO 9303 check digit of `text` (digits, capital letters and `<`)."""
    total = 0
    for position, char in enumerate(text):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        elif char == FILLER:
            value = 0
        else:
            raise MrzError(f"{char!r} cannot be in an MRZ")
        total += value * (7, 3, 1)[position % 3]
    return str(total % 10)


def detect_format(lines: Sequence[str]) -> MrzFormat | None:
    """The format whose line count and length the lines have, told apart by the document code."""
    shaped = [
        mrz_format
        for mrz_format in FORMATS.values()
        if len(lines) == mrz_format.line_count and all(len(line) == mrz_format.length for line in lines)
    ]
    by_code = next((mrz_format for mrz_format in shaped if lines[0][:1] in mrz_format.codes), None)
    # A misread code: the shape alone decides, ID cards and passports before visas.
    return by_code or (shaped[0] if shaped else None)


def correct_line(line: str, classes: str, alternatives: Sequence[str] | None = None) -> str:
    """`line` with each character that its position's class forbids replaced (see the module's docstring).

    `alternatives[i]`, when given, holds the OCR's readings of position i, best first.
    """
    corrected = []
    for position, (char, kind) in enumerate(zip(line, classes, strict=True)):
        allowed = LETTERS if kind == "A" else DIGITS if kind == "N" else None
        if allowed is not None and char not in allowed:
            ranked = alternatives[position] if alternatives is not None else ""
            table = DIGIT_TO_LETTER if kind == "A" else LETTER_TO_DIGIT
            char = next((c for c in ranked if c in allowed), table.get(char, char))
        corrected.append(char)
    return "".join(corrected)


@dataclass(frozen=True, slots=True)
class MrzDocument:
    """A parsed MRZ: its corrected lines, its fields, and which check digits passed."""

    format: str
    lines: tuple[str, ...]
    fields: _Fields
    #: Check digit name -> passed: document_number, birth_date, expiry_date, personal_number (TD3), composite.
    checks: dict[str, bool]
    #: How many characters the field-wise correction changed.
    corrections: int

    @property
    def checks_passed(self) -> bool:
        return all(self.checks.values())

    def expiry(self) -> date | None:
        value = self.fields.get("expiry_date")
        return date.fromisoformat(value) if value else None


def parse_mrz(
    lines: Sequence[str], alternatives: Sequence[Sequence[str]] | None = None, *, today: date | None = None
) -> MrzDocument:
    """Parse the lines of an MRZ: detect the format, correct field-wise, read the fields, verify every check digit.

    `alternatives[line][position]` are the OCR's readings of each position, best first (optional).
    `today` places two-digit years in a century (default: today, UTC): a birth date is never in the
    future, an expiry date at most 50 years ahead. Raises MrzError when the lines are no MRZ.
    """
    lines = [line.strip().upper() for line in lines]
    for line in lines:
        foreign = set(line) - set(ALPHABET)
        if foreign:
            raise MrzError(f"an MRZ holds only A-Z, 0-9 and <, not {''.join(sorted(foreign))!r}")
    mrz_format = detect_format(lines)
    if mrz_format is None:
        shape = " + ".join(str(len(line)) for line in lines)
        raise MrzError(f"{len(lines)} lines of {shape} characters are no MRZ (TD1 3x30, TD2 2x36, TD3 2x44)")
    corrected = [
        correct_line(line, classes, alternatives[i] if alternatives is not None else None)
        for i, (line, classes) in enumerate(zip(lines, mrz_format.classes, strict=True))
    ]
    # The document code decides between ID card and visa once its first letter is corrected.
    if corrected[0][0] not in mrz_format.codes:
        mrz_format = detect_format(corrected) or mrz_format
    changes = sum(a != b for line, fixed in zip(lines, corrected, strict=True) for a, b in zip(line, fixed))
    reader = _read_td1 if mrz_format.name == "TD1" else _read_two_line
    fields, checks = reader(mrz_format, corrected, today or datetime.now(UTC).date())
    return MrzDocument(mrz_format.name, tuple(corrected), fields, checks, changes)


def _verify(value: str, digit: str) -> bool:
    return check_digit(value) == digit


def _text(value: str) -> str:
    return value.replace(FILLER, " ").strip()


def _names(field: str) -> tuple[str, str]:
    primary, _, secondary = field.partition(FILLER * 2)
    return _text(primary), _text(secondary)


def _date(yymmdd: str, today: date, *, past: bool) -> str | None:
    """ISO date of a YYMMDD field, or None when it is no date (unknown parts are `<`)."""
    if not yymmdd.isdigit():
        return None
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    century = today.year // 100 * 100
    year = century + yy
    if past and year > today.year:
        year -= 100
    elif not past and year > today.year + 50:
        year -= 100
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _sex(char: str) -> str:
    return char if char in ("M", "F") else "X"


def _long_number(number: str, digit: str, optional: str) -> tuple[str, str, str]:
    """A TD1/TD2 number longer than 9 characters: (number, its check digit, the optional data left)."""
    if digit != FILLER or not optional or optional[0] == FILLER:
        return number, digit, optional
    extension = optional.split(FILLER, 1)[0]
    if len(extension) < 2:
        return number, digit, optional
    return number + extension[:-1], extension[-1], optional[len(extension) :]


def _identity(head: str, nationality: str, birth: str, sex: str, expiry: str, today: date) -> _Fields:
    expiry_date = _date(expiry, today, past=False)
    birth_date = _date(birth, today, past=True)
    if birth_date and expiry_date and birth_date >= expiry_date:  # born before the document expires
        birth_date = _date(birth, date(int(birth_date[:4]) - 1, 12, 31), past=True)
    return {
        "document_type": _text(head[:2]),
        "issuing_state": _text(head[2:5]),
        "nationality": _text(nationality),
        "birth_date": birth_date,
        "sex": _sex(sex),
        "expiry_date": expiry_date,
    }


#: Two-line formats: where the optional data ends, and where the data the composite covers ends
#: (None: no composite). The second line's first 28 positions are laid out alike in all of them.
_TWO_LINE_LAYOUT: dict[str, tuple[int, int | None]] = {
    "TD2": (35, 35),
    "TD3": (42, 43),
    "MRVA": (44, None),
    "MRVB": (36, None),
}


def _read_two_line(mrz_format: MrzFormat, lines: list[str], today: date) -> tuple[_Fields, dict[str, bool]]:
    head, data = lines
    optional_end, composite_end = _TWO_LINE_LAYOUT[mrz_format.name]
    optional = data[28:optional_end]
    number, number_digit, rest = data[:9], data[9], optional
    if mrz_format.name == "TD2":
        number, number_digit, rest = _long_number(number, number_digit, optional)
    surname, given_names = _names(head[5:])
    fields = {
        **_identity(head, data[10:13], data[13:19], data[20], data[21:27], today),
        "surname": surname,
        "given_names": given_names,
        "document_number": _text(number),
        "personal_number" if mrz_format.name == "TD3" else "optional_data": _text(rest),
    }
    checks = {
        "document_number": _verify(number, number_digit),
        "birth_date": _verify(data[13:19], data[19]),
        "expiry_date": _verify(data[21:27], data[27]),
    }
    if mrz_format.name == "TD3":
        empty = set(optional) == {FILLER} and data[42] == FILLER
        checks["personal_number"] = empty or _verify(optional, data[42])
    if composite_end is not None:
        checks["composite"] = _verify(data[:10] + data[13:20] + data[21:composite_end], data[composite_end])
    return fields, checks


def _read_td1(mrz_format: MrzFormat, lines: list[str], today: date) -> tuple[_Fields, dict[str, bool]]:
    first, data, names = lines
    number, number_digit, optional = _long_number(first[5:14], first[14], first[15:30])
    surname, given_names = _names(names)
    fields = {
        **_identity(first, data[15:18], data[:6], data[7], data[8:14], today),
        "surname": surname,
        "given_names": given_names,
        "document_number": _text(number),
        "optional_data": _text(optional),
        "optional_data_2": _text(data[18:29]),
    }
    checks = {
        "document_number": _verify(number, number_digit),
        "birth_date": _verify(data[:6], data[6]),
        "expiry_date": _verify(data[8:14], data[14]),
        "composite": _verify(first[5:30] + data[:7] + data[8:15] + data[18:29], data[29]),
    }
    return fields, checks
