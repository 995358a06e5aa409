"""Streamlit pages of the mcalc app (UI only: read widgets, call mcalc, draw)."""
