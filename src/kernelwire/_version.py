"""Package and protocol versions."""

__version__ = "0.2.0"

#: The Jupyter messaging protocol version kernelwire speaks and stamps in headers.
protocol_version_info = (5, 5)
protocol_version = "{}.{}".format(*protocol_version_info)

#: The protocol version kernels built on KernelBase declare (kernelspec and kernel_info):
#: 5.6 adds only the startup handshake (JEP 66), which they all support, to the message
#: formats of 5.5 that headers carry.
kernel_protocol_version = "5.6"
