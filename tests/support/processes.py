"""Real `relaydesk` subprocesses for tests (workers, servers), logging to a temporary file.

The log is read when a test fails to explain why, and removed when the process is stopped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


class RelaydeskProcess:
    def __init__(self, command: str, args: list[str], env: dict[str, str]) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix=f"relaydesk-{command}-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "relaydesk"), command, *args], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)
