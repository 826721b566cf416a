import time
from tests.e2e.conftest import *  # noqa
from tests.e2e.test_journeys import _design_three_arm_trial, heading

def test_scratch(page, app_url):
    page.goto(app_url + "/trial_designer"); wait_for_app(page)
    _design_three_arm_trial(page)
    t = time.time(); click_button(page, "designer_run", timeout_ms=180000); print("run1", time.time() - t)
    print("enabled after run:", widget(page, "designer_run").locator("button").is_enabled())
    t = time.time(); widget(page, "designer_run").locator("button").click()
    seen = False
    for _ in range(100):
        if page.locator('[data-testid="stProgress"]').count(): seen = True
        page.wait_for_timeout(50)
    wait_for_app(page, 180000); print("run2", time.time() - t, "progress seen", seen)
    print("enabled after 2nd:", widget(page, "designer_run").locator("button").is_enabled())
    # save then immediately open expander
    set_text(page, "designer_name", "quick save")
    widget(page, "designer_save").locator("button").click(); wait_for_app(page)
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Saved scenarios").click(); wait_for_app(page)
    widget(page, "designer_saved").locator('[data-baseweb="select"]').click()
    page.wait_for_timeout(500)
    print("options right after save:", page.locator('[role="option"]').all_inner_texts())
    screenshot(page, "scratch_after_save_list", full_page=False)
