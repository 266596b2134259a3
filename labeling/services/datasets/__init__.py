"""Define eval datasets and build their immutable, numbered versions.

A build runs in two steps. First, under the dataset's row lock, it claims a version number and marks
it `building` (at most one per dataset; a redelivered task finds it and carries on). Then, in one
transaction, it writes every row and the SHA-256 of the canonical JSONL, and flips the version to
`ready`: a killed worker rolls the whole step back, so a version is never seen ready before it is
complete. Rows whose sources did not change since the version before (same definition, same source
digest) are copied from it inside the database rather than built again; the bytes are those of a build
from scratch. When the rows hash to the same checksum as the last ready version, nothing changed: the
claimed number is released and no version is made. See labeling/services/README.md.

The package, by what each part decides:
  definitions.py  a dataset's definition (create_dataset) and asking a worker for a build (request_build)
  rows.py         what a row holds and in which order: the key cursor, the row maker, the definition fingerprint
  storage.py      rows as stored: written by COPY, copied from the version before, checksummed, compared
  builds.py       a build from claim to ready (build_version), and a copy without some rows (erasure)
  withdrawals.py  a ready version withdrawn: by a lead (withdraw_version), or by an erasure (withdraw_versions)
"""

from .builds import build_version, copy_version_without
from .definitions import DatasetSpec, create_dataset, definition_problems, request_build
from .rows import definition_fingerprint, split_of
from .storage import delete_rows, version_diff
from .withdrawals import REASON_MAX_CHARS, Withdrawal, withdraw_version, withdraw_versions

__all__ = [
    "REASON_MAX_CHARS",
    "DatasetSpec",
    "build_version",
    "copy_version_without",
    "create_dataset",
    "definition_fingerprint",
    "definition_problems",
    "delete_rows",
    "request_build",
    "split_of",
    "version_diff",
    "Withdrawal",
    "withdraw_version",
    "withdraw_versions",
]
