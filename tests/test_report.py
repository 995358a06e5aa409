"""The case report: ``python -m mcalc report`` writes a PDF whose text (``pdftotext``) names
the case, the model and the reader, says "research use only", and holds no identifier."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from mcalc.cli import main
from mcalc.dataset import open_dataset
from mcalc.store import ImageMarks, MarkStore
from mcalc.store.audit import VerdictContext, record_verdict
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def _text(pdf) -> str:
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is missing: apt-get install poppler-utils (scripts/test.sh does)")
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_report_names_case_model_reader_and_verdicts(
    tiny_demo, spot_registry, tmp_path, monkeypatch, capsys
):
    store = tmp_path / "store"
    monkeypatch.setenv("MCALC_STORE", str(store))
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    key = "suspicious-1/CC_recent"
    marks = ImageMarks(key, "rita", image_shape=(256, 208)).add_point(100, 80, "suspicious")
    MarkStore(store).save(marks, base_version=0)
    record_verdict(
        store, model_id="spot", image_key=key, reader="rita", agree=False, plausible=True,
        comment="map on the cluster", score=0.97,
        context=VerdictContext(method="gradcam", layer="conv2", target="calcification",
                               threshold=0.5),
    )  # fmt: skip
    out = tmp_path / "report.pdf"
    code = main(
        ["report", "--data", str(tiny_demo), "--case", "suspicious-1", "--model", "spot",
         "--models", str(spot_registry), "--user", "ana", "--out", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes()[:5] == b"%PDF-"
    text = " ".join(_text(out).split())
    assert "mcalc case report: suspicious-1" in text
    assert "RESEARCH USE ONLY" in text and "SYNTHETIC DEMO DATA" in text
    assert "Model spot" in text and "map score" in text
    # The method by its published name, as the pages say it, not its CLI id.
    assert "Grad-CAM" in text and "gradcam" not in text
    # The model card in words, not its stored key=value line.
    assert "architecture=" not in text and "task=" not in text
    assert "Architecture custom" in text and "Freeze strategy full" in text
    assert "Starting weights handmade (not pre-trained): set by hand for tests" in text
    assert "Test metrics AUC 0.900 - accuracy 0.800 (10 patches)" in text
    assert "by ana" in text  # who made it
    # The case as Browse describes it (the header said only its group and image count).
    case = open_dataset(tiny_demo).case("suspicious-1")
    assert case.birads and case.laterality and case.age is not None
    side = {"L": "Left", "R": "Right"}[case.laterality]
    assert f"Side {side}; Age {case.age:.0f}; " in text
    assert f"; BI-RADS {case.birads}; " in text
    assert "rita: 1 mark(s)" in text  # the reader's marks
    assert "rita on suspicious-1/CC_recent with model spot: score disagree" in text
    assert "comment: map on the cluster" in text
    # The change since the prior round, from the registered pairs (both views).
    # Per view, calcifications and clusters told apart: a view's "8 new" was 7
    # calcifications and a cluster, under "(annotated calcifications...)", and a summary
    # added CC and MLO (two projections of the same calcifications) up.
    assert "Change since the prior round" in text and "Summary: " not in text
    assert "annotated calcifications and clusters, per view" in text
    assert re.search(r"CC: \d+ new calcifications?,", text), text
    assert re.search(r"MLO: \d+ new calcifications?,", text), text
    assert "annotated calcifications, prior registered" not in text


def test_unknown_case_is_a_clear_error(tiny_demo, tmp_path, capsys):
    code = main(["report", "--data", str(tiny_demo), "--case", "nope-9", "--out",
                 str(tmp_path / "r.pdf")])  # fmt: skip
    assert code == 2 and "no case 'nope-9'" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()
