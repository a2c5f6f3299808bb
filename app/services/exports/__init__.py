"""Data exports, by what they write: tidy answers (CSV, JSON rows, the XLSX answers sheet), the
spreadsheet's other tables, and the study archive (canonical JSON, read back by import).

- `common`: who may export what (audited), formula escaping, CSV.
- `answers`: one row per answer, cut by the linkage model (app.services.linkage).
- `tables`: statistics and group statistics from snapshots, items, panel counts.
- `archive_schema`: the archive's format as typed records, used to write, check and read it.
- `archive_write`, `archive_check`, `archive_read`: the database to an archive and back.

Text cells that a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) get a leading apostrophe; numbers stay numbers.
"""

from app.services.exports.answers import (
    ANONYMOUS_COLUMNS,
    IDENTITY_COLUMNS,
    answer_cells,
    answer_columns,
    answer_csv_chunks,
    answer_rows,
    answer_sheet_rows,
)
from app.services.exports.archive_read import import_archive, read_archive
from app.services.exports.archive_schema import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    MAX_ARCHIVE_BYTES,
    ArchiveError,
    ArchiveStudy,
    canonical_json,
)
from app.services.exports.archive_write import (
    archive_chunks,
    archive_record,
    export_archive,
    write_archive,
)
from app.services.exports.common import (
    FORMULA_STARTS,
    authorize_export,
    csv_chunks,
    csv_text,
    escape_formula,
    may_export_identified,
    write_chunks,
)
from app.services.exports.tables import (
    GROUP_COLUMNS,
    STAT_COLUMNS,
    StreamedTable,
    Table,
    group_rows,
    item_columns,
    item_rows,
    panel_counts,
    snapshot_rows,
    statistics_columns,
)

__all__ = [
    "ANONYMOUS_COLUMNS",
    "ARCHIVE_FORMAT",
    "ARCHIVE_VERSION",
    "FORMULA_STARTS",
    "GROUP_COLUMNS",
    "IDENTITY_COLUMNS",
    "MAX_ARCHIVE_BYTES",
    "STAT_COLUMNS",
    "ArchiveError",
    "ArchiveStudy",
    "StreamedTable",
    "Table",
    "answer_cells",
    "answer_columns",
    "answer_csv_chunks",
    "answer_rows",
    "answer_sheet_rows",
    "archive_chunks",
    "archive_record",
    "authorize_export",
    "canonical_json",
    "csv_chunks",
    "csv_text",
    "escape_formula",
    "export_archive",
    "group_rows",
    "import_archive",
    "item_columns",
    "item_rows",
    "may_export_identified",
    "panel_counts",
    "read_archive",
    "snapshot_rows",
    "statistics_columns",
    "write_archive",
    "write_chunks",
]
