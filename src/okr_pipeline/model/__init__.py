"""The risk model: training, evaluation and its versioned registry in MLflow."""
