"""What a run leaves behind, and nothing else: the results store (one JSON record per run),
atomic writes (a reader never sees half a file), and provenance (code, packages, host).

No torch/mmdet imports."""
from harness.store.records import (RECORD_NAME, RECORD_SCHEMA, BadRecord, Store, atomic_file,
                                   write_json_atomic, write_text_atomic)

__all__ = ["RECORD_NAME", "RECORD_SCHEMA", "BadRecord", "Store", "atomic_file",
           "write_json_atomic", "write_text_atomic"]
