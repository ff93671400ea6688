"""Where OKR data comes from: export bundles on disk, the OKR backend's REST API pulled into a
bundle (`rest.py`), and the demo-data generator (`okr_pipeline.sources.synthetic`, loaded only
when used)."""

from okr_pipeline.sources.files import (
    LoadedBundle,
    LoadedFile,
    discover,
    is_contract_file,
    load_bundle,
    parse_file,
    read_path,
    read_regular_file,
)
from okr_pipeline.sources.rest import (
    CURSOR_FIELDS,
    Pulled,
    PullError,
    pull_bundle,
    source_name,
)
from okr_pipeline.sources.uploads import Unpacked, write_upload

__all__ = [
    "CURSOR_FIELDS",
    "LoadedBundle",
    "LoadedFile",
    "PullError",
    "Pulled",
    "Unpacked",
    "discover",
    "is_contract_file",
    "load_bundle",
    "parse_file",
    "pull_bundle",
    "read_path",
    "read_regular_file",
    "source_name",
    "write_upload",
]
