"""The app with a spiky CPU meter at the hardware edge (meter_fakes.SpikyProcess under the CPU estimate, RAPL
unreadable): the browser test runs it as `python tests/spiky_meter_app.py <streamlit run options>` and checks that
the live power trace never goes above the estimate's ceiling."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from asr_core import energy, hardware  # noqa: E402
from meter_fakes import SpikyProcess  # noqa: E402


def _no_rapl(*args, **kwargs):
    raise hardware.DeviceUnavailable("RAPL left out on purpose: the spiky estimate is the CPU meter")


if __name__ == "__main__":
    energy.Rapl = _no_rapl
    energy.CpuEstimator = lambda: hardware.CpuEstimator(process=SpikyProcess())
    from streamlit.web import cli
    sys.argv = ["streamlit", "run", str(HERE.parent / "streamlit_app.py"), *sys.argv[1:]]
    sys.exit(cli.main())
