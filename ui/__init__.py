"""Streamlit-side helpers shared by the pages (the engine lives in synthwb/ and never imports streamlit)."""
