"""``client(client_type)``: the SDK's client factory."""

from . import inference


def client(client_type, **kwargs):
    """A client of the given type.

    ``'inference'``: an :class:`inference.Client`. ``'feedback'`` (the ML Feedback connector)
    is not available in this version and raises ``NotImplementedError``. Any other type
    raises ``Exception("Client type '<type>' is not recognized.")``, as the SDK does.
    Keyword arguments are accepted and ignored, as the SDK does.
    """
    if client_type == 'inference':
        return inference.Client()
    if client_type == 'feedback':
        raise NotImplementedError(
            "Client type 'feedback' (the ML Feedback connector) is not available in this "
            "version of edgeclass's greengrass_machine_learning_sdk.")
    raise Exception("Client type '{}' is not recognized.".format(client_type))
