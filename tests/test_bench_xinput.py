"""bench/xinput.py and the viewer rows of bench/browser_viewer.py: which ways in are reported,
and real input through an X server of the bench's own (skipped where Xvfb is absent)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench import xinput
from bench.browser_viewer import WAYS, viewer_rows


def _row(name: str, value: float, floor: float, aim: float) -> dict:
    return {"name": name, "value": value, "floor": floor, "ratio": value / floor, "aim": aim}


def _rows(measured: dict[str, float]) -> list[str]:
    def med(name: str) -> float:
        return measured.get(name, float("nan"))

    return [r["name"] for r in viewer_rows(med, 0.1, _row)]


def test_the_protocol_rows_stay_and_real_input_rows_come_only_when_measured() -> None:
    protocol = {
        f"viewer_{kind}": 0.02 for kind in ("wheel", "wl", "wheel_input", "wl_input", "next")
    }
    names = _rows(protocol)
    label = WAYS[0][1]
    assert names[:4] == [
        f"viewer: wheel zoom, partners follow {label}",
        f"viewer: W/L drag, one move (right button held) {label}",
        f"viewer: wheel zoom, input to drawn (page clock) {label}",
        f"viewer: W/L one move, input to drawn (page clock) {label}",
    ]
    assert not any("XTest" in n or "headed" in n for n in names), names  # no X server: no row
    real = {
        f"viewer_{kind}{suffix}": 0.01
        for kind in ("wheel", "wl", "wheel_input", "wl_input")
        for suffix in ("_xtest", "_headed")
    }
    names = _rows({**protocol, **real})
    assert len(names) == 13  # 3 ways x 4 rows, and the keyboard's next case
    for _suffix, label in WAYS:
        assert sum(n.endswith(label) for n in names) == 4, (label, names)


@pytest.mark.skipif(bool(xinput.missing()), reason=f"needs {xinput.missing()}")
def test_xtest_moves_the_pointer_of_a_bench_xvfb() -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool reads the pointer back")
    with xinput.Xvfb(640, 480) as display:
        xtest = xinput.XTest(display)
        try:
            xtest.move(123, 45)
            got = subprocess.run(
                ["xdotool", "getmouselocation", "--shell"],
                env={"DISPLAY": display},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            xtest.close()
    fields = dict(line.split("=", 1) for line in got.split())
    assert (fields["X"], fields["Y"]) == ("123", "45"), got


def test_xtest_names_a_display_it_cannot_open() -> None:
    if xinput.missing():
        pytest.skip(f"needs {xinput.missing()}")
    with pytest.raises(RuntimeError, match="cannot open X display"):
        xinput.XTest(":987")
