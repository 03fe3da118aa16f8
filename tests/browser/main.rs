//! Browser tests: the `<cdr-form>` component and its page at `/ui/form.html`, driven in real
//! headless Chromium over WebDriver (`chromedriver`) against a real `cdr serve` on a fresh
//! test database. Each test says plainly "browser absent" and returns when chromedriver or
//! Chromium is not installed (CI installs them). Screenshots of the rendered forms are saved
//! under `target/browser/`.

#[path = "../../crates/cdr-server/tests/it/common.rs"]
#[allow(dead_code)]
mod common;

mod a11y;
mod conflict;
mod fill;
mod harness;
mod oidc;
mod roundtrip;
mod validation;
