"""File dialogs of a size that shows the app's file names whole.

Qt's own dialog (the one used where the desktop offers none) opens at about 630 x 410 pixels, which cut
the app's session names ("20261205-062248-...572-stereo.jsonl") and the file types short. These give
it most of the window's size, within the screen."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtWidgets

MIN_SIZE_PX = (900, 560)
WINDOW_SHARE = 0.75  # of the parent window's width and height, when that is more than MIN_SIZE_PX


def file_dialog(parent: QtWidgets.QWidget | None, title: str, start: str | Path, filters: str,
                save: bool = False) -> QtWidgets.QFileDialog:
    """A dialog to open an existing file, or with ``save`` to name one to write (no question whether to
    replace it: the caller asks, of the file it will write). ``start``: a folder, or a file to propose."""
    dialog = QtWidgets.QFileDialog(parent, title, "", filters)
    dialog.setAcceptMode(QtWidgets.QFileDialog.AcceptMode.AcceptSave if save
                         else QtWidgets.QFileDialog.AcceptMode.AcceptOpen)
    dialog.setFileMode(QtWidgets.QFileDialog.FileMode.AnyFile if save else QtWidgets.QFileDialog.FileMode.ExistingFile)
    if save:
        dialog.setOption(QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
    start = Path(start) if str(start) else None
    if start is not None and start.is_dir():
        dialog.setDirectory(str(start))
    elif start is not None:
        dialog.setDirectory(str(start.parent))
        dialog.selectFile(start.name)
    width, height = MIN_SIZE_PX
    window = parent.window() if parent is not None else None
    if window is not None:
        width = max(width, int(window.width() * WINDOW_SHARE))
        height = max(height, int(window.height() * WINDOW_SHARE))
    screen = (window.screen() if window is not None else None) or QtWidgets.QApplication.primaryScreen()
    if screen is not None:
        room = screen.availableGeometry()
        width, height = min(width, room.width()), min(height, room.height())
    dialog.resize(width, height)
    details = dialog.findChild(QtWidgets.QTreeView, "treeView")  # Qt's own dialog's list (none in a desktop's)
    if details is not None:  # the names take the room the dialog has, not a fixed column
        details.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        details.header().setStretchLastSection(False)
    return dialog


def choose_file(parent: QtWidgets.QWidget | None, title: str, start: str | Path, filters: str,
                save: bool = False) -> str:
    """The path chosen in :func:`file_dialog`, or "" when the user cancelled."""
    dialog = file_dialog(parent, title, start, filters, save)
    if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
        return ""
    chosen = dialog.selectedFiles()
    return chosen[0] if chosen else ""
