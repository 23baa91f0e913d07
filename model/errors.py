"""Exceptions users can cause. Each message names the file or device and what to do."""


class SERError(Exception):
    """Base class of every error this product raises on purpose."""


class AudioError(SERError):
    """Audio that cannot be analysed: unreadable, empty, truncated, non-finite, wrong shape."""


class ModelFileError(SERError):
    """A model file that is missing, truncated, corrupt or not a model of this product."""


class ComputeDeviceError(SERError):
    """A compute device (``--device``) that does not exist here or is not understood."""


class OutputPathError(SERError):
    """A file the user asked us to write that cannot be written there."""


def check_keys(cls, data: dict, what: str) -> None:
    """Refuse settings ``data`` with keys that dataclass ``cls`` does not have: the one check of
    model files' and training configs' settings. Raises ValueError naming them and what is allowed
    (callers turn it into the error of their context)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a service stop), raised by ``ser`` where Ctrl+C raises
    KeyboardInterrupt, so both stop a command the same way; it then exits with 143 (128 + 15)."""
