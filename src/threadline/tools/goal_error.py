"""The error of a refused goal operation, apart from the goal tools so that core's goal
store (``core.thread_state``) loads without the tool registry."""


class GoalError(Exception):
    """A goal operation the backend refused; the message goes back to the model."""
