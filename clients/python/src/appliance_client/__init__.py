"""A typed Python client for the liveness appliance's REST API (docs/python-client.md).

with Client("http://appliance.local:8000") as client:
    client.login("ops@bank.example", password)
    folder = client.create_folder([Upload(Path("selfie.jpg"), ["photo_selfie"])], analyses=["QUALITY"])
"""

from __future__ import annotations

from .aio import AsyncClient
from .client import Client
from .core import RetryPolicy
from .errors import ApiError, PollTimeout
from .models import (
    Analysis,
    AnalysisIn,
    AnalysisState,
    CaptureSession,
    CaptureStep,
    ErrorBody,
    Folder,
    FolderStatus,
    Media,
    MediaType,
    Resolution,
    ResultMedia,
    Role,
    Tokens,
    User,
    Version,
)
from .uploads import ProgressCallback, Upload

__all__ = [
    "Analysis",
    "AnalysisIn",
    "AnalysisState",
    "ApiError",
    "AsyncClient",
    "CaptureSession",
    "CaptureStep",
    "Client",
    "ErrorBody",
    "Folder",
    "FolderStatus",
    "Media",
    "MediaType",
    "PollTimeout",
    "ProgressCallback",
    "Resolution",
    "ResultMedia",
    "RetryPolicy",
    "Role",
    "Tokens",
    "Upload",
    "User",
    "Version",
]
