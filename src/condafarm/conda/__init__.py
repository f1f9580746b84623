"""What a conda package and a channel's repodata are: metadata, records, JSON, zstd and CEP-16 shards. No I/O."""
