from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from tqdm import tqdm

from labeling.exceptions import InvalidInput, RecordError
from labeling.management.base import ProjectCommand
from labeling.models import Project
from labeling.rules.text import counted
from labeling.services import records
from labeling.services.import_formats import (
    UTF8_BOM,
    is_one_json_document,
    openai_chat_record,
    otlp_json_records,
)
from labeling.services.ingest import IngestResult, ingest_outputs

MAX_ERRORS_SHOWN = 50
FORMATS = {
    "jsonl": "one API output record per line (the default)",
    "otlp-json": "OTLP/JSON trace exports, one ExportTraceServiceRequest per line (the Collector's file exporter) "
    "or the whole file; each LLM span becomes an output, other spans are counted and skipped",
    "openai-chat": 'JSONL of {"messages": [...]}: the last (assistant) message is the output, those before it the '
    "input; optional id (else a hash of the conversation), model, metadata, tags, tools, parallel_tool_calls",
}


@dataclass(frozen=True)
class _Item:
    """One output record to import, as JSON, with the line it came from (and the span, for OTLP)."""

    line: int
    raw: bytes
    label: str = ""


class Command(ProjectCommand):
    help = "Import outputs from a file (JSONL of API records, OTLP/JSON traces or OpenAI chat JSONL), validated whole."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file", type=Path, help="The file to import.")
        parser.add_argument(
            "--format",
            choices=list(FORMATS),
            default="jsonl",
            help="; ".join(f"{name}: {meaning}" for name, meaning in FORMATS.items()),
        )

    def handle_project(self, project: Project, *, file: Path, format: str, **options):
        if file.is_dir():
            raise CommandError(f"{file} is a directory: name a file in it.")
        if not file.is_file():
            raise CommandError(f"No such file: {file}.")
        # First validate everything, so that a bad line 90,000 does not leave a half import behind.
        errors: list[tuple[int, str]] = []
        self.ignored = 0
        found = 0
        for batch in self._batches(file, format, "Checking", errors):
            found += len(batch)
            errors += self._check(batch)
        if errors:
            errors.sort(key=lambda error: error[0])
            for line, message in errors[:MAX_ERRORS_SHOWN]:
                self.stderr.write(f"line {line}: {message}")
            lines = len({line for line, _ in errors})
            raise CommandError(f"{counted(lines, 'invalid line')} in {file}; nothing was imported.")
        if not found and not self.ignored:
            # An empty file (blank lines only, or OTLP without a span) is most likely the wrong one: said, not
            # "0 created" as if imported.
            raise CommandError(f"{file} holds no records: nothing was imported.")
        total = IngestResult()
        for batch in self._batches(file, format, "Importing", []):
            result = ingest_outputs(project=project, body=_body(batch))
            total.created += result.created
            total.duplicates += result.duplicates
            total.conflicts += result.conflicts
            total.conflict_ids += result.conflict_ids
        skipped = f", {self.ignored} spans skipped (not LLM calls)" if format == "otlp-json" else ""
        self.stdout.write(
            f"Imported {file.name} into {project.slug}: {total.created} created, "
            f"{total.duplicates} duplicates, {total.conflicts} conflicts{skipped}."
        )
        if total.conflict_ids:
            self.stdout.write("Conflicting ids (stored content kept): " + ", ".join(total.conflict_ids[:20]))

    def _batches(self, file: Path, fmt: str, label: str, errors: list[tuple[int, str]]):
        """Yield lists of at most INGEST_MAX_RECORDS records; lines that cannot become records go to `errors`."""
        batch: list[_Item] = []
        self.ignored = 0
        with tqdm(
            total=file.stat().st_size, unit="B", unit_scale=True, desc=label, file=self.stderr._out, leave=False
        ) as progress:
            for number, line in _lines(file, whole=fmt == "otlp-json" and is_one_json_document(file)):
                progress.update(len(line))
                if not line.strip():
                    continue
                for item in self._items(number, line.strip(), fmt, errors):
                    batch.append(item)
                    if len(batch) == settings.INGEST_MAX_RECORDS:
                        yield batch
                        batch = []
        if batch:
            yield batch

    def _items(self, number: int, line: bytes, fmt: str, errors: list[tuple[int, str]]) -> list[_Item]:
        if fmt == "jsonl":
            return [_Item(number, line)]  # spliced as it is: the service decodes it
        try:
            if fmt == "openai-chat":
                return _encoded(number, "", openai_chat_record(line), errors)
            mapped = otlp_json_records(line)
        except InvalidInput as exc:
            errors.append((number, exc.message))
            return []
        self.ignored += mapped.ignored
        errors += [(number, str(rejection)) for rejection in mapped.rejected]
        return [item for label, record in mapped.records for item in _encoded(number, f"span {label}", record, errors)]

    def _check(self, batch: list[_Item]) -> list[tuple[int, str]]:
        problems = records.output_problems([item.raw for item in batch])
        return [_located(batch[index], error) for index, errors in problems.items() for error in errors]


def _lines(file: Path, *, whole: bool):
    """(line number, bytes) of each line, or of the whole file as line 1; a UTF-8 byte order mark is not text."""
    with file.open("rb") as handle:
        if whole:
            yield 1, handle.read().removeprefix(UTF8_BOM)
            return
        for number, line in enumerate(handle, start=1):
            yield number, line.removeprefix(UTF8_BOM) if number == 1 else line


def _encoded(number: int, label: str, record: dict, errors: list[tuple[int, str]]) -> list[_Item]:
    try:
        return [_Item(number, records.encode_record(record), label)]
    except InvalidInput as exc:
        errors.append((number, f"{label + ': ' if label else ''}{exc.message}"))
        return []


def _located(item: _Item, error: RecordError) -> tuple[int, str]:
    where = f"{item.label}: " if item.label else ""
    return item.line, f"{where}{error.field or '(record)'}: {error.message}"


def _body(batch: list[_Item]) -> bytes:
    return records.outputs_body([item.raw for item in batch])  # spliced, not parsed: the service decodes it
