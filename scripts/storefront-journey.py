#!/usr/bin/env python3
"""The storefront page's journey in headless Chromium (Selenium over chromedriver).

Usage: storefront-journey.py URL SCREENSHOT_DIR

Searches with filters, opens a product, adds it to the cart as a guest, tries a wrong password
(the error shows), registers a new account (the guest cart comes along), tries a declined card
(the error shows), checks out with the sandbox card that is authorized asynchronously, and waits until the order page shows the
payment's result arrive live on WatchOrder's stream; then cancels the order and waits for that
change too. Every wait is for an element or a text (WebDriverWait), never a fixed sleep. A
screenshot is saved after each step; the exit status is non-zero when a step fails (the page's
error banner and the browser console are printed, and a screenshot of the failure is saved).
"""
import os
import sys
import time
import uuid

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, OUT = sys.argv[1], sys.argv[2]
TIMEOUT = float(os.environ.get("BROWSER_TIMEOUT", "60"))
ASYNC_CARD = "4000 0000 0000 3220"
DECLINED_CARD = "4000 0000 0000 0002"

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
wait = WebDriverWait(driver, TIMEOUT)
shots = []
started = time.monotonic()


def by_id(name):
    return driver.find_element(By.ID, name)


def visible(name):
    return wait.until(EC.visibility_of_element_located((By.ID, name)))


def until(description, condition):
    try:
        return wait.until(lambda d: condition())
    except TimeoutException:
        raise AssertionError(f"timed out after {TIMEOUT:.0f}s waiting for {description}")


def screenshot(name):
    """The whole page: the window grows to the document's height first."""
    height, chrome = driver.execute_script(
        "return [Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),"
        " window.outerHeight - window.innerHeight]")
    driver.set_window_size(1280, max(900, min(int(height) + int(chrome), 4000)))
    path = os.path.join(OUT, name)
    driver.save_screenshot(path)
    driver.set_window_size(1280, 900)
    shots.append(path)
    print(f"[{time.monotonic() - started:5.1f}s] {name}")


def fill(name, text):
    field = by_id(name)
    field.clear()
    field.send_keys(text)


def search_then(action):
    """Runs action (which submits a search) and waits until that search's results are shown."""
    before = int(by_id("results").get_attribute("data-searches") or 0)
    action()
    until("the search results", lambda: int(by_id("results").get_attribute("data-searches") or 0) > before)


def run():
    driver.get(URL)
    # 1. The page opens on the search view with every product, newest first.
    until("the first search results", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#results li.result")) > 0)
    until("the category list", lambda: len(Select(by_id("search-category")).options) > 1)
    screenshot("01-search.png")

    # 2. Search with filters: a price ceiling, in stock only, cheapest first; then narrow to the
    #    first category the results' facets offer.
    fill("search-price-max", "150")
    if not by_id("search-in-stock").is_selected():
        by_id("search-in-stock").click()
    Select(by_id("search-sort")).select_by_value("PRODUCT_SORT_ORDER_PRICE_ASCENDING")
    search_then(lambda: by_id("search-submit").click())
    facet = until("a category facet", lambda: driver.find_elements(By.CSS_SELECTOR, "#search-facets button"))[0]
    print(f"          narrowing to the facet {facet.text!r}")
    search_then(facet.click)
    assert Select(by_id("search-category")).first_selected_option.get_attribute("value") != "", "no category chosen"
    results = driver.find_elements(By.CSS_SELECTOR, "#results li.result")
    assert results, "the filtered search found nothing: " + by_id("search-summary").text
    prices = [int(r.get_attribute("data-price-minor")) for r in results]
    assert all(p <= 15000 for p in prices), f"a result is above the price filter: {prices}"
    assert prices == sorted(prices), f"results are not cheapest first: {prices}"
    screenshot("02-search-filtered.png")

    # 3. Open the first product.
    first = results[0]
    title = first.find_element(By.TAG_NAME, "strong").text
    first.find_element(By.CSS_SELECTOR, "button.open-product").click()
    visible("product-view")
    until(f"the product page of {title!r}", lambda: by_id("product-title").text == title)
    screenshot("03-product.png")

    # 4. Add it to the cart as a guest.
    by_id("add-to-cart").click()
    visible("product-added")
    until("the cart count", lambda: by_id("cart-count").text == "1")
    screenshot("04-added-to-cart.png")

    # 5. The guest's cart: checking out needs an account.
    by_id("nav-cart").click()
    visible("cart-view")
    until("the cart line", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#cart-lines tr")) == 1)
    visible("checkout-signin")
    screenshot("05-cart-guest.png")

    # 6. A wrong password: the error banner says so.
    by_id("checkout-signin").find_element(By.TAG_NAME, "a").click()
    visible("account-view")
    email = f"browser-{uuid.uuid4().hex[:10]}@example.com"
    fill("login-email", email)
    fill("login-password", "not the password")
    by_id("login-submit").click()
    until("the error banner", lambda: by_id("error").is_displayed() and by_id("error").text.strip() != "")
    print(f"          the page showed: {by_id('error').text!r}")
    screenshot("06-login-error.png")

    # 7. Register a new account; the page merges the guest cart and returns to the cart.
    fill("register-name", "Browser Buyer")
    fill("register-email", email)
    fill("register-password", "correct horse battery")
    by_id("register-submit").click()
    visible("checkout-form")
    until("the signed-in label", lambda: "Browser Buyer" in by_id("session-label").text)
    until("the merged cart", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#cart-lines tr")) == 1)
    assert by_id("card-number").get_attribute("value") == "4242 4242 4242 4242"
    assert by_id("ship-name").get_attribute("value") == "Browser Buyer"
    screenshot("07-checkout.png")

    assert not by_id("checkout-signin").is_displayed()
    # 8. A declined card: the banner says why and links to the failed order; the cart stays.
    fill("card-number", DECLINED_CARD)
    by_id("place-order").click()
    until("the decline in the banner", lambda: by_id("error").is_displayed() and "PAYMENT_DECLINED" in by_id("error").text)
    assert by_id("error").find_elements(By.LINK_TEXT, "See the order"), "the banner does not link to the failed order"
    print(f"          the page showed: {by_id('error').text!r}")
    assert by_id("checkout-form").is_displayed()
    screenshot("08-checkout-declined.png")

    # 9. Check out with the card the sandbox authorizes about a second later.
    fill("card-number", ASYNC_CARD)
    by_id("place-order").click()
    visible("order-view")
    until("the order's status", lambda: by_id("order-status").get_attribute("data-status") not in (None, ""))
    placed = by_id("order-status").get_attribute("data-status")
    print(f"          checkout answered: {placed}")
    screenshot("09-order-placed.png")

    # 10. The payment's result arrives on the stream: CONFIRMED, marked live.
    until("CONFIRMED to arrive live", lambda: driver.find_elements(
        By.CSS_SELECTOR, '#order-timeline li[data-status="ORDER_STATUS_CONFIRMED"][data-live="true"]'))
    assert by_id("order-status").get_attribute("data-status") == "ORDER_STATUS_CONFIRMED"
    assert by_id("order-watch-state").get_attribute("data-state") == "live"
    screenshot("10-order-confirmed-live.png")

    # 11. Cancel: the cancellation arrives on the same stream, which then ends (a final status).
    visible("cancel-order").click()
    until("CANCELLED to arrive live", lambda: driver.find_elements(
        By.CSS_SELECTOR, '#order-timeline li[data-status="ORDER_STATUS_CANCELLED"][data-live="true"]'))
    until("the stream's end", lambda: by_id("order-watch-state").get_attribute("data-state") == "ended")
    until("the cart count to drop the bought line", lambda: by_id("cart-count").text == "0")
    timeline = [li.get_attribute("data-status") for li in driver.find_elements(By.CSS_SELECTOR, "#order-timeline li")]
    print(f"          timeline: {timeline}")
    screenshot("11-order-cancelled-live.png")

    # 12. The account lists the order.
    by_id("nav-account").click()
    visible("account-signed-in")
    assert not by_id("account-signed-out").is_displayed(), "the sign-in forms show while signed in"
    until("the order in the account's list", lambda: "cancelled" in by_id("orders-list").text)
    screenshot("12-account-orders.png")


status = 0
try:
    run()
    print(f"storefront journey: passed in {time.monotonic() - started:.1f}s")
except Exception as error:  # noqa: BLE001 - report any failure with the page's state
    status = 1
    print(f"storefront journey: FAILED: {error}", file=sys.stderr)
    try:
        banner = driver.find_element(By.ID, "error")
        if banner.is_displayed():
            print(f"the page's error banner: {banner.text!r}", file=sys.stderr)
        print(f"the page's location: {driver.current_url}", file=sys.stderr)
        screenshot("failure.png")
    except Exception:  # noqa: BLE001
        pass
finally:
    for entry in driver.get_log("browser"):
        print(f"browser console: {entry['level']} {entry['message']}", file=sys.stderr if status else sys.stdout)
    driver.quit()
print("screenshots:")
for path in shots:
    print(f"  {path}")
sys.exit(status)
