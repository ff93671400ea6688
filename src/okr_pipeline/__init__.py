"""okr-pipeline: early warning for OKR key results that will miss."""

__version__ = "0.1.0"
__all__ = ["__version__"]
