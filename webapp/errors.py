"""The one input-error type of the web app: the server turns it into HTTP 400 with
its message as the one-line reason (graphite-web's handleInputParameterError idea)."""


class InputError(ValueError):
    """A request the client got wrong: a bad target, time, parameter or argument."""

    status = 400


class LimitExceeded(InputError):
    """A request over one of the configured limits (targets, series, points, depth, time)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status
