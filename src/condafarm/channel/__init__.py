"""The channel engine over a `Storage`: read and commit repodata, index, publish, curate, check."""
