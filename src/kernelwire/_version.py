"""Package and protocol versions."""

__version__ = "0.2.0"

#: The Jupyter messaging protocol version kernelwire speaks and stamps in headers.
protocol_version_info = (5, 5)
protocol_version = "{}.{}".format(*protocol_version_info)
