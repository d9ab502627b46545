"""``client(client_type)``: the SDK's client factory."""

from . import feedback, inference


def client(client_type, **kwargs):
    """A client of the given type.

    ``'inference'``: an :class:`inference.Client`; ``'feedback'``: a :class:`feedback.Client`
    (the ML Feedback connector). Any other type raises
    ``Exception("Client type '<type>' is not recognized.")``, as the SDK does.
    Keyword arguments are accepted and ignored, as the SDK does.
    """
    if client_type == 'inference':
        return inference.Client()
    if client_type == 'feedback':
        return feedback.Client()
    raise Exception("Client type '{}' is not recognized.".format(client_type))
