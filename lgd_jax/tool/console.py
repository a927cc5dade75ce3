"""What the tool's commands print for their user: plain lines, not log
records."""

import logging
import sys

from absl import flags
from absl import logging as absl_logging


def quiet_info_logs() -> None:
  """Hides INFO logs (JAX's backend probing, "Unable to initialize backend
  'tpu'") unless --verbosity was given. Call after the flags are parsed."""
  if not flags.FLAGS["verbosity"].present:
    absl_logging.set_verbosity(absl_logging.WARNING)


class _Plain(logging.Formatter):

  def __init__(self, rewrite):
    super().__init__()
    self._rewrite = rewrite

  def format(self, record):
    return f"{record.levelname.lower()}: {self._rewrite(record.getMessage())}"


def plain_warnings(rewrite=lambda message: message) -> None:
  """Prints lgd_jax's warnings to stderr as `warning: MESSAGE` lines
  (`rewrite`: e.g. a Python argument's name as the command's flag) instead
  of absl's log format."""
  handler = logging.StreamHandler(sys.stderr)
  handler.setFormatter(_Plain(rewrite))
  logger = logging.getLogger("lgd_jax")
  logger.addHandler(handler)
  logger.propagate = False
