"""The DOCUMENTS decision from the MRZs read on a folder's document photos.

- no MRZ found on any photo: OPERATOR_REQUIRED (`no_mrz`). A missing MRZ is no evidence of
  fraud (a document without one, a blurred or cropped photo): a person has to look;
- an MRZ with a failed check digit: DECLINED (`check_digit_failed`);
- an MRZ whose expiry date is not a date: DECLINED (`invalid_expiry_date`);
- a document expired before today (UTC), when the param `decline_expired` is true (the default):
  DECLINED (`expired`); a document is valid through its expiry date;
- otherwise SUCCESS.

Every reason that applies is reported; DECLINED outranks OPERATOR_REQUIRED.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from appliance.sdk import Resolution
from appliance_plugin_documents.icao import MrzDocument

__all__ = ["decide", "is_expired"]


def is_expired(document: MrzDocument, today: date) -> bool | None:
    """Whether the document expired before `today`; None when its expiry date is not a date."""
    expiry = document.expiry()
    return None if expiry is None else expiry < today


def decide(documents: Sequence[MrzDocument], *, decline_expired: bool, today: date) -> tuple[Resolution, list[str]]:
    """The resolution and its reasons (see the module's docstring)."""
    if not documents:
        return Resolution.OPERATOR_REQUIRED, ["no_mrz"]
    reasons = []
    if not all(document.checks_passed for document in documents):
        reasons.append("check_digit_failed")
    expired = [is_expired(document, today) for document in documents]
    if None in expired:
        reasons.append("invalid_expiry_date")
    if decline_expired and any(expired):
        reasons.append("expired")
    return (Resolution.DECLINED if reasons else Resolution.SUCCESS), reasons
