"""The read-ahead's worker process (stream.read_ahead starts it):
`python -m okr_pipeline.stream._read_ahead_worker LIMITS_JSON`."""

import sys

from okr_pipeline.config import Limits
from okr_pipeline.stream.read_ahead import serve

if __name__ == "__main__":
    serve(Limits.model_validate_json(sys.argv[1]))
