//! A headless Chromium for page tests, driven over W3C WebDriver by
//! chromedriver, with `fantoccini` as the client (plain HTTP to loopback, so
//! the client is built without TLS).
//!
//! Each `Browser` runs its own chromedriver on a free loopback port, with its
//! own profile and download folder in a temporary directory. Dropping it stops
//! chromedriver and every browser process it started, even when a test panics.
//! Waits poll the page with a deadline; nothing sleeps for a fixed time.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// Long enough for a cold Chromium start on a busy two-core CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page condition may take to come true.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// `name` found on `PATH`, as the Debian packages `chromium` and
/// `chromium-driver` install it.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// The chromedriver process; dropping it ends it and its browsers.
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver was started as the leader of its own process group and
        // Chromium's processes stay in it: signalling the group also stops a
        // browser whose session was never closed (a failed test).
        if let Some(group) = i32::try_from(self.child.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Browser {
    pub client: Client,
    downloads: PathBuf,
    // Dropped after `client` (field order): the session's connection goes
    // first, then the driver, then the profile folder the browser wrote in.
    driver: Driver,
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and one headless Chromium session, or `None` when
    /// either is not installed.
    ///
    /// The browser runs in Cairo time, the counter PCs' zone, so that a page
    /// converting local times to UTC is tested with an offset that is not zero.
    pub async fn start() -> Option<Browser> {
        let chromedriver = on_path("chromedriver")?;
        let chromium = on_path("chromium")?;
        let dir = tempfile::tempdir().expect("browser temp dir");
        let profile = dir.path().join("profile");
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("download dir");

        let (driver, url) = spawn_driver(&chromedriver).await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("a JSON object") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a chromedriver session");
        Some(Browser { client, downloads, driver, dir })
    }

    /// Ends the session (and the browser) cleanly; the driver stops on drop.
    pub async fn close(self) {
        let Browser { client, driver, dir, .. } = self;
        let _ = client.close().await;
        drop(driver);
        drop(dir);
    }

    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than `null`/`false`,
    /// and returns that; panics with `what` and the last answer on timeout.
    pub async fn wait_for(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let value = self.js(script, args.clone()).await;
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.js("return document.body ? document.body.innerText : ''", vec![]).await;
                panic!("timed out waiting for {what}; the page shows:\n{}", page.as_str().unwrap_or_default());
            }
            sleep(POLL).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces an input's text by typing `text`, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if !text.is_empty() {
            element.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
        }
    }

    /// Sets an input's value directly: date-time pickers take keys in a
    /// locale-dependent order, so typing into them would test the locale.
    pub async fn set_value(&self, css: &str, value: &str) {
        let script = "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                      el.dispatchEvent(new Event('input', {bubbles: true})); \
                      el.dispatchEvent(new Event('change', {bubbles: true})); return el.value;";
        let set = self.js(script, vec![json!(css), json!(value)]).await;
        assert_eq!(set, json!(value), "{css} took the value");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT_TIMEOUT)
            .every(POLL)
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    /// Waits for a finished download whose name ends with `suffix` (Chromium
    /// writes `.crdownload` files until a download completes).
    pub async fn downloaded(&self, suffix: &str) -> (String, String) {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let found = std::fs::read_dir(&self.downloads)
                .expect("download dir")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)));
            if let Some(path) = found {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                let text = std::fs::read_to_string(&path).expect("a downloaded file is text");
                return (name, text);
            }
            assert!(Instant::now() < deadline, "no download ending with {suffix}");
            sleep(POLL).await;
        }
    }
}

/// Starts chromedriver on a free loopback port and waits until it is ready.
async fn spawn_driver(chromedriver: &Path) -> (Driver, String) {
    use std::os::unix::process::CommandExt;
    let http = reqwest::Client::new();
    // A port found free can be taken before chromedriver binds it; then the
    // driver exits at once and another port is tried.
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .env("TZ", "Africa/Cairo")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let mut driver = Driver { child };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(driver.child.try_wait(), Ok(Some(_))) {
                break;
            }
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(r) => r.json::<Value>().await.ok().is_some_and(|s| s["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return (driver, url);
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            sleep(POLL).await;
        }
    }
    panic!("chromedriver exited at start three times");
}
