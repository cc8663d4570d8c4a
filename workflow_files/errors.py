"""The one error of the workflow package."""


class WorkflowError(ValueError):
    """A workflow that cannot be read, converted or steered safely; the message names the node and says what to do."""
