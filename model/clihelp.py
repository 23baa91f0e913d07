"""The help format of every ``ser`` command: argparse's, with each option's default added once."""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's ArgumentDefaultsHelpFormatter, but it adds "(default: ...)" only where it tells
    something: not when the help already gives the default ("(default..."), not for a default of
    None or [] (no value: the help says what happens then), not for a required option, and not for
    an on/off flag."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("(default" in text or action.default is None or action.default == [] or action.required
                or action.nargs == 0):
            return text
        return super()._get_help_string(action)
