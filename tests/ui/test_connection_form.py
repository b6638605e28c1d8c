"""The "Constant Contact" connection form in the real Airflow UI, driven in headless Chromium.

Steps, each with a screenshot in ``test-artifacts/ui/``: Admin -> Connections, Add Connection, choose
"Constant Contact", check the standard fields (relabelled, placeholders, hidden ones absent) and every
declared extra field (label, description, default, masking), fill a connection to the sandbox, save it,
check what was stored through the REST API, press "Test Connection" and see it succeed.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cc_provider.provider_info import get_provider_info
from cc_sandbox.server import SandboxServer
from tests.ui.conftest import REPO, AirflowUI

pytestmark = pytest.mark.ui

CONN_ID = "cc_ui_sandbox"
WAIT = 30.0  # seconds for one UI step (generous for a loaded 2-core CI machine)
try:  # Airflow masks ("***") the value of an extra field whose name contains one of these words.
    from airflow._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS as SENSITIVE_WORDS
except ImportError:  # another Airflow layout: the words of Airflow 3.3 that matter here
    SENSITIVE_WORDS = frozenset({"token", "secret", "password", "passwd", "api_key", "apikey", "bearer"})


def connection_type() -> dict[str, Any]:
    """The declaration of the Constant Contact connection type, as read now."""
    (conn_type,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "constant_contact"]
    return conn_type


DIALOG = "//*[@role='dialog']"


def named(name: str) -> str:
    """XPath of the dialog's form control called ``name``."""
    return f"{DIALOG}//*[@name='{name}']"


class Page:
    """Small helpers over a selenium driver: waits, retried clicks and typing, numbered screenshots."""

    def __init__(self, driver: Any, artifacts: Path) -> None:
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            ElementNotInteractableException,
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.artifacts, self.By = driver, artifacts, By
        # While React re-renders, an element may be loading, covered or replaced: retry the action.
        not_ready = (
            ElementClickInterceptedException,
            ElementNotInteractableException,
            NoSuchElementException,
            StaleElementReferenceException,
        )
        self.retrying = WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=not_ready)
        self.shots: list[Path] = []

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        return self.retrying.until(lambda _: condition(), message=f"timed out waiting for {what}")

    def visible(self, xpath: str) -> Any:
        """The first displayed element matching ``xpath`` now, or None."""
        return next((e for e in self.driver.find_elements(self.By.XPATH, xpath) if e.is_displayed()), None)

    def find(self, xpath: str, what: str) -> Any:
        return self.until(lambda: self.visible(xpath), what)

    def click(self, xpath: str, what: str) -> None:
        def attempt() -> bool:
            element = self.visible(xpath)
            if element is None or not element.is_enabled():
                return False
            element.click()
            return True

        self.until(attempt, f"{what} to be clicked")

    def type_into(self, xpath: str, value: str, what: str) -> None:
        from selenium.webdriver.common.keys import Keys

        def attempt() -> bool:
            element = self.visible(xpath)
            if element is None or not element.is_enabled():
                return False
            element.click()
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(Keys.DELETE)
            element.send_keys(value)
            return element.get_attribute("value") == value

        self.until(attempt, f"{value!r} to be typed into {what}")

    def settle(self, element: Any, what: str) -> Any:
        """Wait until ``element`` has stopped moving and fading (accordion and toast animations)."""
        script = (
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.x, r.y, r.width, r.height, getComputedStyle(arguments[0]).opacity].join();"
        )
        seen: list[str] = []

        def still() -> bool:
            seen.append(self.driver.execute_script(script, element))
            return len(seen) >= 3 and len(set(seen[-3:])) == 1 and seen[-1].endswith(",1")

        self.until(still, f"{what} to settle")
        return element

    def shot(self, name: str) -> None:
        path = self.artifacts / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot {path}"
        self.shots.append(path)

    def open_section(self, title: str) -> Any:
        """Open an accordion section of the dialog (one is open at a time); return its region."""
        trigger = f"{DIALOG}//button[@data-part='item-trigger' and normalize-space()='{title}']"
        if self.find(trigger, f"section {title}").get_attribute("aria-expanded") != "true":
            self.click(trigger, f"section {title}")
        region_id = self.find(trigger, f"section {title}").get_attribute("aria-controls")
        region = self.find(f"//*[@id='{region_id}']", f"the content of section {title}")
        others = f"{DIALOG}//*[@data-part='item-content' and @id!='{region_id}']"
        self.until(lambda: self.visible(others) is None, f"the other sections to close after opening {title}")
        return self.settle(region, f"section {title}")

    def toast(self, kind: str, title: str) -> Any:
        xpath = f"//*[@data-scope='toast' and @data-part='root' and @data-type='{kind}']"
        toast = self.until(
            lambda: next(
                (t for t in self.driver.find_elements(self.By.XPATH, xpath) if t.text.startswith(title)), None
            ),
            f"a {kind} toast '{title}'",
        )
        return self.settle(toast, f"the toast '{title}'")


def field_root(page: Page, scope: Any, name: str) -> Any:
    """The form-field group around the control named ``element_<name>`` (an extra field)."""
    control = scope.find_element(page.By.CSS_SELECTOR, f"[name='element_{name}']")
    return control.find_element(page.By.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root'][1]")


def label_of(page: Page, root: Any) -> str:
    label = root.find_element(page.By.CSS_SELECTOR, "label[data-scope='field'][data-part='label']")
    return label.text.replace("*", "").strip()


def check_extra_field(page: Page, region: Any, name: str, spec: dict[str, Any]) -> list[str]:
    """Compare one rendered extra field with its declaration; return the differences."""
    problems: list[str] = []
    try:
        root = field_root(page, region, name)
    except Exception:
        return [f"extra field {name!r} ({spec.get('label')!r}) is not rendered"]
    label = label_of(page, root)
    if label != spec.get("label", name):
        problems.append(f"{name}: label {label!r}, declared {spec.get('label')!r}")
    helpers = [h.text.strip() for h in root.find_elements(page.By.CSS_SELECTOR, "[data-part='helper-text']")]
    if spec.get("description") and spec["description"].strip() not in helpers:
        problems.append(f"{name}: description {helpers!r}, declared {spec['description']!r}")
    schema = spec.get("schema", {})
    control = root.find_element(page.By.CSS_SELECTOR, f"[name='element_{name}']")
    if schema.get("format") == "password" and control.get_attribute("type") != "password":
        problems.append(f"{name}: declared format password but the input is not masked")
    if "default" in schema:
        default = schema["default"]
        shown: Any = control.is_selected() if isinstance(default, bool) else control.get_attribute("value")
        expected = default if isinstance(default, bool) else str(default)
        if shown != expected:
            hint = ""
            if any(word in name.lower() for word in SENSITIVE_WORDS):
                hint = (
                    " (Airflow masks the values of extra fields whose name contains a sensitive word such as"
                    f" {', '.join(sorted(w for w in SENSITIVE_WORDS if w in name.lower()))!r}: rename the field)"
                )
            problems.append(f"{name}: shows {shown!r} instead of its default {expected!r}{hint}")
    return problems


def sandbox_requests(server: SandboxServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.url}/__sandbox__/stats", timeout=10) as response:
        return dict(json.loads(response.read()).get("requests", {}))


def test_connection_form_in_the_airflow_ui(
    browser: Any, airflow_ui: AirflowUI, sandbox: SandboxServer, artifacts: Path
) -> None:
    page = Page(browser, artifacts)
    By = page.By
    declared = connection_type()
    type_name = declared["hook-name"]
    behaviour = declared.get("ui-field-behaviour", {})
    conn_fields: dict[str, dict[str, Any]] = declared.get("conn-fields", {})
    for needed in ("refresh_token", "api_base_url", "auth_base_url"):
        assert needed in conn_fields, f"conn-fields no longer declares {needed!r}"

    # 1. Admin -> Connections.
    browser.get(f"{airflow_ui.url}/")
    page.click("//button[@aria-label='Admin']", "the Admin menu")
    page.click("//a[@role='menuitem' and @href='/connections']", "the Connections menu item")
    page.find("//button[normalize-space()='Add Connection']", "the Add Connection button")
    page.until(lambda: browser.title.startswith("Connections"), "the Connections page")
    page.find("//*[starts-with(normalize-space(), 'No connection found')]", "the empty list of connections")
    page.shot("01-connections-list")

    # 2. Add Connection, pick the type "Constant Contact".
    page.click("//button[normalize-space()='Add Connection']", "the Add Connection button")
    page.type_into(f"{DIALOG}//input[@role='combobox']", type_name, "the connection type picker")
    option = f"//*[@role='option' and normalize-space()='{type_name}']"
    page.find(option, f"the option {type_name}")
    page.shot("02-connection-type-picker")
    page.click(option, f"the option {type_name}")

    # 3. Standard fields: relabelled, with placeholders; the hidden ones are not rendered.
    page.open_section("Standard Fields")
    relabeling: dict[str, str] = behaviour.get("relabeling", {})
    for name, title in relabeling.items():
        control = page.find(named(name), f"the standard field {name}")
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']")
        assert label.text.strip() == title, f"standard field {name}: label {label.text!r}, declared {title!r}"
    for name, placeholder in behaviour.get("placeholders", {}).items():
        if name in ("login", "password", "description", *relabeling):
            shown = page.find(named(name), name).get_attribute("placeholder")
            assert shown == placeholder, f"standard field {name}: placeholder {shown!r}, declared {placeholder!r}"
    assert page.find(named("password"), "the password field").get_attribute("type") == "password"
    for hidden in behaviour.get("hidden-fields", []):
        if hidden != "extra":  # the UI always offers the "Extra Fields JSON" editor
            assert not browser.find_elements(By.XPATH, named(hidden)), f"the standard field {hidden} should be hidden"
    page.shot("03-standard-fields")

    # 4. Every declared extra field: label, description, default, masking.
    extras = page.open_section("Extra Fields")
    rendered = {
        label_of(page, root)
        for root in extras.find_elements(By.XPATH, ".//div[@data-scope='field' and @data-part='root']")
    }
    problems = [p for name, spec in conn_fields.items() for p in check_extra_field(page, extras, name, spec)]
    page.shot("04-extra-fields")
    assert not problems, "the extra fields do not render as declared:\n" + "\n".join(problems)
    assert rendered == {spec.get("label", name) for name, spec in conn_fields.items()}, rendered

    # 5. Fill a connection that points at the sandbox's default account.
    cfg = sandbox.config
    page.type_into(named("connection_id"), CONN_ID, "Connection ID")
    page.open_section("Standard Fields")
    page.type_into(named("login"), cfg.client_id, "Client ID")
    page.type_into(named("password"), cfg.client_secret, "Client secret")
    page.shot("05-filled-standard-fields")
    page.open_section("Extra Fields")
    values = {
        "refresh_token": cfg.refresh_token,
        "api_base_url": sandbox.api_base_url,
        "auth_base_url": sandbox.auth_base_url,
    }
    for name, value in values.items():
        page.type_into(named(f"element_{name}"), value, conn_fields[name].get("label", name))
    page.shot("06-filled-extra-fields")
    page.open_section("Extra Fields JSON")
    page.shot("07-extra-fields-json")

    # 6. Save; the connection is listed and stored with what the form showed (secrets masked by the API).
    page.click(f"{DIALOG}//button[normalize-space()='Save']", "the Save button")
    page.toast("success", "Create Connection Request Submitted")
    row = f"//tr[.//td[normalize-space()='{CONN_ID}']]"
    assert declared["connection-type"] in page.find(row, "the new connection's row").text
    page.shot("08-saved")
    stored = airflow_ui.api(f"connections/{CONN_ID}")
    assert stored["conn_type"] == declared["connection-type"]
    assert stored["login"] == cfg.client_id
    assert stored["password"] == "***", "the client secret must not come back from the API"
    assert not stored["host"] and not stored["port"] and not stored["schema"], stored
    extra = json.loads(stored["extra"])
    assert extra["api_base_url"] == sandbox.api_base_url
    assert extra["auth_base_url"] == sandbox.auth_base_url
    assert extra["refresh_token"] == "***", "the refresh token must come back masked"
    test_button = f"{row}//button[@aria-label='Test Connection']"
    page.find(test_button, "the Test Connection button")

    def test_icon_colour() -> str:
        return str(page.find(f"{test_button}//*[local-name()='svg']", "the Test button's icon").get_attribute("color"))

    # 7. Only where the installed Airflow still has the port-0 bug: its stock "Test" answers 400.
    if airflow_ui.backported_port_fix:
        airflow_ui.stock_test_flag.touch()
        try:
            page.click(test_button, "Test Connection (stock Airflow)")
            failed = page.toast("error", "Test Connection Failed")
            page.shot("09-test-stock-airflow-bug")
        finally:
            airflow_ui.stock_test_flag.unlink()
        assert "Bad Request" in failed.text, failed.text
        assert test_icon_colour() == "red"
        toasts = "//*[@data-scope='toast' and @data-part='root']"
        page.until(lambda: page.visible(toasts) is None, "the toasts to expire")  # a clear last screenshot

    # 8. Test: the API server runs the hook's test_connection() against the sandbox; a success toast.
    before = sandbox_requests(sandbox)
    page.click(test_button, "Test Connection")
    toast = page.toast("success", "Test Connection Successful")
    page.shot("10-test-success")
    assert test_icon_colour() == "green"
    message = toast.text.removeprefix("Test Connection Successful").strip()
    assert message, "the success toast carries no message from the hook"
    after = sandbox_requests(sandbox)
    called = {route for route, count in after.items() if count > before.get(route, 0)}
    assert any(re.search(r"/contact_lists\b", route) for route in called), f"the sandbox saw only {called}"
    print(f"Test Connection: {message!r}; sandbox calls: {sorted(called)}")
    print(f"screenshots: {', '.join(str(p.relative_to(REPO)) for p in page.shots)}")
