"""classifier: multi-label topic tagging with a model trained on labelled real articles."""
