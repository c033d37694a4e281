"""Stopping the processes tests start."""

import signal
import subprocess


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, then SIGKILL if it is still there after timeout; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
