"""Audit verdicts: recording, history, validation and the per-model table."""

from __future__ import annotations

import errno
import io
import json

import pandas as pd
import pytest

from mcalc.config import Settings
from mcalc.store import StoreConflictError, StoreWriteError
from mcalc.store.audit import (
    AUDIT_COLUMNS,
    AuditStore,
    VerdictContext,
    audit_table,
    card_summary,
    record_verdict,
)
from mcalc.store.exchange import audit_csv

CARD = {"architecture": "resnet50", "task": "patch", "classes": ["normal", "calc"], "patch": 64}


def _rec(root, image, reader, agree, plausible=None, model="m1", comment=""):
    return record_verdict(
        root,
        model_id=model,
        model_card=CARD,
        image_key=image,
        reader=reader,
        agree=agree,
        plausible=plausible,
        comment=comment,
        score=0.8,
        predicted="calc",
    )


def test_record_names_model_card_image_reader_and_time(tmp_path):
    v = _rec(tmp_path, "c-1/CC_recent", "ann", True, True)
    assert v.version == 1 and v.recorded_at.endswith("Z")
    assert json.loads(v.model_card) == CARD
    latest = AuditStore(tmp_path).latest("m1", "c-1/CC_recent", "ann")
    assert latest == v


def test_changed_verdict_keeps_history(tmp_path):
    _rec(tmp_path, "c-1/CC_recent", "ann", True)
    _rec(tmp_path, "c-1/CC_recent", "ann", False, comment="missed the cluster")
    hist = AuditStore(tmp_path).history("m1", "c-1/CC_recent", "ann")
    assert [h.score_verdict for h in hist] == ["agree", "disagree"]
    assert len(AuditStore(tmp_path).verdicts("m1")) == 1  # only the current one counts


def test_a_verdict_saved_meanwhile_is_not_replaced_silently(tmp_path):
    """Two tabs of one reader on one image: the form that started from no verdict (0) is
    refused once the other tab saved, its verdict kept as a conflict copy; on top of the
    version it was shown, it saves (a user check: the later save silently replaced it)."""
    kw = {"model_id": "m1", "image_key": "c-1/CC_recent", "reader": "ann"}
    record_verdict(tmp_path, **kw, agree=False, comment="tab B", base_version=0)
    with pytest.raises(StoreConflictError) as caught:
        record_verdict(tmp_path, **kw, agree=True, comment="tab A", base_version=0)
    assert (caught.value.base_version, caught.value.stored_version) == (0, 1)
    assert caught.value.conflict_path.exists()
    store = AuditStore(tmp_path)
    assert store.latest(*kw.values()).comment == "tab B"
    v = record_verdict(tmp_path, **kw, agree=True, comment="tab A", base_version=1)
    assert (v.version, store.latest(*kw.values()).comment) == (2, "tab A")


def test_one_models_verdicts_read_only_that_models_records(tmp_path, monkeypatch):
    """Audit asks for one model's verdicts up to three times a rerun: every model's
    records were read and those of other models dropped after reading (0.061 CPU-s a call
    at 1,000 verdicts). Now only the model's own folder is read."""
    from mcalc.store import versioned

    _rec(tmp_path, "c-1/CC_recent", "ann", True)
    for i in range(3):
        _rec(tmp_path, f"c-{i}/CC_prior", "ann", False, model="other")
    read = []
    real = versioned.VersionedStore._read
    monkeypatch.setattr(
        versioned.VersionedStore,
        "_read",
        lambda self, path, parts: read.append(path) or real(self, path, parts),
    )
    store = AuditStore(tmp_path)
    assert [v.image_key for v in store.verdicts("m1")] == ["c-1/CC_recent"]
    assert len(read) == 1, read
    assert len(store.verdicts()) == 4  # every model's, as before


def test_audit_table_counts_rates_and_disagreements(tmp_path):
    _rec(tmp_path, "c-1/CC_recent", "ann", True, True)
    _rec(tmp_path, "c-1/CC_recent", "bob", False, True)
    _rec(tmp_path, "c-2/MLO_prior", "ann", True, False)
    _rec(tmp_path, "c-3/CC_prior", "ann", True, None)
    _rec(tmp_path, "c-9/CC_prior", "ann", False, model="other")
    s = audit_table(Settings(store_dir=tmp_path), "m1")
    assert (s.n_images, s.n_verdicts, s.n_readers) == (3, 4, 2)
    assert s.agreement_rate == pytest.approx(3 / 4)
    assert s.plausible_rate == pytest.approx(2 / 3)
    assert list(s.table.columns) == list(AUDIT_COLUMNS)
    assert sorted(zip(s.disagreements["image_key"], s.disagreements["reader"], strict=True)) == [
        ("c-1/CC_recent", "bob"),
        ("c-2/MLO_prior", "ann"),
    ]
    assert AuditStore(tmp_path).models() == ["m1", "other"]


def test_empty_audit(tmp_path):
    s = audit_table(tmp_path, "never-audited")
    assert s.n_verdicts == 0 and s.agreement_rate is None and s.plausible_rate is None
    assert s.table.empty and s.disagreements.empty


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"agree": "maybe"}, "score verdict must be one of"),
        ({"reader": " "}, "reader name is empty"),
        ({"model_id": ""}, "model_id must not be empty"),
        ({"plausible": "yes"}, "explanation_plausible must be"),
        ({"score": float("nan")}, "score must be finite"),
    ],
)
def test_bad_verdicts_are_refused(tmp_path, kwargs, message):
    args = {"model_id": "m1", "image_key": "c-1/CC_recent", "reader": "ann", "agree": True}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        record_verdict(tmp_path, **args)


def test_read_only_store(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(StoreWriteError, match="read-only"):
        _rec(tmp_path, "c-1/CC_recent", "ann", True)


def test_card_summary_variants():
    assert card_summary(None) == ""
    assert card_summary("free text") == "free text"
    assert card_summary({"metrics": {"auc": 0.9}}) == '{"metrics":{"auc":0.9}}'


def test_the_tables_model_card_is_json_for_old_records_too(tmp_path):
    """The audit CSV's model_card column held the record's summary line, its metrics in
    Python's notation ({'auc': 0.9}): now a JSON object for every verdict, read back from
    the CSV with json.loads."""
    _rec(tmp_path, "c-1/CC_recent", "ann", True)
    record_verdict(  # as recorded before 7 December 2026: the one-line summary
        tmp_path,
        model_id="m1",
        model_card="architecture=custom; metrics=test:{'auc': 0.9, 'support': {'calc': 3}}",
        image_key="c-2/CC_recent",
        reader="ann",
        agree=True,
    )
    record_verdict(tmp_path, model_id="m1", image_key="c-3/CC_recent", reader="ann", agree=True)
    back = pd.read_csv(io.StringIO(audit_csv(audit_table(tmp_path, "m1").table)))
    cards = [json.loads(c) if isinstance(c, str) else c for c in back["model_card"]]
    assert cards[:2] == [
        CARD,
        {"architecture": "custom", "metrics": {"test": {"auc": 0.9, "support": {"calc": 3}}}},
    ]
    assert pd.isna(cards[2])  # none recorded: an empty cell


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (
            {"stride": 16, "top_k": 1, "batch": 64},  # saved before 5 December 2026
            "stride 16 px; score the best grid patch (the rule before 5 December 2026)",
        ),
        (
            {"top_k": 3, "map_score_rule": 3},
            "score the mean of the top 3 grid patches (the rule before 5 December 2026); "
            "map-score rule version 3",
        ),
        (
            {"map_score_rule": 2},
            "score the top detection's (the dense map's maximum in the breast)",
        ),
        (
            {"max_regions": 0, "nms_overlap": 0.1, "dense": False, "weighting": "none"},
            "up to 0 regions, the best grid patches (the rule before 5 December 2026); "
            "regions overlapping at most 10%; patch by patch; explanation not weighted",
        ),
        (
            {"max_regions": 4, "min_region_score": 0.4, "region_rule": 2},
            "up to 4 regions scoring at least 0.4, centred on the top detections",
        ),
        (
            {"max_regions": 8, "region_rule": 3},
            "up to 8 regions, centred on the top detections",
        ),
        ({"region_rule": 4}, "region rule version 4"),
        ({"future_knob": 2}, "future_knob 2"),
        ({}, "none recorded"),
    ],
)
def test_map_settings_in_words(settings, words):
    assert VerdictContext(map_settings=settings).settings_text() == words


def test_context_names_the_method_as_readers_know_it():
    ctx = VerdictContext(method="gradcam++", layer="conv2", target="calcification", threshold=0.5)
    assert ctx.text() == "Grad-CAM++ · conv2 · calcification · threshold 0.5"
    # A method this version does not know (a later version's record) reads as stored.
    assert VerdictContext(method="lime").text() == "lime"
    assert VerdictContext().text() == "no explanation"


def test_a_damaged_verdict_file_is_named_not_counted_in_silence(tmp_path):
    """A verdict file cut to zero bytes was left out of every audit table with only a log
    line: the table counted 3 verdicts of 4 and nothing on the page said why."""
    from mcalc.store.audit import AuditStore, audit_table, record_verdict

    for reader in ("ann", "bob"):
        for image in ("case-1/CC_recent", "case-2/CC_recent"):
            record_verdict(tmp_path, model_id="m", image_key=image, reader=reader, agree=True)
    damaged = AuditStore(tmp_path).records.path_for(("m", "case-1/CC_recent", "ann"))
    damaged.write_bytes(b"")
    skipped: list[str] = []
    verdicts = AuditStore(tmp_path).verdicts(skipped=skipped)
    assert len(verdicts) == 3
    assert len(skipped) == 1 and str(damaged) in skipped[0], skipped
    assert audit_table(tmp_path, "m", verdicts=verdicts).n_verdicts == 3
    assert damaged.read_bytes() == b""  # left as it was


def test_a_cut_short_verdict_record_gives_back_its_whole_versions(tmp_path):
    """As a reader's marks record does (MarkStore.recover): every save on the image failed
    and only "move it out of the store" was said."""
    from mcalc.store import StoreError
    from mcalc.store.audit import AuditStore, record_verdict

    who = {"model_id": "m", "image_key": "case-1/CC_recent", "reader": "ann"}
    for n, agree in enumerate((True, False, True)):
        record_verdict(tmp_path, **who, agree=agree, comment=f"v{n + 1}", base_version=n)
    store = AuditStore(tmp_path)
    path = store.records.path_for(tuple(who.values()))
    text = path.read_text(encoding="utf-8")
    cut = text[: text.index('"number": 3') + 20]
    path.write_text(cut, encoding="utf-8")
    kept, aside = store.recover(*who.values())
    assert kept == 2 and aside.read_text(encoding="utf-8") == cut
    assert [v.comment for v in store.history(*who.values())] == ["v1", "v2"]
    assert record_verdict(tmp_path, **who, agree=True, base_version=2).version == 3
    with pytest.raises(StoreError, match="can be read"):
        store.recover(*who.values())


def test_the_score_is_kept_to_the_same_decimals_whichever_page_saved_it(tmp_path):
    """Predict rounded the score to 6 decimals and Audit kept what it was given (the computed
    score at full precision): one rule, in the verdict itself."""
    v = record_verdict(
        tmp_path,
        model_id="m1",
        image_key="c-1/CC_recent",
        reader="ann",
        agree=True,
        score=0.12345678912345,
    )
    assert v.score == 0.123457
    assert AuditStore(tmp_path).latest("m1", "c-1/CC_recent", "ann").score == 0.123457
    assert audit_table(tmp_path, "m1").table["score"].tolist() == [0.123457]
