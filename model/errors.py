"""Exceptions users can cause. Each message names the file or device and what to do."""


class SERError(Exception):
    """Base class of every error this product raises on purpose."""


class AudioError(SERError):
    """Audio that cannot be analysed: unreadable, empty, truncated, non-finite, wrong shape."""


class ModelFileError(SERError):
    """A model file that is missing, truncated, corrupt or not a model of this product."""


class ComputeDeviceError(SERError):
    """A compute device (``--device``) that does not exist here or is not understood."""
