"""The only Streamlit code in the library: widgets and panels the pages arrange."""
