import time
from tests.e2e.conftest import *  # noqa

def test_scratch(page, app_url, browser):
    page.goto(app_url + "/trial_designer"); wait_for_app(page)
    s = page.locator('[data-testid="stExpander"] summary').filter(has_text="Saved scenarios")
    s.click(); wait_for_app(page)
    print(widget(page, "designer_saved").inner_html()[:3000])
    screenshot(page, "scratch_v1_expander", full_page=False)
