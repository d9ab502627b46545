"""Exceptions shared by the SDK's clients."""


class GreengrassDependencyException(Exception):
    """Something the call depends on failed: the service is unknown or could not be started
    (services file, model, shared library), or the request timed out.

    In Greengrass this was the IPC runtime's error; here it wraps the edgeclass failure. When it
    comes from the library, ``code`` and ``name`` are the edgeclass status (e.g. 4003,
    ``'EDGECLASS_TIMEOUT'``) and ``error`` is the :class:`edgeclass.EdgeclassError`;
    otherwise they are None.
    """

    def __init__(self, message, error=None):
        Exception.__init__(self, message)
        self.error = error
        self.code = getattr(error, 'code', None)
        self.name = getattr(error, 'name', None)
