"""What every download of a dataset version reads: its stored lines in order, and the shape of its rows.

The shape (`RowShape`) is what the typed formats (Parquet's nested columns, the Hugging Face files) and the
eval formats need besides the lines: the questions the rows answer, each with one type by its kind, the
verdict question of each rubric version, and the version's provenance. It is read from every rubric version
the version's labels answered (a published rubric is never edited; an older label's version too, not only each
row's newest), so it names the same bytes for as long as the version exists.

A key asked as one kind throughout is one typed field. A key some version asked as another kind (a yes/no since
made a rating) is a field per kind: the plain key has the newest kind's type, and `<key>@<kind>` (`tone@choice`)
holds the answers given as that older kind, typed by it. Every answer lands in the field of the kind the version
that asked it used (a label's by its annotation's `rubric_version`, the gold by the row's), so none is lost.
"""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection

from labeling.models import DatasetLine, DatasetRow, DatasetVersion, QuestionKind, Rubric
from labeling.rules.gold import is_of_kind, verdict_question
from labeling.rules.rubric_questions import QuestionHistory, question_histories

# Rows a build writes and a download reads per statement (the datasets service builds with it too).
ROW_CHUNK = 2000
FLUSH_BYTES = 256 * 1024


def stored_lines(version: DatasetVersion, *, split: str | None = None) -> Iterator[str]:
    """The version's canonical lines in position order (of one split if given), ROW_CHUNK at a time."""
    # Keyset pages on (version, [split,] position), not a server-side cursor: outside a transaction Django
    # declares it WITH HOLD, which PostgreSQL materialises in full before the first row (2 s of waiting for
    # 300k rows), and a transaction held open for a slow download would hold back vacuum instead.
    after = -1
    while True:
        page = _page(version.pk, split, after)
        for _, line in page:
            yield line
        if len(page) < ROW_CHUNK:
            return
        after = page[-1][0]


# Each row's line probed by its primary key (LATERAL … OFFSET 0, which PostgreSQL does not flatten into a join):
# as a plain join, it planned most pages in parallel, whose start cost more than the page (9-21 ms against 2-3 ms).
_PAGE_SQL = (
    f"SELECT stored.position, line.text FROM {DatasetRow._meta.db_table} stored "
    f"CROSS JOIN LATERAL (SELECT text FROM {DatasetLine._meta.db_table} WHERE id = stored.line_id OFFSET 0) line "
    f"WHERE stored.version_id = %s {{split}} AND stored.position > %s ORDER BY stored.position LIMIT {ROW_CHUNK}"
)


def _page(version_id: int, split: str | None, after: int) -> list[tuple[int, str]]:
    """(position, line) of the next ROW_CHUNK rows after position `after`."""
    if connection.vendor != "postgresql":
        rows = DatasetRow.objects.filter(version_id=version_id, position__gt=after)
        rows = rows.filter(split=split) if split is not None else rows
        return list(rows.order_by("position").values_list("position", "line__text")[:ROW_CHUNK])
    with connection.cursor() as cursor:
        if split is None:
            cursor.execute(_PAGE_SQL.format(split=""), [version_id, after])
        else:
            cursor.execute(_PAGE_SQL.format(split="AND stored.split = %s"), [version_id, split, after])
        return cursor.fetchall()


def batched(pieces: Iterable[str], *, rows: int = ROW_CHUNK, size: int = FLUSH_BYTES) -> Iterator[bytes]:
    """Join pieces into chunks of at most `rows` pieces, sooner when a chunk reaches `size` characters."""
    batch, length = [], 0
    for piece in pieces:
        batch.append(piece)
        length += len(piece)
        if len(batch) >= rows or length >= size:
            yield "".join(batch).encode()
            batch, length = [], 0
    if batch:
        yield "".join(batch).encode()


class Drain(io.RawIOBase):
    """A write-only file that keeps what was written until drained; tell() counts every byte ever written,
    which the Parquet writer needs for the offsets in its footer."""

    def __init__(self):
        super().__init__()
        self._chunks: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _gold_value(kind: str, value: Any) -> Any:
    if not is_of_kind(kind, value):
        return None
    if kind == QuestionKind.RATING:
        return float(value)
    return [str(option) for option in value] if kind == QuestionKind.MULTI_CHOICE else value


# One type per question kind (rules.gold.is_of_kind): the gold value (a rating's median can fall between two steps,
# so it is a float; a text or correction is gold only once decided, one string: the experts' undecided texts, method
# `list`, stay in the annotations) and an expert's raw answer (a rating is a whole number).
GOLD_VALUE = {kind: partial(_gold_value, kind) for kind in QuestionKind}
ANSWER_VALUE = {
    **GOLD_VALUE,
    QuestionKind.RATING: lambda v: v if is_of_kind(QuestionKind.RATING, v) and isinstance(v, int) else None,
}


def field_name(key: str, kind: str) -> str:
    """The typed field of a key's answers given as an older kind than its newest: `@` is in no question key."""
    return f"{key}@{kind}"


@dataclass(frozen=True)
class RowShape:
    """The questions of a version's rows and its provenance (see the module docstring)."""

    project: str
    dataset: str
    dataset_name: str
    number: int
    sha256: str
    only_resolved: bool
    rubric_versions: tuple[int, ...]
    kinds: dict[str, str]  # question key → kind, in the newest rubric's order, then older keys
    verdict_keys: dict[int, str | None]  # rubric version → its verdict question (None: it has none)
    questions: tuple[QuestionHistory, ...] = ()  # each kept key as each rubric version asked it, and what changed
    asked_kinds: dict[int, dict[str, str]] = field(default_factory=dict)  # rubric version → kept key → its kind
    # The typed fields of `label` and each annotation's `answers`: field name → (key, kind), each key's newest kind
    # under the key itself, then its older kinds as `<key>@<kind>` (see the module docstring).
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, version: DatasetVersion) -> "RowShape":
        """Read the shape of a version's rows: one query for its dataset and project, one for its rubrics."""
        version = DatasetVersion.objects.select_related("dataset__project").get(pk=version.pk)
        dataset = version.dataset
        wanted = set(dataset.questions or [])
        rubrics = Rubric.objects.filter(project_id=dataset.project_id, version__in=version.rubric_versions or [])
        kinds: dict[str, str] = {}
        verdict_keys: dict[int, str | None] = {}
        asked_in: dict[int, list[dict]] = {}
        asked_kinds: dict[int, dict[str, str]] = {}
        older_kinds: dict[str, list[str]] = {}
        for rubric_version, questions in rubrics.order_by("-version").values_list("version", "questions"):
            asked_in[rubric_version] = questions
            kept = [q for q in questions if not wanted or q["key"] in wanted]
            # The pass rate's question of this rubric version; a dataset that leaves it out has no verdict (another
            # binary question it keeps never stands in for it).
            verdict = verdict_question(questions)
            verdict_keys[rubric_version] = verdict["key"] if verdict and verdict in kept else None
            asked_kinds[rubric_version] = {question["key"]: question["kind"] for question in kept}
            for question in kept:
                key, kind = question["key"], question["kind"]
                if kinds.setdefault(key, kind) != kind and kind not in older_kinds.setdefault(key, []):
                    older_kinds[key].append(kind)  # the newest version's kind has the key; an older one its own
        fields = {}
        for key, kind in kinds.items():
            fields[key] = (key, kind)
            fields.update({field_name(key, older): (key, older) for older in older_kinds.get(key, ())})
        return cls(
            project=dataset.project.slug,
            dataset=dataset.slug,
            dataset_name=dataset.name,
            number=version.number,
            sha256=version.sha256,
            only_resolved=dataset.only_resolved,
            rubric_versions=tuple(version.rubric_versions or []),
            kinds=kinds,
            verdict_keys=verdict_keys,
            questions=tuple(question_histories(asked_in, keys=wanted)),
            asked_kinds=asked_kinds,
            fields=fields,
        )

    def field_of(self, key: str, rubric_version: int | None) -> str | None:
        """The typed field of an answer to `key` given under `rubric_version` (None: a key the shape does not keep).
        A version the shape does not know (never, for rows read with it) is taken to ask it as the newest did."""
        if key not in self.kinds:
            return None
        kind = self.asked_kinds.get(rubric_version, {}).get(key, self.kinds[key])
        return key if kind == self.kinds[key] else field_name(key, kind)

    # -- the gold verdict ------------------------------------------------------------------------------------

    def settled(self, row: dict) -> bool:
        """Whether the row's gold is settled (its item resolved, no question waiting for a lead). A row stored before
        rows had `gold_status` is settled only in a dataset that takes resolved items alone."""
        return row.get("gold_status", "resolved" if self.only_resolved else None) == "resolved"

    def verdict_key(self, row: dict) -> str | None:
        """The row's verdict question: the first binary question of the rubric version it was labeled with (the one
        the pass rate reads); None when the dataset does not keep that question."""
        return self.verdict_keys.get(row["rubric_version"])

    def verdict(self, row: dict) -> bool | None:
        """True when the row's gold passes, False when it fails, None when undecided (a tie, unresolved) or
        when its rubric has no verdict question."""
        key = self.verdict_key(row)
        value = (row["label"].get(key) or {}).get("value") if key else None
        return value if isinstance(value, bool) else None

    # -- typed nested fields (Parquet, Hugging Face) -----------------------------------------------------------

    def typed_label(self, label: dict, *, rubric_version: int | None) -> dict[str, dict | None] | None:
        """Every field of the shape, in its order: {"value", "method"} typed by the kind the row's rubric version
        asked the question as, or None."""
        if not self.fields:
            return None
        typed: dict[str, dict | None] = dict.fromkeys(self.fields)
        for key, entry in label.items():
            name = self.field_of(key, rubric_version)
            if name is not None and entry is not None:
                typed[name] = {"value": GOLD_VALUE[self.fields[name][1]](entry["value"]), "method": entry["method"]}
        return typed

    def typed_annotations(self, annotations: list[dict]) -> list[dict]:
        """Each annotation with every field of the shape in `answers`, its answers typed by the kind its own rubric
        version asked them as (None where it gave none)."""
        typed = []
        for annotation in annotations:
            answers: dict[str, Any] = dict.fromkeys(self.fields)
            for key, value in annotation["answers"].items():
                name = self.field_of(key, annotation["rubric_version"])
                if name is not None:
                    answers[name] = ANSWER_VALUE[self.fields[name][1]](value)
            typed.append(
                {
                    "annotator": annotation["annotator"],
                    "rubric_version": annotation["rubric_version"],
                    "answers": answers or None,
                }
            )
        return typed

    def arrow_types(self) -> dict[str, Any]:
        """The Arrow types of the nested columns (pyarrow is imported on first use: it is slow to load)."""
        import pyarrow as pa

        gold = {
            QuestionKind.BINARY: pa.bool_(), QuestionKind.RATING: pa.float64(), QuestionKind.CHOICE: pa.string(),
            QuestionKind.MULTI_CHOICE: pa.list_(pa.string()), QuestionKind.TEXT: pa.string(),
            QuestionKind.CORRECTION: pa.string(),
        }  # fmt: skip
        answer = {**gold, QuestionKind.RATING: pa.int64()}
        entry = {kind: pa.struct([("value", value), ("method", pa.string())]) for kind, value in gold.items()}
        # Parquet cannot store a struct without fields: a version without questions has no label columns at all.
        fields = self.fields.items()
        label = pa.struct([(name, entry[kind]) for name, (_, kind) in fields]) if fields else pa.null()
        answers = pa.struct([(name, answer[kind]) for name, (_, kind) in fields]) if fields else pa.null()
        return {
            "input": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
            "label": label,
            "annotations": pa.list_(
                pa.struct([("annotator", pa.string()), ("rubric_version", pa.int64()), ("answers", answers)])
            ),
            "tags": pa.list_(pa.string()),
        }
