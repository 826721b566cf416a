"""End-to-end browser tests: the Streamlit app in headless Chromium through Playwright."""
