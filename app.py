"""mcalc: the Streamlit app's entry point and frame.

Start with ``streamlit run app.py`` (optionally ``streamlit run app.py -- --data PATH``).
The frame (page config, first-start demo data, the shared sidebar with the page menu and
the dataset choice) lives in :func:`pages.common.frame`; every page also calls it so that
deep links behave the same (see :mod:`pages.common`). TensorFlow starts in a background
thread once per process, from the frame of whichever page is opened first (:mod:`mcalc.models.warmup`), so Predict and Train find it ready
and no other page waits for it. Streamlit is kept from clearing the Keras session after
every script run (:mod:`pages.server_tuning`).
"""

from pages import common
from pages.server_tuning import tune_server

tune_server(common.settings().run_log)  # again in common.frame(): once per process
common.run_app()
