"""classifier: multi-label topic tagging with a weighted lexicon."""
