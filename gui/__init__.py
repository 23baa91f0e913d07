"""Desktop analyzer (``ser gui``): PySide6 + pyqtgraph on top of the streaming engine.

Modules:
    engine_bridge: the only module that touches ``streamer`` (and loads the model for it).
    events: the GUI's own event types, converted from the engine's by the bridge.
    history: bounded per-track histories at display resolution, no Qt.
    plots, side_panel, settings, main_window: widgets.
    app, commands: ``ser gui`` (Qt is imported only when the command runs).

Threads: the engine's workers never touch widgets; the window drains their events on a QTimer and
redraws only what changed.
"""
