"""The CSV reader of the operators' imports lives in core (``core.domain.csv_records``), so
the admin API reads a posted file by the same rules as ``taxireg partner import``."""

from core.domain.csv_records import MAX_FIELD, CsvFileError, Record, read_records

__all__ = ["MAX_FIELD", "CsvFileError", "Record", "read_records"]
