"""The exit codes qxub returns, as one table (see docs/exit-codes.md).

0-255 is the job's own code. The codes below are the ones qxub chooses itself; each comes with a
one-line reason on stderr in every mode but quiet.
"""

from __future__ import annotations

import signal

USAGE_ERROR = 2  # bad options or values: nothing was submitted
WALLTIME_EXCEEDED = 124  # killed for exceeding its walltime, as `timeout` reports it
NEVER_RAN = 125  # refused, deleted while queued, context failed, lost: no end established
INTERRUPTED = 130  # qxub got SIGINT, cancelled the job and confirmed it gone
TERMINATED = 143  # qxub got SIGTERM, cancelled the job and confirmed it gone

SIGNAL_BASE = 128


def from_signal(signal_number: int) -> int:
    """The shell's convention for a process killed by a signal: 128 + N."""
    return SIGNAL_BASE + signal_number


def signal_name(signal_number: int) -> str:
    """``SIGKILL`` for 9: a signal as a reason line names it; ``signal N`` for an unknown one."""
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"
