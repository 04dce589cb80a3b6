"""Reading uploaded CSV files: encoding and delimiter detection, streaming, byte offsets.

An upload is copied once, chunk by chunk, into a UTF-8 file (no BOM) whatever its encoding.
Workers then read that copy as bytes, so every record ends at a known byte offset: a job
records the offset of its last committed batch and a resumed job seeks straight to it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dashboard.errors import SwitchboardError

CHUNK = 1024 * 1024
SAMPLE = 64 * 1024
DELIMITERS = (",", ";", "\t")
# Magic numbers of files people rename to .csv by mistake.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx or .ods spreadsheet?)",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Word file",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}
# A single field may be long (notes), but an unbalanced quote must not swallow the file.
FIELD_LIMIT = 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int  # bytes of the UTF-8 copy
    encoding: str  # what the upload was in
    delimiter: str
    headers: list[str]
    data_offset: int  # byte offset of the first data row


def _detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # UTF-16 without a BOM: ASCII text leaves every other byte NUL.
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
            return "utf-16-le"
        if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
            return "utf-16-be"
    for magic, what in BINARY_SIGNATURES.items():
        if sample.startswith(magic):
            raise SwitchboardError(
                "binary_file",
                f"This file is {what}, not a CSV file. Save it as CSV (UTF-8) and upload that.",
                field="file",
            )
    if b"\x00" in sample and (found := _utf16_text(sample)):
        return found
    controls = sum(1 for byte in sample if byte < 9 or 13 < byte < 32)
    if b"\x00" in sample or controls > len(sample) * 0.01:
        raise SwitchboardError(
            "binary_file",
            "This file holds binary data, not text. Upload a CSV file.",
            field="file",
        )
    # A character may be cut at the end of the sample: decode as a stream. Bytes that are not
    # UTF-8 come out as lone surrogates.
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample, final=False)
    if _STRAY.search(text) and not _UTF8_TEXT.search(text):
        return "cp1252"
    return "utf-8"  # stray non-UTF-8 bytes among UTF-8 text are read as in _stray_cp1252


def _utf16_text(sample: bytes) -> str | None:
    """UTF-16 without a BOM whose text is mostly outside ASCII (Cyrillic or Greek names), which
    leaves too few NUL bytes for the test above: the byte order that decodes the sample into
    lines of text, with no control characters but tab and line ends."""
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        if ("\n" in text or "\r" in text) and not _UTF16_CONTROL.search(text):
            return encoding
    return None


_UTF16_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Undecodable bytes (surrogateescape) and characters only a valid multi-byte sequence gives.
_STRAY = re.compile("[\udc80-\udcff]")
_UTF8_TEXT = re.compile("[\u0080-\ud7ff\ue000-\U0010ffff]")
_CP1252 = [bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)]


def _stray_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: a byte that is not UTF-8 is read as Windows-1252 (Latin-1 for
    the five bytes that has none), so rows pasted in from a Windows-1252 file keep their
    accents and the UTF-8 text around them is left as it is."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(_CP1252[b] for b in exc.object[exc.start : exc.end]), exc.end


STRAY_CP1252 = "switchboard-stray-cp1252"
codecs.register_error(STRAY_CP1252, _stray_cp1252)


def _transcode(
    source: IO[bytes], target: IO[bytes], encoding: str, max_bytes: int, errors: str = "strict"
) -> int:
    """Copy ``source`` to ``target`` as UTF-8; returns the bytes read from the upload."""
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    read = 0
    carry = ""
    while chunk := source.read(CHUNK):
        read += len(chunk)
        if read > max_bytes:
            raise too_large(max_bytes)
        text = carry + _text(decoder.decode(chunk))
        # A CR at the end of a chunk may be the first half of a CRLF split across two.
        text, carry = (text[:-1], "\r") if text.endswith("\r") else (text, "")
        target.write(_lf_endings(text).encode("utf-8"))
    text = carry + _text(decoder.decode(b"", final=True))
    target.write(_lf_endings(text).encode("utf-8"))
    return read


_LONE_CR = re.compile("\r(?!\n)")


def _lf_endings(text: str) -> str:
    """Lines ended by CR alone (Excel for Mac's "CSV (Macintosh)", or rows pasted from such a
    file into another) end with LF: the reader splits records on LF, and reads a CR left
    inside an unquoted value as a broken file."""
    return _LONE_CR.sub("\n", text) if "\r" in text else text


def _text(decoded: str) -> str:
    # The sample check sees bytes; a UTF-16 file (or NUL further down) only shows NUL once
    # decoded. No text column or JSON value can hold it (PostgreSQL refuses it).
    if "\x00" in decoded:
        raise SwitchboardError(
            "binary_file",
            "This file holds NUL characters, so it is not a text file. Upload a CSV file.",
            field="file",
        )
    return decoded


def too_large(max_bytes: int) -> SwitchboardError:
    return SwitchboardError(
        "file_too_large",
        f"This file is larger than the {max_bytes / 1024 / 1024:,.0f} MB an import accepts. "
        "Split it into smaller files.",
        field="file",
        max_bytes=max_bytes,
    )


def _detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, and most regular, columns."""
    lines = text.splitlines()[:50]
    if len(text) >= SAMPLE and len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
        except csv.Error:
            continue
        widths = [len(row) for row in rows if row]
        if not widths or widths[0] < 2:
            continue
        regular = sum(1 for width in widths if width == widths[0])
        score = (regular, widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def store_upload(
    source: IO[bytes], target: Path, *, max_bytes: int, size: int | None
) -> StoredFile:
    """Check, decode and copy an upload to ``target`` (UTF-8); read its header line.

    Raises ``file_too_large`` before reading when the size is known, ``empty_file``,
    ``binary_file``, ``no_header`` or ``no_data_rows``.
    """
    if size is not None and size > max_bytes:
        raise too_large(max_bytes)
    sample = source.read(SAMPLE)
    if not sample.strip(b"\xef\xbb\xbf\xff\xfe\x00\r\n\t ,;"):
        raise SwitchboardError("empty_file", "This file is empty.", field="file")
    encoding = _detect_encoding(sample)
    target.parent.mkdir(parents=True, exist_ok=True)
    if encoding.startswith("utf-8"):
        # Valid UTF-8 at the start, not further down: either a Windows-1252 file that starts in
        # plain ASCII, or Windows-1252 rows pasted among UTF-8 ones. Read it again with the
        # bytes that are not UTF-8 as Windows-1252 (right for both; the UTF-8 text intact).
        attempts = [(encoding, "strict"), (encoding, STRAY_CP1252)]
    else:
        attempts = [(encoding, "strict"), ("cp1252", "strict"), ("latin-1", "strict")]
    for attempt, errors in attempts:
        try:
            with target.open("wb") as out:
                _transcode(_Prefixed(sample, source), out, attempt, max_bytes, errors)
            # Nothing but ASCII before the first such byte: a Windows-1252 file.
            encoding = "cp1252" if errors == STRAY_CP1252 and sample.isascii() else attempt
            break
        except UnicodeDecodeError:
            if not hasattr(source, "seek") or attempt == "latin-1":
                raise
            source.seek(0)
            sample = source.read(SAMPLE)
    with target.open("rb") as stored:
        head = stored.read(SAMPLE).decode("utf-8", errors="ignore")
    # Excel's "sep=;" first line names the delimiter; the column names follow it.
    sep = _SEP_LINE.match(head)
    if sep:
        delimiter, header_offset = sep.group(1), len(sep.group(0).encode("utf-8"))
    else:
        delimiter, header_offset = _detect_delimiter(head), 0
    headers, data_offset = _read_header(target, delimiter, header_offset)
    if not any(h.strip() for h in headers):
        raise SwitchboardError(
            "no_header", "The first line should name the columns; it is empty.", field="file"
        )
    if not _has_records(target, delimiter, data_offset):
        raise SwitchboardError("no_data_rows", NO_DATA_ROWS, field="file")
    return StoredFile(
        path=target,
        size=target.stat().st_size,
        encoding=encoding.removesuffix("-sig").removesuffix("-le").removesuffix("-be"),
        delimiter=delimiter,
        headers=[h.strip() for h in headers],
        data_offset=data_offset,
    )


class _Prefixed(io.RawIOBase):
    """``source`` with an already-read first chunk put back in front."""

    def __init__(self, head: bytes, source: IO[bytes]):
        self.head, self.source = head, source

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        return self.source.read(size)


_SEP_LINE = re.compile(r"sep=([,;\t|])[ \t]*\r?\n")


def _read_header(path: Path, delimiter: str, offset: int = 0) -> tuple[list[str], int]:
    for _, row, end in iter_records(path, delimiter=delimiter, offset=offset):
        if isinstance(row, OversizedRecord):
            raise SwitchboardError(
                "malformed_csv",
                f"The first line, which names the columns, holds a value over "
                f'{FIELD_LIMIT // 1024 // 1024} MB: check it for a quote (") that is opened '
                "and never closed.",
                field="file",
            )
        return row, end
    raise SwitchboardError("empty_file", "This file is empty.", field="file")


NO_DATA_ROWS = (
    "This file has a header row but no data rows. Add the contacts below the header line and "
    "upload it again."
)


def _has_records(path: Path, delimiter: str, offset: int) -> bool:
    """Whether a record follows ``offset``. One that cannot be read counts: the job reports it
    on its row."""
    records = iter_records(path, delimiter=delimiter, offset=offset)
    try:
        return next(records, None) is not None
    except SwitchboardError:
        return True
    finally:
        records.close()


class _Lines:
    """Decoded lines of a binary file, remembering the byte offset after the last one read."""

    def __init__(self, stream: IO[bytes], offset: int):
        self.stream, self.offset = stream, offset

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.offset += len(line)
            yield line.decode("utf-8", errors="replace")


class OversizedRecord(list):
    """Stands for a record with a value over ``FIELD_LIMIT``, which the CSV reader refuses: the
    row is reported invalid and the file goes on after it. ``column``: the index of that value
    (None if not found); ``unclosed``: a quote opened in it is never closed (it ran to the end
    of the file)."""

    def __init__(self, column: int | None, unclosed: bool):
        super().__init__()
        self.column, self.unclosed = column, unclosed


def _oversized_record(path: Path, start: int, delimiter: str) -> tuple[OversizedRecord, int]:
    """The record at ``start`` whose value is too long, and the byte offset after it: where a
    newline falls outside quotes (a quote inside a quoted value is doubled, so counting them
    tells inside from outside)."""
    marks = re.compile(f'"|{re.escape(delimiter)}')
    index, length, quoted, column = 0, 0, False, None
    offset = start
    with path.open("rb") as stream:
        stream.seek(start)
        for raw in stream:
            offset += len(raw)
            line = raw.decode("utf-8", errors="replace")
            last = 0
            for mark in marks.finditer(line):
                if mark.group() == '"':
                    quoted = not quoted
                elif not quoted:
                    if column is None and length + mark.start() - last > FIELD_LIMIT:
                        column = index
                    index, length, last = index + 1, 0, mark.end()
            length += len(line) - last
            if column is None and length > FIELD_LIMIT:
                column = index
            if not quoted:
                break
    return OversizedRecord(column, unclosed=quoted), offset


def iter_records(
    path: Path, *, delimiter: str, offset: int
) -> Iterator[tuple[int, list[str], int]]:
    """(blank lines skipped just before, fields, byte offset after the record) from ``offset``
    on. A spreadsheet shows each blank line as a row: the count keeps row numbers true.

    ``csv.reader`` pulls one line at a time and returns a record as soon as it is complete, so
    the offset after the last line it pulled is where the record ends (quoted newlines too).
    A record with a value too long to read comes as an ``OversizedRecord``.
    """
    with path.open("rb") as stream:
        stream.seek(offset)
        lines = _Lines(stream, offset)
        reader = csv.reader(lines, delimiter=delimiter)
        blanks = 0
        while True:
            start = lines.offset
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field limit" in str(exc):
                    # One row, not the whole file: skip to its end and read on from there.
                    record, end = _oversized_record(path, start, delimiter)
                    yield blanks, record, end
                    blanks = 0
                    stream.seek(end)
                    lines = _Lines(stream, end)
                    reader = csv.reader(lines, delimiter=delimiter)
                    continue
                raise SwitchboardError(
                    "malformed_csv",
                    f"The file cannot be read as CSV near byte {lines.offset:,}: {exc}. "
                    'Check for a quote (") that is opened and never closed.',
                ) from None
            if not row or (len(row) == 1 and not row[0].strip()):
                blanks += 1
                continue
            yield blanks, row, lines.offset
            blanks = 0


def read_batch(
    path: Path, *, delimiter: str, offset: int, size: int
) -> tuple[list[list[str]], int, dict[int, int]]:
    """Up to ``size`` records from ``offset``, the offset after the last one, and the blank
    lines before each record that follows any ({index in the batch: count})."""
    rows: list[list[str]] = []
    gaps: dict[int, int] = {}
    end = offset
    for blanks, row, after in iter_records(path, delimiter=delimiter, offset=offset):
        if blanks:
            gaps[len(rows)] = blanks
        rows.append(row)
        end = after
        if len(rows) >= size:
            break
    return rows, end, gaps


def blank_lines(path: Path, *, delimiter: str, offset: int, end: int) -> int:
    """Blank lines between the records from ``offset`` up to ``end`` (a record's end)."""
    count = 0
    if end > offset:
        for blanks, _, after in iter_records(path, delimiter=delimiter, offset=offset):
            count += blanks
            if after >= end:
                break
    return count


def preview(path: Path, *, delimiter: str, offset: int, rows: int = 5) -> list[list[str]]:
    return read_batch(path, delimiter=delimiter, offset=offset, size=rows)[0]


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Rows rendered as CSV text, one line at a time (for streaming responses)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
