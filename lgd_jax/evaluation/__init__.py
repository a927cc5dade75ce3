"""Evaluation: benchmarks, their methods, baselines, priors, metrics, real
images, videos."""
