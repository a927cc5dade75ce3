"""The error every file reader raises: it names the file and the problem."""


class FileProblemError(ValueError):
  """A file is missing, unreadable or not what it should be.

  Attributes:
    path: the file (as given).
    problem: what is wrong, in words a user can act on.
  """

  def __init__(self, path, problem: str):
    super().__init__(f"{path}: {problem}")
    self.path = path
    self.problem = problem
