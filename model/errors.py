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


def check_output_file(path, what: str = "output file"):
    """``path`` as a :class:`pathlib.Path` once it is clear that a file can be written there: not a
    folder, in a folder that exists or can be made, and writable. Checked before the work that
    produces the file starts, so a long run does not end in a failure to save its result."""
    import os
    from pathlib import Path

    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputPathError(f"{p}: is a folder; give a file name for the {what}.")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputPathError(f"{parent}: is a file, not a folder; choose another place for the {what}.") from None
    except OSError as exc:
        raise OutputPathError(f"{p}: cannot create its folder ({exc.strerror}); choose another place for the "
                              f"{what}.") from None
    if (p.exists() and not os.access(p, os.W_OK)) or not _can_create_in(parent):
        raise OutputPathError(f"{p}: not writable here; choose another place for the {what}.")
    return p


def _can_create_in(folder) -> bool:
    """Whether a file can be created in ``folder`` (tried, not guessed from permission bits: root,
    read-only mounts and special file systems answer differently)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ser-write-check-"):
            return True
    except OSError:
        return False


def check_output_dir(path, what: str = "output folder"):
    """``path`` as a :class:`pathlib.Path`, made if needed, once it is clear files can be written in it."""
    from pathlib import Path

    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{p}: is a file; give a folder for the {what}.")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{p}: cannot create it ({exc.strerror}); choose another place for the {what}.") from None
    if not _can_create_in(p):
        raise OutputPathError(f"{p}: not writable; choose another place for the {what}.")
    return p


def check_keys(cls, data: dict, what: str) -> None:
    """Refuse settings ``data`` with keys that dataclass ``cls`` does not have: the one check of
    model files' and training configs' settings. Raises ValueError naming them and what is allowed
    (callers turn it into the error of their context)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
