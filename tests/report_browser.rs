//! The HTML report in a real browser: Debian's headless Chromium driven through ChromeDriver
//! (WebDriver over HTTP). A failing run's report must show its anomalies, draw the timeline and
//! the plots, jump to a witness when an anomaly is clicked, show an operation's details on hover,
//! and log no console errors; a 100,000-operation history's report must load, draw and zoom.
//! Screenshots are saved beside the test's other output (the paths are printed).
//!
//! Needs `chromium` and `chromium-driver` (`scripts/test.sh` installs them as root); without them
//! these tests fail saying so.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod support;
use std::time::{Duration, Instant};
use support::{faultline, Scratch};
use targets::client::Client;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one browser session; both end when this is dropped, also when a
/// test fails.
struct Browser {
    driver: Child,
    http: Client,
    session: String,
    _profile: Scratch,
}

impl Browser {
    fn start() -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} not found: install Debian's {package} (as root: apt-get install chromium chromium-driver; scripts/test.sh does)"
            );
        }
        let port = targets::raftkv::cluster::free_port().unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut http = Client::new(&format!("127.0.0.1:{port}"), Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.request("GET", "/status", None).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = Scratch::new(&format!("chromium-{port}"));
        // The flags keep Chromium from reaching for the network (this machine has none) and
        // from needing a display or a sandbox (CI runs as root).
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.0.display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let reply = http
            .request("POST", "/session", Some(&caps))
            .expect("a session");
        let session = reply.body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {}", reply.body))
            .to_string();
        Browser {
            driver,
            http,
            session,
            _profile: profile,
        }
    }

    fn call(&mut self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let reply = self
            .http
            .request(method, &path, body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {what}: {e}"));
        assert_eq!(reply.status, 200, "{method} {what}: {}", reply.body);
        reply.body["value"].clone()
    }

    fn open(&mut self, page: &Path) {
        let url = format!("file://{}", page.canonicalize().unwrap().display());
        self.call("POST", "url", Some(json!({ "url": url })));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.js("return document.body && document.body.dataset.ready || ''") != "1" {
            assert!(
                Instant::now() < deadline,
                "the report did not finish drawing in 30 s; console: {:?}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn js(&mut self, script: &str) -> Value {
        self.call(
            "POST",
            "execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    fn find_all(&mut self, css: &str) -> Vec<String> {
        let found = self.call(
            "POST",
            "elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e[ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("{e}"))
                    .to_string()
            })
            .collect()
    }

    fn click(&mut self, element: &str) {
        self.call("POST", &format!("element/{element}/click"), Some(json!({})));
    }

    /// Moves the real mouse pointer to a point of the viewport.
    fn hover(&mut self, x: f64, y: f64) {
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "origin": "viewport",
                         "x": x.round() as i64, "y": y.round() as i64}]}]});
        self.call("POST", "actions", Some(actions));
    }

    /// Console messages at level SEVERE (errors, uncaught exceptions), since the last call.
    fn console(&mut self) -> Vec<String> {
        let logs = self.call("POST", "se/log", Some(json!({"type": "browser"})));
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["level"] == "SEVERE")
            .map(|l| l["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn screenshot(&mut self, name: &str) -> PathBuf {
        let png = self.call("GET", "screenshot", None);
        let bytes = targets::base64::decode(png.as_str().unwrap()).expect("a PNG in base64");
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, bytes).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// Non-background pixels of a canvas: proof that something was drawn.
    fn inked(&mut self, canvas: &str) -> u64 {
        self.js(&format!(
            "const c = document.getElementById('{canvas}');
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0;
             for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++;
             return n;"
        ))
        .as_u64()
        .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.http.request("DELETE", &path, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A short run with stale reads and faults; it violates linearizability almost always, so up to
/// three seeds are tried.
fn failing_run(store: &Path) -> PathBuf {
    for seed in ["11", "12", "13"] {
        let out = faultline(&[
            "run",
            "--store",
            store.to_str().unwrap(),
            "--time-limit",
            "6",
            "--nemesis",
            "partition,pause,kill",
            "--nemesis-interval",
            "1.5",
            "--read-mode",
            "stale",
            "--recovery",
            "1",
            "--seed",
            seed,
        ]);
        let code = out.status.code();
        assert!(
            code == Some(0) || code == Some(1),
            "run exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if code == Some(1) {
            return store.join("latest").canonicalize().unwrap();
        }
    }
    panic!("three stale-read runs were all linearizable");
}

#[test]
fn a_failing_runs_report_shows_its_anomalies_timeline_and_plots() {
    let store = Scratch::new("report-browser");
    let run = failing_run(&store.0);
    let report = run.join("report.html");
    assert!(report.is_file(), "faultline run wrote {}", report.display());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report loads nothing from the network"
    );

    let mut b = Browser::start();
    b.open(&report);
    assert_eq!(
        b.console(),
        Vec::<String>::new(),
        "no console errors on load"
    );

    // Summary and anomalies, as HTML.
    let verdict = b.js("return document.getElementById('verdict').textContent");
    assert_eq!(verdict, "linearizable: violated");
    let cards = b.find_all("article.anomaly");
    assert!(!cards.is_empty(), "the anomaly section lists anomalies");
    // The anomaly whose witness spans the shortest time: clicking it must narrow the window.
    let chosen = b.js(
        "const cards = Array.from(document.querySelectorAll('article.anomaly'));
         const all = cards.map((a, k) => {
           const ops = a.dataset.ops.split(' ').map(Number);
           const t0 = Math.min(...ops.map(i => faultline.op(i).t0));
           const t1 = Math.max(...ops.map(i => { const o = faultline.op(i); return o.t1 < 0 ? faultline.end : o.t1; }));
           return {k, ops, t0, t1, title: a.querySelector('h3').textContent,
                   sentence: a.querySelector('.sentence').textContent};
         });
         all.sort((a, b) => (a.t1 - a.t0) - (b.t1 - b.t0));
         return {best: all[0], end: faultline.end}",
    );
    println!("chosen anomaly: {chosen}");
    let best = &chosen["best"];
    let title = best["title"].as_str().unwrap();
    assert!(title.contains(". "), "a numbered anomaly: {title}");
    assert!(best["sentence"].as_str().unwrap().len() > 20);
    let witness: Vec<u64> = best["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(!witness.is_empty());
    let (w0, w1, end) = (
        best["t0"].as_f64().unwrap(),
        best["t1"].as_f64().unwrap(),
        chosen["end"].as_f64().unwrap(),
    );
    assert!(
        w1 - w0 < end / 4.0,
        "some anomaly's witness spans under a quarter of the run (stale reads are milliseconds apart)"
    );
    let card = best["k"].as_u64().unwrap() as usize;

    // The canvases are drawn.
    for canvas in ["overview", "timeline", "latency", "throughput", "nodes"] {
        assert!(b.inked(canvas) > 500, "{canvas} has something drawn on it");
    }
    let total = b
        .js("return document.getElementById('timeline').dataset.ops")
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let (ops, completed) = (
        b.js("return faultline.ops").as_u64().unwrap(),
        b.js("return faultline.completed").as_u64().unwrap(),
    );
    assert!(
        ops > 100,
        "a six-second run has some hundreds of operations: {ops}"
    );
    assert_eq!(total, ops, "the whole run is in view at first");
    assert_eq!(
        b.js("return +document.getElementById('latency').dataset.points")
            .as_u64()
            .unwrap(),
        completed,
        "every completed operation has a latency point"
    );
    let node_events = b
        .js("return +document.getElementById('nodes').dataset.events")
        .as_u64()
        .unwrap();
    assert!(node_events >= 1, "the faults show on the nodes lane");
    let shot = b.screenshot("report-overview.png");
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);

    // Clicking the anomaly zooms every plot to its witness and highlights it.
    b.click(&cards[card]);
    std::thread::sleep(Duration::from_millis(300));
    let state = b.js(&format!(
        "return {{t0: faultline.view.t0, t1: faultline.view.t1,
                 selected: document.querySelectorAll('article.anomaly')[{card}].classList.contains('selected'),
                 inView: +document.getElementById('timeline').dataset.ops}}"
    ));
    println!("after the click: {state}");
    assert_eq!(state["selected"], true);
    let (v0, v1) = (state["t0"].as_f64().unwrap(), state["t1"].as_f64().unwrap());
    assert!(v0 <= w0 && w1 <= v1, "the window holds the whole witness");
    let in_view = state["inView"].as_u64().unwrap();
    assert!(
        in_view < total && in_view >= witness.len() as u64,
        "the window narrowed to the witness: {in_view} of {total} ops in view"
    );

    // Hovering a witness operation shows its details.
    let spot = b.js(&format!(
        "const c = document.getElementById('timeline');
         c.scrollIntoView({{block: 'center'}});
         const box = document.getElementById('timeline-box');
         const p = faultline.locate({});
         const r = c.getBoundingClientRect();
         return {{x: r.left + p.x, y: r.top + p.y, boxTop: box.getBoundingClientRect().top}}",
        witness[0]
    ));
    b.hover(spot["x"].as_f64().unwrap(), spot["y"].as_f64().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    let tip =
        b.js("const t = document.getElementById('tip'); return t.hidden ? '' : t.textContent");
    println!("tooltip: {tip}");
    assert!(
        tip.as_str()
            .unwrap()
            .starts_with(&format!("#{} ", witness[0])),
        "the tooltip shows the hovered witness operation: {tip}"
    );
    assert!(tip
        .as_str()
        .unwrap()
        .contains("in the selected anomaly's witness"));
    b.screenshot("report-witness.png");
    assert_eq!(
        b.console(),
        Vec::<String>::new(),
        "no console errors after interacting"
    );
}

#[test]
fn a_report_of_100k_operations_loads_draws_and_zooms() {
    let dir = Scratch::new("report-100k");
    // 100,000 operations by 50 processes on 100 keys, every completion recorded.
    let history = dir.0.join("big.jsonl");
    let mut text = String::new();
    let mut time = 0u64;
    let mut line = |text: &mut String, p: u64, ty: &str, f: &str, key: u64, value: Value| {
        time += 7_000;
        text.push_str(
            &json!({"process": p, "type": ty, "f": f, "key": format!("k{key}"), "value": value, "time": time})
                .to_string(),
        );
        text.push('\n');
    };
    for round in 0..2000u64 {
        for p in 0..50u64 {
            let key = (round * 50 + p) % 100;
            if p % 2 == 0 {
                line(&mut text, p, "invoke", "write", key, json!(round * 50 + p));
            } else {
                line(&mut text, p, "invoke", "read", key, Value::Null);
            }
        }
        for p in 0..50u64 {
            let key = (round * 50 + p) % 100;
            if p % 2 == 0 {
                line(&mut text, p, "ok", "write", key, json!(round * 50 + p));
            } else {
                // Reads go to odd keys, which nothing writes: they return nil, correctly.
                line(&mut text, p, "ok", "read", key, Value::Null);
            }
        }
    }
    std::fs::write(&history, text).unwrap();
    let out_html = dir.0.join("big.html");
    let out = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        "--html",
        out_html.to_str().unwrap(),
        history.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&out_html).unwrap().len();
    println!("100k-op report: {:.1} MB", size as f64 / 1e6);

    let mut b = Browser::start();
    let started = Instant::now();
    b.open(&out_html);
    println!(
        "loaded and drawn in {} ms (page load + first draw)",
        started.elapsed().as_millis()
    );
    assert_eq!(b.console(), Vec::<String>::new());
    let all = b
        .js("return +document.getElementById('timeline').dataset.ops")
        .as_u64()
        .unwrap();
    assert_eq!(
        all, 100_000,
        "every operation is drawn in the whole-run view"
    );
    let redraw = b.js("return faultline.draw()");
    println!("redrawing every plot of the whole run took {redraw} ms");
    let zoom_in = b.find_all("#zoom-in").remove(0);
    b.click(&zoom_in);
    std::thread::sleep(Duration::from_millis(300));
    let zoomed = b
        .js("return +document.getElementById('timeline').dataset.ops")
        .as_u64()
        .unwrap();
    assert!(
        zoomed < all && zoomed > 0,
        "zooming in narrows the window: {zoomed}"
    );
    assert!(b.inked("timeline") > 10_000);
    b.screenshot("report-100k.png");
}
