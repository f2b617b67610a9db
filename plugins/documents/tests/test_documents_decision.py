"""The DOCUMENTS decision rule, on parsed ICAO specimens (expiry 2012-04-15)."""

from __future__ import annotations

from datetime import date

from appliance_plugin_documents.decision import decide
from appliance_plugin_documents.icao import check_digit, parse_mrz

from appliance.sdk import Resolution

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
VALID = parse_mrz(TD3, today=date(2010, 1, 1))


def test_valid_through_the_expiry_date() -> None:
    assert decide([VALID], decline_expired=True, today=date(2012, 4, 15)) == (Resolution.SUCCESS, [])
    assert decide([VALID], decline_expired=True, today=date(2012, 4, 16)) == (Resolution.DECLINED, ["expired"])
    assert decide([VALID], decline_expired=False, today=date(2012, 4, 16)) == (Resolution.SUCCESS, [])


def test_no_mrz_goes_to_an_operator() -> None:
    assert decide([], decline_expired=True, today=date(2010, 1, 1)) == (Resolution.OPERATOR_REQUIRED, ["no_mrz"])


def test_every_reason_is_listed() -> None:
    no_date = "121345"  # month 13
    body = TD3[1][:21] + no_date + check_digit(no_date) + TD3[1][28:43]
    broken = parse_mrz((TD3[0], body + "0"), today=date(2010, 1, 1))  # and a wrong composite
    resolution, reasons = decide([VALID, broken], decline_expired=True, today=date(2013, 1, 1))
    assert resolution is Resolution.DECLINED
    assert reasons == ["check_digit_failed", "invalid_expiry_date", "expired"]
