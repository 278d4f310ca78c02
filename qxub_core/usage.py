"""Resources a job used against what it requested, and the efficiencies between them."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

USAGE_FILE = "usage.json"


@dataclass
class Usage:
    """One job's usage record, as stored in ``usage.json`` in its job directory.

    ``source`` says who measured it (``local-supervisor``, ``pbs-qstat``, ``slurm-sacct``) and
    ``notes`` what the figures mean where that is not obvious (for example that peak memory is
    the largest sum of the RSS of the job's processes sampled every so often). A figure the
    source could not give stays ``None``; nothing is invented.
    """

    job_id: str
    source: str
    walltime_used_s: float | None = None
    cpu_time_s: float | None = None
    peak_mem_bytes: int | None = None
    cpus: int | None = None
    walltime_requested_s: int | None = None
    mem_requested_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_efficiency(self) -> float | None:
        """CPU time / (walltime x CPUs)."""
        if not self.cpu_time_s or not self.walltime_used_s:
            return None
        return self.cpu_time_s / (self.walltime_used_s * (self.cpus or 1))

    @property
    def mem_efficiency(self) -> float | None:
        """Peak memory / requested memory."""
        if self.peak_mem_bytes is None or not self.mem_requested_bytes:
            return None
        return self.peak_mem_bytes / self.mem_requested_bytes

    @property
    def walltime_efficiency(self) -> float | None:
        """Walltime used / walltime requested."""
        if self.walltime_used_s is None or not self.walltime_requested_s:
            return None
        return self.walltime_used_s / self.walltime_requested_s

    def to_json(self) -> str:
        record = asdict(self)
        record["cpu_efficiency"] = self.cpu_efficiency
        record["mem_efficiency"] = self.mem_efficiency
        record["walltime_efficiency"] = self.walltime_efficiency
        return json.dumps(record, indent=2, sort_keys=True)

    def save(self, job_dir: Path) -> Path:
        path = job_dir / USAGE_FILE
        temporary = job_dir / f".{USAGE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            temporary.write_text(self.to_json() + "\n")
            temporary.replace(path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, job_dir: Path) -> Usage | None:
        path = job_dir / USAGE_FILE
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        names = cls.__dataclass_fields__.keys()
        return cls(**{key: value for key, value in record.items() if key in names})
