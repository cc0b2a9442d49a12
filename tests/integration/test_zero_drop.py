"""Zero dropped requests while the server is reloaded (5 x HUP), upgraded (USR2, then TERM to
the old master) and stopped (TERM), under keep-alive and one-request-per-connection load
(loadgen.py). The default run does one such cycle (~12 s); `make zero-drop
ZERO_DROP_SECONDS=300` repeats cycles for that long."""

import os

from harness import narwhal_binary
from loadgen import run_scenario


def test_zero_drop_across_hup_usr2_and_term():
    seconds = float(os.environ.get("ZERO_DROP_SECONDS") or 0)  # 0: one cycle
    result = run_scenario(narwhal_binary(), seconds=seconds)
    tail = result.pop("stderr_tail")
    print(result)
    assert result["hups"] >= 5 and result["upgrades"] >= 1
    assert result["requests"] > 1000, result
    assert result["failed_before_stop"] == 0, "%s\n--- server stderr (tail) ---\n%s" % (result, tail)
