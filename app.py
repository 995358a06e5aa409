"""mcalc: the Streamlit app's entry point and frame.

Start with ``streamlit run app.py`` (optionally ``streamlit run app.py -- --data PATH``).
The frame (page config, first-start demo data, the shared sidebar with the page menu and
the dataset choice) lives in :func:`pages.common.frame`; every page also calls it so that
deep links behave the same (see :mod:`pages.common`). TensorFlow starts in a background
thread once per process, from the frame of whichever page is opened first (:mod:`mcalc.models.warmup`), so Predict and Train find it ready
and no other page waits for it. Streamlit is kept from clearing the Keras session after
every script run (:mod:`pages.server_tuning`).

This file is read twice. ``streamlit run app.py`` finds ``app = st.App(...)`` below (by
reading the file), imports it as the module ``app`` and serves that: Streamlit's own server
with the page addresses answered by :mod:`pages.deep_links` (a page opened by its address
connects without first guessing the server's root wrong). Streamlit then runs this file as
the app's script (``__main__``, as ``AppTest.from_file`` does), which draws the pages: for
every page, the ``pages/`` folder beside it notwithstanding
(:func:`pages.server_tuning.run_app_for_every_page`), so that the reading viewer that
Browse and Annotate hand it keeps its frame across their switches
(:func:`pages.viewer_component.viewer_slot`).
"""

if __name__ == "__main__":
    from pages import common
    from pages.server_tuning import tune_server

    tune_server(common.settings().run_log)  # again in common.frame(): once per process
    common.run_app()
else:
    import streamlit as st
    from starlette.middleware import Middleware
    from streamlit import config

    from pages.component_gzip import PrecompressedFiles, viewer_files
    from pages.deep_links import page_routes
    from pages.server_tuning import run_app_for_every_page

    run_app_for_every_page()  # before the first session: every page runs inside this file
    app = st.App(
        __file__,
        routes=page_routes(),
        # the viewer's bundle gzipped once per process, not by Streamlit on every fetch
        middleware=[
            Middleware(
                PrecompressedFiles,
                files=lambda: viewer_files(config.get_option("server.baseUrlPath") or ""),
            )
        ],
    )
