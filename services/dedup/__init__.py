"""dedup: near-duplicate detection across partitions with MinHash LSH."""
