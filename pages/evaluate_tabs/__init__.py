"""The Evaluate page's tabs, one module each (a sub-package, so that Streamlit never lists
them as pages): :mod:`.classification`, :mod:`.detection`, :mod:`.birads`,
:mod:`.crossval`; :mod:`.shared` holds what they share."""
