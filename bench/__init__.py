"""The benchmark harness: ``python -m bench.run`` (queries, pre-aggregation) and its recorded results in docs/."""
