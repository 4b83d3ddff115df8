//! The app under WebDriver: `tauri-driver` (which runs WebKitWebDriver, which starts the real app binary in a
//! real WebKitGTK webview) on the X display the tests run under (`xvfb-run` in CI), driven with fantoccini.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(name: &str) -> Option<PathBuf> {
    let home_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home_bin)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `tauri-driver` on free ports; stopped with SIGTERM (SIGKILL would leave WebKitWebDriver on its port).
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "the app tests need an X display: run them under `xvfb-run -a` (apt-get install xvfb xauth)"
        );
        let exe = which("tauri-driver").expect(
            "tauri-driver is missing: cargo install tauri-driver --version ^2 --locked (and apt-get install webkit2gtk-driver)",
        );
        assert!(
            which("WebKitWebDriver").is_some() || Path::new("/usr/bin/WebKitWebDriver").exists(),
            "WebKitWebDriver is missing: apt-get install webkit2gtk-driver"
        );
        let (port, native) = (free_port(), free_port());
        let child = Command::new(exe)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tauri-driver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running app.
pub struct App {
    pub client: Client,
    marker: String,
    _driver: Driver,
}

impl App {
    /// Starts the app binary with `args` (its launch options) in a new WebDriver session.
    pub async fn launch(args: &[String]) -> App {
        App::launch_binary(env!("CARGO_BIN_EXE_carekiosk-app"), args).await
    }

    /// Starts the app binary at `binary` (the installed package's, say) with `args`.
    pub async fn launch_binary(binary: &str, args: &[String]) -> App {
        let driver = Driver::start();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary, "args": args }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a WebDriver session with the app");
        let marker = args
            .iter()
            .find(|a| a.contains("carekiosk-visit"))
            .cloned()
            .unwrap_or_default();
        App {
            client,
            marker,
            _driver: driver,
        }
    }

    /// Waits for an element.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => self.fail(&format!("{css} did not appear: {e}")).await,
        }
    }

    /// Fails the test with what the screen showed (and a screenshot of it).
    async fn fail(&self, what: &str) -> ! {
        let text = self.page_text().await;
        self.screenshot("failure").await;
        panic!("{what}\n--- the screen showed ---\n{text}\n---");
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if t.contains(needle) {
                        return t;
                    }
                    last = t;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("{css} never showed {needle:?}; last: {last:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element's attribute has `value`.
    pub async fn wait_attr(&self, css: &str, attr: &str, value: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if el.attr(attr).await.ok().flatten().as_deref() == Some(value) {
                    return;
                }
            }
            if Instant::now() > deadline {
                self.fail(&format!("{css} never had {attr}={value:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no element matches.
    pub async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
            .is_empty()
        {
            assert!(Instant::now() < deadline, "{css} is still there");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an element is shown now.
    pub async fn displayed(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        // Wait until it is enabled (forms fill in as their pick lists arrive).
        let deadline = Instant::now() + WAIT;
        while !el.is_enabled().await.unwrap_or(false) {
            assert!(Instant::now() < deadline, "{css} stayed disabled");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Into the middle of the screen, clear of the sticky header and footer, as a person would scroll.
        let _ = self
            .client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
                vec![css.into()],
            )
            .await;
        // A screen that re-renders between finding and clicking (the status arrives, a list fills in) leaves a
        // stale element: find it again and click again, as a person would, until the deadline.
        let mut el = el;
        loop {
            match el.click().await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(css, error = %e, "click did not take; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    el = self.find(css).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.ok();
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sets a form control's value the way a person's input would (date pickers and selects included).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.find(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('input', {bubbles: true})); \
                 el.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![css.into(), value.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("set {css}: {e}"));
    }

    /// Types a PIN on the on-screen pad and presses OK.
    pub async fn enter_pin(&self, pin: &str) {
        self.find("#pin-pad").await;
        for d in pin.chars() {
            self.click(&format!("#pin-pad [data-digit=\"{d}\"]")).await;
        }
        self.click("#pin-ok").await;
    }

    /// The page's whole text as shown.
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(e) => format!("(no page: {e})"),
        }
    }

    /// Saves a screenshot as `<name>.png` in `$CAREKIOSK_SCREENSHOTS` (the README's come from
    /// `scripts/screenshots.sh`, which points it at docs/screenshots), else in the target folder.
    pub async fn screenshot(&self, name: &str) {
        let dir = std::env::var_os("CAREKIOSK_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("carekiosk-screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        // The top of the screen, as a person at the kiosk sees it first; let the last frame settle.
        let _ = self.client.execute("window.scrollTo(0, 0)", vec![]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(png) = self.client.screenshot().await {
            assert!(png.starts_with(b"\x89PNG"), "a PNG");
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    /// Ends the session (the app closes) and stops the driver.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.close()).await;
        if !self.marker.is_empty() {
            let _ = Command::new("pkill").args(["-f", &self.marker]).status();
        }
    }
}
