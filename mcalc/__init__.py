"""mcalc: a workbench for breast micro-calcification research on mammograms.

The library behind the Streamlit app and the ``python -m mcalc`` command line. It never
imports streamlit.
"""

__version__ = "0.1.0"
