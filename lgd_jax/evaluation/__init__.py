"""Evaluation: benchmarks, baselines, priors, metrics, real images, videos."""
