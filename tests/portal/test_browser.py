"""The portal in a real browser (Debian's Chromium, driven by selenium): a person's walk through it,
accessibility checked by axe-core on every page type, a 360-pixel screen, and the keyboard alone.

Selenium is synchronous and the service runs on this test's event loop, so every browser call is made
from a worker thread. ``EXCHANGE_SCREENSHOTS=DIR`` saves a picture of each main page into DIR (the
README's pictures are made so).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from exchange.envelope import SigningKey
from tests.e2e.conftest import Service
from tests.portal.conftest import Loaded, load_examples

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
AXE = (resources.files("axe_core_python") / "axe.min.js").read_text(encoding="utf-8")
SHOTS = os.environ.get("EXCHANGE_SCREENSHOTS")

pytestmark = pytest.mark.settings(origin="http://portal.test")


@pytest.fixture
def stack() -> str:
    """The browser walks the embedded service; the pages' data paths are tested on both stacks elsewhere."""
    return "embedded"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        if os.environ.get("EXCHANGE_REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Browser:
    """The browser, driven from a worker thread so that the service keeps answering."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base.rstrip("/")

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.base + path)

    def _navigating(self, action: Callable[[], None]) -> None:
        """Do what loads another page, and wait until it has."""
        self.driver.execute_script("window.__leaving = true;")
        action()
        WebDriverWait(self.driver, 15).until(
            lambda d: d.execute_script("return !window.__leaving && document.readyState === 'complete'")
        )

    async def click(self, css: str) -> None:
        await self.run(self._navigating, lambda: self.driver.find_element(By.CSS_SELECTOR, css).click())

    async def link(self, text: str) -> None:
        await self.run(self._navigating, lambda: self.driver.find_element(By.PARTIAL_LINK_TEXT, text).click())

    async def text(self, css: str = "main") -> str:
        return await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).text)

    async def attribute(self, css: str, name: str) -> str | None:
        return await self.run(lambda: self.driver.find_element(By.CSS_SELECTOR, css).get_attribute(name))

    async def fill(self, fields: dict[str, str], submit: str) -> None:
        def work() -> None:
            for css, value in fields.items():
                element = self.driver.find_element(By.CSS_SELECTOR, css)
                if element.tag_name == "select":
                    Select(element).select_by_value(value)
                else:
                    element.clear()
                    element.send_keys(value)
            self._navigating(lambda: self.driver.find_element(By.CSS_SELECTOR, submit).click())

        await self.run(work)

    async def path(self) -> str:
        url: str = await self.run(lambda: self.driver.current_url)
        return url.removeprefix(self.base)

    async def axe(self) -> list[dict[str, Any]]:
        """Serious and critical accessibility violations of the page shown."""

        def work() -> list[dict[str, Any]]:
            self.driver.execute_script(AXE)
            result = self.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
            )
            return [v for v in result if v.get("impact") in ("serious", "critical")]

        return await self.run(work)

    async def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            await self.run(self.driver.save_screenshot, str(Path(SHOTS) / f"{name}.png"))


@pytest.fixture
async def walk(service: Service, browser: WebDriver) -> tuple[Browser, Loaded]:
    loaded = Loaded(service, await load_examples(service))
    signer = loaded.signers["GBR"]
    from tests.support import example

    record_id, record = example("law", "gbr-computer-misuse-act-1990")
    record["status"] = "in_force"
    verdict = await service.submit_and_wait(signer.submission(record, record_id=record_id, base_version=1))
    assert verdict["status"] == "accepted", verdict
    await asyncio.to_thread(browser.delete_all_cookies)
    await asyncio.to_thread(browser.set_window_size, 1280, 1000)
    return Browser(browser, str(service.client.make_url("/"))), loaded


async def test_a_person_searches_reads_a_record_its_provenance_and_a_diff(walk: tuple[Browser, Loaded]) -> None:
    browser, _ = walk
    await browser.open("/")
    await browser.shot("home")
    await browser.fill({"#q": "computer"}, "form.search button")
    assert (await browser.path()).startswith("/search?q=computer")
    await browser.link("Laws")  # a facet narrows the search, keeping the words
    assert "kind=law" in await browser.path() and "q=computer" in await browser.path()
    await browser.shot("search")
    await browser.link("Computer Misuse Act 1990")
    assert await browser.path() == "/records/GBR/law/gbr-computer-misuse-act-1990"
    assert "Provenance of version 2" in await browser.text()
    assert "exchange verify --receipt" in await browser.run(lambda: browser.driver.page_source)
    await browser.shot("record")
    await browser.fill({"#from": "1", "#to": "2"}, "form.diff button")
    assert "Changes from version 1 to version 2" in await browser.text()
    assert "in_force" in await browser.text("pre.diff .added")


async def test_country_article_and_languages(walk: tuple[Browser, Loaded]) -> None:
    browser, _ = walk
    await browser.open("/countries/ZAF")
    assert "Cybercrimes Act, 2020" in await browser.text()
    await browser.shot("country")
    await browser.open("/instruments/inst.coe.ets185/articles/2")
    main = await browser.text()
    assert "South Africa" in main and "Ireland" in main
    await browser.shot("article")
    await browser.open("/coverage?instrument=inst.coe.ets185")
    await browser.shot("coverage")
    await browser.link("العربية")
    assert await browser.attribute("html", "dir") == "rtl"
    assert await browser.attribute("html", "lang") == "ar"
    await browser.shot("coverage-ar")
    await browser.link("Français")
    assert await browser.attribute("html", "lang") == "fr"
    assert "Couverture des conventions" in await browser.text()
    await browser.open("/search")  # the choice is remembered
    assert await browser.attribute("html", "lang") == "fr"


async def test_a_focal_point_sees_its_rejection_and_an_administrator_registers(walk: tuple[Browser, Loaded]) -> None:
    browser, loaded = walk
    service = loaded.service
    bad = {"jurisdiction": "GBR", "title": {"original": {"lang": "en", "text": "Bad"}}, "document_type": "poem"}
    rejected = await service.submit_and_wait(loaded.signers["GBR"].submission(bad, record_id="bad"))
    assert rejected["status"] == "rejected"

    await browser.open("/me")
    assert (await browser.path()).startswith("/signin")
    await browser.fill({"#token": service.token}, "form.stacked button")
    assert await browser.path() == "/me"
    mine = await browser.text()
    assert rejected["submission_id"] in mine and "/record/document_type" in mine
    await browser.shot("me")
    await browser.click("form.inline button")  # sign out
    await browser.open("/admin")
    await browser.fill({"#token": service.admin_token}, "form.stacked button")
    assert await browser.path() == "/admin"
    await browser.fill(
        {"#p-id": "MEX", "#p-name": "Mexico", "#p-type": "member_state"}, 'form[action="/admin/participants"] button'
    )
    assert await browser.path() == "/admin?done=participant"
    key = SigningKey.generate("MEX/2026-01")
    await browser.fill(
        {"#k-kid": "MEX/2026-01", "#k-pem": key.public_pem().decode()}, 'form[action="/admin/keys"] button'
    )
    assert await browser.path() == "/admin?done=key"
    assert (await service.services.repository.get_key("MEX/2026-01")) is not None
    await browser.shot("admin")

    # a form whose CSRF value was tampered with is refused, and nothing changes
    await browser.run(
        lambda: browser.driver.execute_script(
            "document.querySelector('form[action=\"/admin/participants\"] input[name=csrf]').value = 'forged';"
        )
    )
    await browser.fill(
        {"#p-id": "CHL", "#p-name": "Chile", "#p-type": "member_state"}, 'form[action="/admin/participants"] button'
    )
    assert "did not come from this site" in await browser.text()
    assert await service.services.repository.get_participant("CHL") is None

    # without its session cookie (expired, or deleted) the page asks to sign in again
    await browser.run(browser.driver.delete_all_cookies)
    await browser.open("/admin")
    assert (await browser.path()).startswith("/signin")


PAGES = (
    "/",
    "/search?q=computer&kind=law",
    "/records/ZAF/law/zaf-cybercrimes-act-2020",
    "/records/GBR/law/gbr-computer-misuse-act-1990?from=1&to=2",
    "/countries",
    "/countries/ZAF",
    "/instruments",
    "/instruments/inst.coe.ets185",
    "/instruments/inst.coe.ets185/articles/2",
    "/coverage",
    "/coordination?jurisdiction=KEN",
    "/report",
    "/changes",
    "/log",
    "/signin",
    "/nowhere",
    "/?lang=ar",
)


async def test_every_page_type_is_accessible_narrow_and_usable_by_keyboard(walk: tuple[Browser, Loaded]) -> None:
    browser, _ = walk
    for path in PAGES:
        await browser.open(path)
        violations = await browser.axe()
        assert violations == [], (path, [(v["id"], v["help"], len(v["nodes"])) for v in violations])
    # a phone 360 pixels wide: no page is wider than the screen (a wide picture scrolls in its own frame)
    phone = {"width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": True}
    await browser.run(browser.driver.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride", phone)
    try:
        for path in PAGES:
            await browser.open(path)
            width = await browser.run(
                lambda: browser.driver.execute_script("return document.documentElement.scrollWidth")
            )
            assert width <= 360, (path, width)
        await browser.shot("phone")
    finally:
        await browser.run(browser.driver.execute_cdp_cmd, "Emulation.clearDeviceMetricsOverride", {})

    # the keyboard alone: the first Tab reaches the skip link; the search box takes words and Enter
    await browser.open("/")
    body = await browser.run(lambda: browser.driver.find_element(By.TAG_NAME, "body"))
    await browser.run(body.send_keys, Keys.TAB)
    focused = await browser.run(lambda: browser.driver.switch_to.active_element.get_attribute("class"))
    assert focused == "skip"
    for _ in range(30):
        await browser.run(lambda: browser.driver.switch_to.active_element.send_keys(Keys.TAB))
        if await browser.run(lambda: browser.driver.switch_to.active_element.get_attribute("id")) == "q":
            break
    else:
        pytest.fail("the search box cannot be reached with Tab")
    await browser.run(
        browser._navigating, lambda: browser.driver.switch_to.active_element.send_keys("fraud", Keys.ENTER)
    )
    assert (await browser.path()).startswith("/search?q=fraud")
