"""merge.device and the command's process settings: memory kept between temporaries, no spinning threads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_freed_memory_is_kept_for_the_next_temporary():
    """keep_freed_memory: a freed 200 MB array stays with the process, so the next one faults no page
    (mallopt takes a C int: a threshold that wraps to 0 returns memory on every free). In a child
    process: the setting is process-wide."""
    script = (
        "import numpy as np\n"
        "from selfhdr_cli.merge.device import keep_freed_memory\n"
        "assert keep_freed_memory()\n"
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "a = np.ones(200 * 2**20 // 8); held = rss(); del a\n"
        "print(rss() / held)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout) > 0.9, out.stdout


def test_the_command_stops_opencv_threads_spinning():
    """Importing the CLI sets OpenCV's thread-pool waits to 0 before cv2 loads, unless the user chose them;
    importing the library leaves the environment alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_THREAD_POOL")}
    show = "import os; print(os.environ.get('OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER'))"
    run = lambda code, extra={}: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: E731
                                                check=True, env={**env, **extra}).stdout.strip()
    assert run(f"import selfhdr_cli.cli; {show}") == "0"
    assert run(f"import selfhdr_cli.merge.color; {show}") == "None"
    assert run(f"import selfhdr_cli.cli; {show}", {"OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER": "2000"}) == "2000"
