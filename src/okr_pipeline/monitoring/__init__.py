"""Monitoring: data quality, drift, realized and estimated model performance, and alerts with
their channels. It reads the warehouse, the features and the model, and tells of what it finds
through the stream's alerts topic among other channels: it sits above both."""

__all__: list[str] = []
