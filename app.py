"""mcalc: the Streamlit app's entry point and frame.

Start with ``streamlit run app.py`` (optionally ``streamlit run app.py -- --data PATH``).
The frame (page config, first-start demo data, the shared sidebar with the page menu and
the dataset choice) lives in :func:`pages.common.frame`; every page also calls it so that
deep links behave the same (see :mod:`pages.common`).
"""

from pages import common

common.run_app()
