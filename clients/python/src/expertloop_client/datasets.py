"""Eval datasets: versions, their rows (cursor pages), verified downloads, pandas and Hugging Face `datasets`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import quote, urlsplit

from ._reader import PREPARE_WAIT, VERSION_HEADER, Reader
from .errors import BuildFailed, ChecksumMismatch, ExpertloopError
from .metrics import Records

if TYPE_CHECKING:
    import datasets
    import pandas

Format = Literal[
    "jsonl",
    "csv",
    "parquet",
    "openai-chat",
    "openai-preference",
    "openai-evals",
    "langsmith",
    "langfuse",
    "braintrust",
    "hf",
]
FORMATS = (
    "jsonl", "csv", "parquet", "openai-chat", "openai-preference", "openai-evals", "langsmith", "langfuse",
    "braintrust", "hf",
)  # fmt: skip
# The server's file name extension per format: the eval formats are JSONL files, `hf` a zip.
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet", "hf": "hf.zip"}
CHUNK = 1 << 16
# The `hf` zip: its features (`datasets.Features.to_dict()`) and one JSONL file per split, named as Hugging Face wants.
HF_FEATURES = "features.json"
HF_SPLIT_FILE = re.compile(r"data/(\w+(?:\.\w+)*)\.jsonl")


class QuestionAsked(TypedDict):
    """A question as one rubric version asked it."""

    rubric_version: int
    key: str
    kind: str  # binary, rating, choice, multi_choice, text or correction
    prompt: str
    required: bool
    help: str
    options: list[str] | None  # a choice's options
    scale: list[int] | None  # a rating's [min, max]


class QuestionHistory(TypedDict):
    """One question a dataset keeps, as each rubric version a version's rows answered asked it."""

    key: str
    changed: bool  # it changed meaning between them: compare its values within one rubric_version only
    what_changed: list[str]  # of kind, scale, options; empty when unchanged
    warning: str | None  # the dataset card's warning line for a changed key
    asked: list[QuestionAsked]  # oldest first; a rubric version that did not ask it is left out


class Dataset:
    """One dataset of the project, by its slug (as in its URL: `/p/<project>/datasets/<slug>/`)."""

    def __init__(self, reader: Reader, project: Callable[[], str], slug: str):
        self._reader = reader
        self._project = project
        self.slug = slug

    @property
    def path(self) -> str:
        return f"/api/v1/projects/{quote(self._project(), safe='')}/datasets/{quote(self.slug, safe='')}"

    def details(self) -> dict[str, Any]:
        """The dataset as the API describes it: its definition, `latest_version` and `build` (`state`: idle, queued,
        building or failed; `version`; `error`). A key with `read` or `datasets` may ask."""
        return dict(self._reader.get_json(self.path))

    def build(
        self, *, full: bool = False, wait: bool = True, timeout: float = 3600.0, interval: float = 2.0
    ) -> dict[str, Any]:
        """Ask the server's worker for a new version (a key with the `datasets` scope; `full`: every row from scratch)
        and, with `wait`, poll `details()` every `interval` seconds until the build is over: the dataset is returned
        then, its `latest_version` the new version (the same one when nothing had changed, as no version is made
        then). A failed build raises BuildFailed with the server's reason; one still under way after `timeout`
        seconds raises ExpertloopError. Without `wait`: the server's 202 answer (`status`, `status_url`,
        `latest_version`). Asking again while a build is asked for adds nothing, so the request is retried as reads
        are."""
        answer = dict(self._reader.post_json(f"{self.path}/build", params={"full": "true"} if full else None))
        if not wait:
            return answer
        deadline = time.monotonic() + timeout
        while True:
            dataset = self.details()
            build = dataset["build"]
            if build["state"] == "idle":
                return dataset
            if build["state"] == "failed":
                raise BuildFailed(f"The build of {self.slug} failed: {build.get('error') or 'no reason given'}")
            if time.monotonic() + interval > deadline:
                raise ExpertloopError(
                    f"The build of {self.slug} was still {build['state']} after {timeout:g} s: is a Celery worker "
                    "running?"
                )
            time.sleep(interval)

    def versions(self) -> Records:
        """Every version, newest first (each as `version(n).info` would give it)."""
        return Records(_pages(self._reader, f"{self.path}/versions", {"page_size": 1000}))

    def version(self, version: int | str = "latest") -> DatasetVersion:
        """A version by number (3, or "3" as its URL has it), or `latest`: the newest ready one (pinned to its number on
        first use)."""
        number = int(version) if isinstance(version, str) and version.isascii() and version.isdigit() else version
        # A bool is an int to Python, yet True is no version number.
        if number != "latest" and not (isinstance(number, int) and not isinstance(number, bool) and number > 0):
            raise ValueError(f"version is a positive number (3, or '3' as in its URL) or 'latest', not {version!r}")
        return DatasetVersion(self, number)

    def diff(self, from_: int, to: int | str = "latest") -> dict[str, Any]:
        """The external ids `added`, `removed` and `changed` from version `from_` to `to` (a number or `latest`), with
        `from` and `to` as numbers (the `read` scope). Each list holds its first 1,000 ids; `added_left_out`,
        `removed_left_out` and `changed_left_out` count the rest. `changed_rows`: what changed in each of the first
        1,000 changed rows (`fields` that differ; `gold`: question → its gold answer `before` and `after`),
        `changed_rows_left_out` the rest. Either version withdrawn: Gone; not ready: NotReady."""
        return dict(self._reader.get_json(f"{self.path}/diff", {"from": from_, "to": to}))


class DatasetVersion:
    def __init__(self, dataset: Dataset, version: int | str):
        self.dataset = dataset
        self._reader = dataset._reader
        self._asked = version

    @cached_property
    def info(self) -> dict[str, Any]:
        """The version as the API describes it: number, status, row_count, split_counts, sha256, …"""
        return dict(self._reader.get_json(f"{self.dataset.path}/versions/{self._asked}"))

    @property
    def number(self) -> int:
        return int(self.info["number"])

    @property
    def sha256(self) -> str:
        """The SHA-256 of the version's canonical JSONL."""
        return str(self.info["sha256"])

    @property
    def rubric_versions(self) -> list[int]:
        """The rubric versions the version's rows answered, ascending (a row's `rubric_version` is one of them)."""
        return [int(number) for number in self.info["rubric_versions"]]

    @property
    def questions(self) -> list[QuestionHistory]:
        """Each question the dataset keeps, in the newest rubric's order, as each of `rubric_versions` asked it
        (`asked`), and whether its meaning changed between them (`changed`, `what_changed`: kind, scale, options;
        `warning`): a changed key's values compare only within one `rubric_version`."""
        return list(self.info["questions"])

    @property
    def path(self) -> str:
        # Every read names the number `info` found, so rows, downloads and pandas all come from one version
        # even when `latest` moves on in the meantime.
        return f"{self.dataset.path}/versions/{self.number}"

    def withdraw(self, reason: str, *, timeout: float = 600.0) -> dict[str, Any]:
        """Withdraw this version so that nobody pulls it any more (bad gold, text redacted since): its rows and files
        are deleted, its record stays, and its rows, downloads and diffs raise Gone with `reason` from then on. Needs
        a key with the `datasets` scope that a lead or admin issued. Returns the version as it now is (also `info`).

        Name the version by number: `version("latest").withdraw(…)` is refused (BadRequest), as a repeat would withdraw
        the version before it. Withdrawing a withdrawn version changes nothing, so a retry is harmless (and the
        client retries a 429, a 5xx or a lost answer). BadRequest (no reason, over 2,000 characters),
        PermissionDenied (no `datasets` scope, or an engineer's key), NotFound, NotReady (building or failed).

        The server withdraws only once a build in flight that copies the version's rows is over: the answer is
        waited for up to `timeout` seconds, not the client's (shorter) request timeout."""
        # The number as asked, not as `info` pinned it: the server refuses `latest` with its reason.
        path = f"{self.dataset.path}/versions/{self._asked}/withdraw"
        answer = dict(self._reader.post_json(path, {"reason": reason}, read_timeout=timeout))
        self.__dict__["info"] = answer  # the cached_property, now the withdrawn version
        return answer

    def iter_rows(self, split: str | None = None, *, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row in order (one canonical JSON row each), following the rows endpoint's cursor pages."""
        return _pages(self._reader, f"{self.path}/rows", {"split": split, "page_size": page_size})

    def to_pandas(self, split: str | None = None) -> pandas.DataFrame:
        """The rows as a DataFrame, a column per field, values as in the JSONL (timestamps as ISO strings)."""
        from .metrics import _pandas

        return _pandas().DataFrame.from_records(list(self.iter_rows(split)))

    def download(self, path: str | os.PathLike[str], format: Format = "jsonl") -> Path:
        """Stream the version to `path` (a file, or a directory to get the server's file name) and verify it.

        JSONL: the SHA-256 of the bytes must be the version's `sha256` (the ETag is not needed). Every other format is
        converted by the server from those rows: its ETag (`"<sha256>-csv"`, `"<sha256>-hf"`, …, or weak `W/"…"` as a
        compressing proxy makes it; a format whose bytes changed carries its revision, `.v<n>` as in
        `"<sha256>-parquet.v4"`) must name this version's sha256 and the format. Parquet and `hf`, files the server
        made once, come with their SHA-256 in `Repr-Digest` (RFC 9530), which the bytes must match; besides, a
        Parquet file must begin and end with its magic bytes, an `hf` zip must be a whole zip whose
        entries pass their CRC check, and each line of the eval JSONL formats (`openai-chat`, `openai-preference`,
        `openai-evals`, `langsmith`, `langfuse`, `braintrust`) must be JSON. On any mismatch ChecksumMismatch is raised
        and nothing is left at `path` (the bytes go to a temporary file beside it, renamed only once verified). A
        directory as `path` (or a path ending in `/`, a folder made if need be) gets the server's file name,
        `<project>-<dataset>-v<number>.<ext>` (`openai-chat.jsonl`, `hf.zip`, …).
        """
        if format not in FORMATS:
            raise ValueError(f"format is one of {', '.join(FORMATS)}, not {format!r}")
        given = os.fspath(path)
        target = Path(given)
        # "exports/" names a folder even before it exists: made here, not taken for a file named "exports".
        if given.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
            target.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            extension = EXTENSIONS.get(format, f"{format}.jsonl")
            target = target / f"{self.dataset._project()}-{self.dataset.slug}-v{self.number}.{extension}"
        expected_etag = f'"{self.sha256}-{format}'  # then `"`, or the format's revision `.v<n>"`
        handle, temporary = _temporary_beside(target)
        try:
            digest = hashlib.sha256()
            head = tail = b""
            with (
                os.fdopen(handle, "wb") as file,
                self._reader.stream(f"{self.path}/download", {"format": format}, prepare_wait=PREPARE_WAIT) as r,
            ):
                served = r.headers.get(VERSION_HEADER)
                published = _sha256_of_repr_digest(r.headers.get("Repr-Digest", ""))
                if served != str(self.number):
                    raise ExpertloopError(f"Asked for version {self.number}, the server sent version {served}.")
                # JSONL is checked by the SHA-256 of its bytes below. The ETag of a converted format is all that names
                # its version; a proxy that compresses weakens it (W/"…"), which still names the same content.
                etag = r.headers.get("ETag", "").removeprefix("W/")
                if format != "jsonl" and not (
                    etag.startswith(expected_etag) and re.fullmatch(r'(\.v[0-9]+)?"', etag[len(expected_etag) :])
                ):
                    raise ChecksumMismatch(
                        f"The server's ETag {etag} does not name version {self.number} ({expected_etag}).",
                        expected=expected_etag,
                        actual=etag,
                    )
                for chunk in r.iter_bytes(CHUNK):
                    digest.update(chunk)
                    file.write(chunk)
                    head = head or chunk[:4]
                    tail = (tail + chunk)[-4:]
            actual = digest.hexdigest()
            if format == "jsonl" and actual != self.sha256:
                raise ChecksumMismatch(
                    f"The download's SHA-256 is {actual}, version {self.number}'s is {self.sha256}: "
                    "the file was changed on the way. Nothing was written.",
                    expected=self.sha256,
                    actual=actual,
                )
            if published is not None and actual != published:
                raise ChecksumMismatch(
                    f"The download's SHA-256 is {actual}, the server's Repr-Digest says {published}: the file was "
                    "changed on the way or on the server's disk. Nothing was written.",
                    expected=published,
                    actual=actual,
                )
            if format == "parquet" and not (head == tail == b"PAR1"):
                raise ChecksumMismatch(
                    "The Parquet download is not a whole Parquet file.",
                    expected="PAR1…PAR1",
                    actual=f"{head!r}…{tail!r}",
                )
            if format not in ("jsonl", "csv", "parquet"):
                _check_derived(Path(temporary), format)
            os.replace(temporary, target)
            return target
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def to_hf(
        self, split: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None
    ) -> datasets.DatasetDict | datasets.Dataset:
        """The version as Hugging Face `datasets`, loaded from the verified `hf` download with the types of its card
        (`features.json`): a DatasetDict with one entry per split, named as Hugging Face wants (`hold-out` becomes
        `hold_out`), or the Dataset of one `split` (either spelling)."""
        try:
            import datasets
        except ImportError:
            raise ImportError("datasets is not installed: pip install 'expertloop-client[hf]'") from None
        wanted = split.replace("-", "_") if split is not None else None
        with tempfile.TemporaryDirectory(prefix="expertloop-") as folder:
            archive = self.download(Path(folder) / "version.hf.zip", format="hf")
            files: dict[str, str] = {}
            with zipfile.ZipFile(archive) as zipped:
                # Types from the card, never inferred: `datasets` infers them from the first split it reads, and
                # types a column null that split leaves empty (a question nobody answered there), then fails on
                # the next split that has a value.
                features = datasets.Features.from_dict(json.loads(zipped.read(HF_FEATURES)))
                for member in zipped.namelist():
                    found = HF_SPLIT_FILE.fullmatch(member)
                    if found is None or (wanted is not None and found.group(1) != wanted):
                        continue
                    # Copied under a name of our own: nothing in the zip chooses where a file goes.
                    files[found.group(1)] = str(Path(folder) / f"split-{len(files)}.jsonl")
                    with zipped.open(member) as source, open(files[found.group(1)], "wb") as copy:
                        shutil.copyfileobj(source, copy)
            if not files:
                where = f" in split {split!r}" if split else ""
                raise ExpertloopError(f"Version {self.number} has no rows{where}.")
            loaded = datasets.load_dataset("json", data_files=files, features=features, cache_dir=cache_dir)
            # Arrow has the rows in memory or in its cache now: the temporary files may go.
            return loaded[wanted] if wanted is not None else loaded


def _temporary_beside(target: Path) -> tuple[int, str]:
    """A new file beside `target` for the bytes until they are verified (its open descriptor and its path). Made with
    the permissions any new file of the process gets (the umask's), not mkstemp's owner-only ones, which the renamed
    download would keep."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows only
    while True:
        temporary = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


def _check_derived(path: Path, format: str) -> None:
    """An eval format's file is whole: a zip that reads back with good CRCs, or JSONL whose every line is JSON."""
    if format == "hf":
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except zipfile.BadZipFile:
            broken = "(not a zip)"
        if broken is not None:
            raise ChecksumMismatch(
                f"The hf download is not a whole zip: {broken} does not read back.", expected="a zip", actual=broken
            )
        return
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                json.loads(line)
            except ValueError:
                raise ChecksumMismatch(
                    f"Line {number} of the {format} download is not JSON.",
                    expected="JSON lines",
                    actual=line[:80].decode(errors="replace"),
                ) from None


def _pages(reader: Reader, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    page = reader.get_json(path, params)
    while True:
        yield from page["results"]
        following = page.get("next")
        if not following:
            return
        # The path and query only: behind a proxy the server may not know the URL its caller used.
        link = urlsplit(following)
        page = reader.get_json(f"{link.path}?{link.query}" if link.query else link.path)


_REPR_DIGEST_SHA256 = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):")


def _sha256_of_repr_digest(header: str) -> str | None:
    """The SHA-256 (hex) a `Repr-Digest` header gives (RFC 9530: `sha-256=:<base64>:`, among other algorithms), or
    None without one."""
    found = _REPR_DIGEST_SHA256.search(header)
    if found is None:
        return None
    try:
        digest = base64.b64decode(found.group(1), validate=True)
    except ValueError:
        return None
    return digest.hex() if len(digest) == 32 else None
