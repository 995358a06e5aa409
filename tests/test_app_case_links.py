"""A case's address (``?case=``, pages/state.py): a link opens Browse, Annotate and
Predict on its case, the address names the case each page shows, and a case the dataset
lacks is said (its id, the dataset, what to do) while the page shows its first case."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages import APP

#: Each page's case picker (Browse: its *Go to case* list, kept in step with its table).
PICKERS = {"pages/browse.py": "browse_goto", "pages/annotate.py": "annotate_case"}


def _open(page: str, case: str) -> AppTest:
    """A new session opened by a link to ``page?case=case``."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["case"] = case
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", sorted(PICKERS))
def test_a_link_opens_its_case_and_the_address_follows_the_reader(app_env, page) -> None:
    at = _open(page, "suspicious-2")
    assert at.selectbox(key=PICKERS[page]).value == "suspicious-2"
    assert at.session_state["browse_case_id"] == "suspicious-2"
    assert at.query_params["case"] == "suspicious-2"
    assert not at.warning or all("suspicious-2" not in w.value for w in at.warning)
    at.selectbox(key=PICKERS[page]).set_value("normal-3").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["case"] == "normal-3"  # copying the address gives this case
    at.run()  # the address read back on the next run opens nothing else
    assert at.selectbox(key=PICKERS[page]).value == "normal-3"


def test_the_address_back_to_an_earlier_case_opens_it(app_env) -> None:
    """The browser's Back restores an earlier address and reruns with it: its case opens
    (without this, Back stepped through the addresses with the case unchanged)."""
    at = _open("pages/annotate.py", "suspicious-2")
    at.selectbox(key="annotate_case").set_value("normal-3").run()
    at.query_params["case"] = "suspicious-2"  # Back
    at.run()
    assert at.selectbox(key="annotate_case").value == "suspicious-2"
    assert at.query_params["case"] == "suspicious-2"


def test_a_pick_wins_over_an_address_the_browser_had_not_updated_yet(app_env) -> None:
    """A click's rerun can carry the address from before the previous run named its case:
    the click's case is shown, not that older address' case."""
    at = _open("pages/annotate.py", "suspicious-2")
    at.selectbox(key="annotate_case").set_value("normal-3").run()
    at.query_params["case"] = "suspicious-2"  # not yet the previous run's normal-3
    at.selectbox(key="annotate_case").set_value("normal-1").run()
    assert at.selectbox(key="annotate_case").value == "normal-1"
    assert at.query_params["case"] == "normal-1"


@pytest.mark.parametrize("page", sorted(PICKERS))
def test_an_unknown_case_is_said_and_the_page_shows_its_first_case(app_env, page) -> None:
    at = _open(page, "suspicious-99")
    said = " ".join(w.value for w in at.warning).replace("\\", "")  # as the reader reads it
    assert "suspicious-99" in said and str(app_env) in said, said
    assert "pick a case" in said.lower()
    shown = at.selectbox(key=PICKERS[page]).value
    assert shown == at.session_state["browse_case_id"] and shown != "suspicious-99"
    assert at.query_params["case"] == shown
    at.run()  # said while the reader stays on the case shown instead
    assert any("suspicious\\-99" in w.value for w in at.warning)
    other = "normal-3" if shown != "normal-3" else "normal-2"
    at.selectbox(key=PICKERS[page]).set_value(other).run()
    assert not any("suspicious\\-99" in w.value for w in at.warning)


def test_a_link_s_case_is_said_as_typed_not_drawn_as_markdown(app_env) -> None:
    at = _open("pages/annotate.py", "[Sign in](https:evil.example/x) **b**")
    (said,) = [w.value for w in at.warning if "Sign in" in w.value]
    assert "](" not in said and "**b**" not in said
    assert "[Sign in](https:evil.example/x) **b**" in said.replace("\\", "")


def test_the_data_and_the_case_of_one_link_both_open(app_env, tmp_path, monkeypatch) -> None:
    import shutil

    other = tmp_path / "roots" / "other"
    shutil.copytree(app_env, other)
    monkeypatch.setenv("MCALC_DATA_ROOTS", str(tmp_path / "roots"))
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["data"] = str(other)
    at.query_params["case"] = "suspicious-3"
    at.switch_page("pages/annotate.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["mcalc_data_path"] == str(other)
    assert at.selectbox(key="annotate_case").value == "suspicious-3"
    assert at.query_params["data"] == str(other) and at.query_params["case"] == "suspicious-3"


def test_predict_opens_the_link_s_case_and_names_the_case_it_shows(page_env) -> None:
    from tests.predict_fixtures import settle

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["predict_model"] = "spot"
    at.session_state["predict_use_viewer"] = False
    at.query_params["case"] = "suspicious-3"
    at.switch_page("pages/predict.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    settle(at)
    assert at.selectbox(key="predict_case").value == "suspicious-3"
    assert at.query_params["case"] == "suspicious-3"
    at.selectbox(key="predict_case").set_value("normal-2").run()
    settle(at)
    assert at.query_params["case"] == "normal-2"


def _open_audit(case: str) -> AppTest:
    """A new session of a named reader opened by a link to ``audit?case=case``."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["annotate_reader"] = "Dr. Link"  # pages.state.READER_KEY
    return _open_with(at, "pages/audit.py", case)


def _open_with(at: AppTest, page: str, case: str) -> AppTest:
    at.query_params["case"] = case
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_audit_opens_the_link_s_case_and_names_the_case_of_the_image_it_shows(app_env) -> None:
    """Audit picks an image, not a case: the address names the image's case, as Predict's
    does (view and exam stay the page's choice: README, "The address carries no view")."""
    at = _open_audit("suspicious-2")
    assert str(at.selectbox(key="audit_image").value).startswith("suspicious-2/")
    assert at.query_params["case"] == "suspicious-2"
    at.selectbox(key="audit_image").set_value("normal-3/MLO_prior").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["case"] == "normal-3"
    assert at.session_state["browse_case_id"] == "normal-3"
    at.run()  # the address read back opens nothing else
    assert at.selectbox(key="audit_image").value == "normal-3/MLO_prior"


def test_audit_says_an_unknown_case_and_shows_its_first_case(app_env) -> None:
    at = _open_audit("suspicious-99")
    said = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "suspicious-99" in said and "pick a case" in said.lower(), said
    shown = str(at.selectbox(key="audit_image").value).split("/")[0]
    assert shown == at.session_state["browse_case_id"] != "suspicious-99"
    assert at.query_params["case"] == shown
    at.run()  # said while the reader stays on the case shown instead
    assert any("suspicious\\-99" in w.value for w in at.warning)


def _switched(at: AppTest, page: str) -> AppTest:
    """``at`` after the reader opens ``page`` from the menu: Streamlit drops the address'
    query parameters on a page switch (the sidebar's ``?data=`` is named again by the
    page's run)."""
    for key in list(at.query_params):
        del at.query_params[key]
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_link_to_home_opens_its_case_on_the_page_the_reader_opens_next(app_env) -> None:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["case"] = "suspicious-2"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(i.value for i in at.info).replace("\\", "")
    assert "suspicious-2" in said and "opens on" in said, said  # Home says where it goes
    _switched(at, "pages/annotate.py")
    assert at.selectbox(key="annotate_case").value == "suspicious-2"
    assert at.query_params["case"] == "suspicious-2"


def test_a_link_to_home_with_an_unknown_case_is_said_on_the_next_page(app_env) -> None:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["case"] = "suspicious-99"
    at.run()
    (said,) = [w.value.replace("\\", "") for w in at.warning if "suspicious" in w.value]
    assert "suspicious-99" in said and "first case" in said, said  # on Home too
    assert not any("suspicious" in i.value for i in at.info)
    _switched(at, "pages/annotate.py")
    said = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "suspicious-99" in said and "pick a case" in said.lower(), said
    assert at.selectbox(key="annotate_case").value != "suspicious-99"


def test_audit_names_the_readers_case_in_the_address_before_a_name_is_typed(app_env) -> None:
    """Audit wrote its address (``?case=``) only once the reader's name was typed: a reader
    who came from Browse on a case and copied the address first sent a link to no case."""
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["browse_case_id"] = "normal-3"  # the case the reader was on (Browse)
    at = _switched(at, "pages/audit.py")
    assert any("Type your name" in i.value for i in at.info)  # no name yet: no form
    assert at.query_params["case"] == "normal-3"
