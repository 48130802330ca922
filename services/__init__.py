"""The four wirewatch services: fetcher, dedup, classifier, notifier."""
