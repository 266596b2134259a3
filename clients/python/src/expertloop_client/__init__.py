"""expertloop's Python client: log AI outputs without slowing the product down; pull datasets, metrics and reports.

    from expertloop_client import Client

    client = Client()  # EXPERTLOOP_URL and EXPERTLOOP_API_KEY
    client.log_output("conv-1041:turn-3", "Yes, within 30 days.", input="Can I return worn shoes?")

See clients/python/README.md.
"""

from ._sender import Stats
from .client import Client, __version__
from .datasets import Dataset, DatasetVersion, QuestionAsked, QuestionHistory
from .errors import (
    AuthenticationFailed,
    BadRequest,
    BuildFailed,
    ChecksumMismatch,
    ConfigurationError,
    Conflict,
    ExpertloopError,
    Gone,
    NameTaken,
    NotFound,
    NotReady,
    PermissionDenied,
    RateLimited,
    RecordError,
    ServerError,
    StillPreparing,
)
from .metrics import Cycles, Metrics, Records

__all__ = [
    "AuthenticationFailed", "BadRequest", "BuildFailed", "ChecksumMismatch", "Client", "ConfigurationError", "Conflict",
    "Cycles", "Dataset", "DatasetVersion", "ExpertloopError", "Gone", "Metrics", "NameTaken", "NotFound", "NotReady",
    "PermissionDenied", "QuestionAsked", "QuestionHistory", "RateLimited", "Records", "RecordError", "ServerError",
    "Stats", "StillPreparing", "__version__",
]  # fmt: skip
