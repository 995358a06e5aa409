"""mcalc: the Streamlit app's frame (page config, shared sidebar, session defaults).

Start with ``streamlit run app.py`` (optionally ``-- --data /path/to/dataset``).
"""

from __future__ import annotations

import streamlit as st

from mcalc.synthetic import generate_demo, is_synthetic
from pages import common

st.set_page_config(page_title="mcalc", page_icon=":material/biotech:", layout="wide")


def ensure_demo() -> None:
    """Generate the synthetic demo set on first start, with a progress bar."""
    s = common.settings()
    if str(s.demo_dir) != common.current_data_path() or is_synthetic(s.demo_dir):
        return
    bar = st.progress(0.0, text="First start: generating the synthetic demo dataset…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(done / max(total, 1), text=f"Generating synthetic demo data: {message}")

    try:
        generate_demo(s.demo_dir, cases=s.demo_cases, seed=s.demo_seed, progress=progress)
    except (OSError, ValueError) as exc:
        st.error(f"Could not generate the demo dataset in `{s.demo_dir}`: {exc}")
        st.stop()
    bar.empty()
    common.load_index.clear()


def _open_typed() -> None:
    st.session_state[common.DATA_KEY] = str(st.session_state["app_data_input"]).strip()


def _open_demo() -> None:
    demo = str(common.settings().demo_dir)
    st.session_state[common.DATA_KEY] = demo
    st.session_state["app_data_input"] = demo


def sidebar() -> None:
    with st.sidebar:
        st.markdown("### Dataset")
        st.text_input(
            "Dataset folder or manifest CSV",
            value=common.current_data_path(),
            key="app_data_input",
            help="The folder holding `Dataset/` (or `Dataset_v3/`), the `Dataset/` folder "
            "itself, a manifest CSV, or a folder with `manifest.csv`.",
        )
        c1, c2 = st.columns(2)
        c1.button("Open", key="app_open", width="stretch", on_click=_open_typed)
        c2.button("Demo data", key="app_demo", width="stretch", on_click=_open_demo)
        index = common.current_index()
        if index is not None:
            label = "SYNTHETIC demo" if index.synthetic else index.source
            st.caption(f"{len(index.cases)} cases · {len(index.images())} images · {label}")


ensure_demo()
sidebar()

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/browse.py", title="Browse", icon=":material/radiology:"),
    st.Page("pages/annotate.py", title="Annotate", icon=":material/edit_location_alt:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/fact_check:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
]
st.navigation(pages).run()
