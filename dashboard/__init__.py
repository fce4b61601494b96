"""Plotly Dash web dashboard over the cloud database."""
