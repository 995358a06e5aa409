"""The registry's default model in the model pickers (Predict, Batch, Audit, Evaluate, Train).

Each picker lists the models with the default first (:func:`ordered`), so it opens on the
default model chosen on purpose rather than on the newest (a quick try, a cross-validation
fold); :func:`default_ui` says when there is no default (or it was deleted) and offers to
make the model chosen the default. The choice lives in the registry
(:func:`mcalc.models.registry.set_default_model`); this module only draws.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from mcalc.access import allows
from mcalc.config import models_folder
from mcalc.errors import FolderMissing, McalcError
from mcalc.models.card import ModelCard
from mcalc.models.registry import DefaultChoice, default_first, set_default_model
from pages import common, signin

__all__ = ["registry_folder", "ordered", "label", "default_ui"]

#: What the last "Make default" left to say: ``(kind, text)``, shown once.
NOTICE_KEY = "models_default_notice"


def registry_folder() -> Path:
    """The registry the page's picker reads (:func:`mcalc.config.models_folder`); where
    ``MCALC_MODELS`` names no folder (a typo read as an empty registry: "No model ... Train
    one"), says so and stops the page."""
    try:
        return models_folder()
    except FolderMissing as exc:
        st.error(f"{exc}; then restart the app.", icon=":material/folder_off:")
        st.stop()


def ordered(cards: list[ModelCard]) -> tuple[list[ModelCard], DefaultChoice]:
    """``cards`` with the registry's default model first, and why the first is first."""
    return default_first(cards, common.settings().models_dir)


def label(choice: DefaultChoice, model_id: str) -> str:
    """`` · default`` after the default model's id in a picker, else nothing."""
    return " · default" if choice.is_default and model_id == choice.wanted else ""


def _make_default(model_id: str, picker: str | None = None) -> None:
    try:
        set_default_model(
            common.settings().models_dir,
            model_id,
            role=signin.current_role(),
            user=signin.acting_name(),
        )
    except McalcError as exc:
        st.session_state[NOTICE_KEY] = ("error", f"Not made the default: {exc}")
        return
    if picker is not None:
        # The picker's label of this model gains " · default" in the next run; Streamlit's
        # browser side keeps the chosen option's old label (a keyed selectbox keeps its
        # identity when only its labels change) unless its value is set anew.
        st.session_state[picker] = model_id
    st.session_state[NOTICE_KEY] = (
        "success",
        f"`{model_id}` is now the default model: Predict, Batch, Audit and Evaluate open on it.",
    )


def default_ui(
    choice: DefaultChoice,
    chosen: str,
    prefix: str,
    *,
    where=None,
    note: bool = True,
    picker: str | None = None,
) -> None:
    """Under a picker: why it opened where it did when no default is set (or the default
    was deleted; unless not ``note``), and a *Make default* button for ``chosen`` when it
    is not the default (for those who may choose it). ``where``: the container to draw in
    (default: here); ``picker``: the key of the model picker whose labels mark the
    default (its label is then right at once)."""
    box = where or st
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        getattr(box, notice[0])(notice[1])
    if note and not choice.is_default:
        line = choice.note_chosen(chosen)
        box.caption(line[0].upper() + line[1:] + ".")
    if chosen != choice.wanted and allows(signin.current_role(), "set_default_model"):
        box.button(
            f"Make {chosen} the default model",
            key=f"{prefix}_make_default",
            icon=":material/star:",
            on_click=_make_default,
            args=(chosen, picker),
            help="The model Predict, Batch, Audit and Evaluate open on, for every reader "
            "(the newest model while none is chosen).",
        )
