"""Start marks: each benchmark job appends "label seq unix-time" to its process's own file.

Writers are the worker processes of either system (`record_start`); the reader is the bench
process (`MarkReader`), which follows the files incrementally. One file per process means no
locking and no interleaved lines; the directory comes from BENCH_MARKS_DIR, which the bench
sets for the servers it starts.
"""

import os
import time
from pathlib import Path

_file = None
_file_pid = None


def marks_dir() -> Path:
    return Path(os.environ.get("BENCH_MARKS_DIR", "/tmp/dhanman-bench-marks"))


def record_start(label: str, seq: int) -> None:
    global _file, _file_pid
    now = time.time()
    pid = os.getpid()
    if _file is None or _file_pid != pid:  # a forked worker must not share its parent's file
        directory = marks_dir()
        directory.mkdir(parents=True, exist_ok=True)
        _file = open(directory / f"{pid}.marks", "a", buffering=1)  # noqa: SIM115 (kept open for the process)
        _file_pid = pid
    _file.write(f"{label} {seq} {now:.6f}\n")


class MarkReader:
    """Follows every marks file of a directory; `poll()` returns the marks written since."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or marks_dir()
        self.offsets: dict[Path, int] = {}  # how far each file has been read
        self.starts: dict[str, dict[int, float]] = {}
        self.repeated: dict[str, int] = {}  # marks of a job that had started already, by label

    def poll(self) -> int:
        """Read new complete lines; return how many marks were new."""
        added = 0
        if not self.directory.exists():
            return 0
        for entry in os.scandir(self.directory):
            if not entry.name.endswith(".marks"):
                continue
            path = Path(entry.path)
            offset = self.offsets.get(path, 0)
            if entry.stat().st_size <= offset:
                continue
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
            if not end:
                continue
            self.offsets[path] = offset + end
            for line in chunk[:end].decode().splitlines():
                label, seq, at = line.split()
                # The first start counts (a redelivered job starts twice: that is not a new job).
                seen = self.starts.setdefault(label, {})
                if int(seq) in seen:
                    self.repeated[label] = self.repeated.get(label, 0) + 1
                seen.setdefault(int(seq), float(at))
                added += 1
        return added

    def repeats(self, label: str) -> int:
        """How many times a job of `label` started again after its first start (all read so far)."""
        self.poll()
        return self.repeated.get(label, 0)

    def of(self, label: str) -> dict[int, float]:
        return self.starts.get(label, {})

    def wait_for(self, label: str, count: int, timeout: float, interval: float = 0.002) -> dict[int, float]:
        """Wait until `count` jobs of `label` have started; return seq -> start time."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            found = self.of(label)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {len(found)} of {count} '{label}' jobs started within {timeout:.0f} s"
                )
            time.sleep(interval)

    def wait_for_one(self, label: str, seq: int, timeout: float, interval: float = 0.001) -> float:
        """Wait until job `seq` of `label` has started; return its start time."""
        deadline = time.monotonic() + timeout
        while True:
            at = self.starts.get(label, {}).get(seq)
            if at is not None:
                return at
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {seq} of '{label}' did not start within {timeout:.0f} s")
            time.sleep(interval)
            self.poll()


def clear(directory: Path | None = None) -> None:
    directory = directory or marks_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.marks"):
        path.unlink()
