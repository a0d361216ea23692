"""lazyfuse benchmarks: workloads, peers and the report."""
