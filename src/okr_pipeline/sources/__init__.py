"""Where OKR data comes from: export bundles on disk, and the demo-data generator
(`okr_pipeline.sources.synthetic`, loaded only when used)."""

from okr_pipeline.sources.files import (
    LoadedBundle,
    LoadedFile,
    discover,
    load_bundle,
    parse_file,
    read_path,
    read_regular_file,
)

__all__ = [
    "LoadedBundle",
    "LoadedFile",
    "discover",
    "load_bundle",
    "parse_file",
    "read_path",
    "read_regular_file",
]
