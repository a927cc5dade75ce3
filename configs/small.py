"""The default layout with a 512-feature network: under half the FLOPs,
for CPU throughput (the speed/accuracy trade-off against configs/default.py
is measured with experiments.validate and benchmarks.bench_fit)."""

from configs import default


def get_config():
  config = default.get_config()
  config.network.features = 512
  return config
