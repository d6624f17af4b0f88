//! The dashboard end to end: the real `optidb daemon` on a real sandbox, opened in headless
//! Chromium through chromedriver's W3C WebDriver HTTP API — the list page (first contentful
//! paint measured), the query page, "Run simulation" (result time measured), a screenshot — and,
//! without a browser, the plain-GET rendering and the refusal of cross-site POSTs.

use optidb::sandbox::{Sandbox, SandboxOptions};
use optidb_e2e::{free_port, get, post_empty, Daemon};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SLOW: &str = "SELECT * FROM tickets WHERE buyer_id = ";

/// A sandbox with one slow seq-scan query run 20 times, a daemon on it, and one scan done.
fn setup() -> (Sandbox, tempfile::TempDir, Daemon, String) {
    let sb = Sandbox::start(SandboxOptions::default()).expect("sandbox");
    sb.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS hypopg;
         CREATE TABLE tickets (id int PRIMARY KEY, buyer_id int NOT NULL, price int, note text);
         INSERT INTO tickets SELECT g, g % 5000, g % 97, md5(g::text) FROM generate_series(1, 200000) g;
",
    )
    .expect("schema");
    // ANALYZE after the insert's statistics are flushed, so they are not stale.
    sb.batch_execute("ANALYZE tickets").expect("analyze");
    sb.batch_execute("SELECT pg_stat_statements_reset()")
        .expect("reset");
    for i in 0..20 {
        sb.batch_execute(&format!("{SLOW}{i}")).expect("workload");
    }
    // Markup in query text (here an alias) must come out escaped.
    for i in 0..3 {
        sb.batch_execute(&format!(
            "SELECT count(*) AS \"<i>x</i>\" FROM tickets WHERE price = {i}"
        ))
        .expect("workload");
    }
    let store = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        &optidb_e2e::optidb_url(&sb),
        store.path(),
        &["--sample-interval-ms", "0"],
    );
    let a = post_empty(&d.url("/scan")).expect("POST /scan");
    assert_eq!(a.status, 200, "scan failed: {}\n{}", a.body, d.stderr());
    let id = optidb_core::sql::fingerprint_only(&format!("{SLOW}1")).unwrap();
    (sb, store, d, id)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A POST with a form body and extra headers: status, headers, body text.
fn post_form(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body.to_string()).expect("POST");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

fn html_get(url: &str) -> (u16, String, Option<String>) {
    let mut r = agent().get(url).call().expect("GET");
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        r.body_mut().read_to_string().unwrap_or_default(),
        cache,
    )
}

#[test]
fn pages_read_without_javascript_and_cross_site_posts_are_refused() {
    let (_sb, _store, d, id) = setup();

    // The list page with a plain GET: the slow query is there, escaped, with its link.
    let (status, page, _) = html_get(&d.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains("buyer_id = $1"), "{page}");
    assert!(page.contains(&format!("/ui/queries/{id}")));
    assert!(page.contains("/static/htmx.min.js"));
    assert!(
        !page.contains("unpkg.com") && !page.contains("cdn"),
        "no CDN"
    );
    assert!(
        page.contains("&#60;i&#62;x&#60;/i&#62;"),
        "the alias is escaped: {page}"
    );
    assert!(!page.contains("<i>x</i>"));
    let (status, ui, _) = html_get(&d.url("/ui"));
    assert_eq!(status, 200);
    assert!(ui.contains("buyer_id = $1"));

    // The query page reads without JavaScript too: plan tree, chart, facts.
    let (status, q, _) = html_get(&d.url(&format!("/ui/queries/{id}")));
    assert_eq!(status, 200);
    assert!(q.contains("Seq Scan on public.tickets"), "{q}");
    assert!(q.contains("<svg") && q.contains("<polyline"));
    assert!(q.contains("class=\"plan-tree\""));
    // Unknown and malformed ids: readable HTML errors.
    let (status, body, _) = html_get(&d.url("/ui/queries/0123456789abcdef"));
    assert_eq!(status, 404);
    assert!(body.contains("unknown query"));
    assert_eq!(html_get(&d.url("/ui/queries/nope")).0, 400);

    // htmx is served by the daemon with a long cache.
    let (status, js, cache) = html_get(&d.url("/static/htmx.min.js"));
    assert_eq!(status, 200);
    assert!(js.contains("htmx"));
    assert!(cache.unwrap_or_default().contains("max-age=31536000"));

    // Cross-site POSTs get 403; so does a POST with no origin information and no token.
    let sim_url = d.url(&format!("/ui/queries/{id}/simulate"));
    let form = "mode=hypopg";
    let (status, body) = post_form(&sim_url, &[("origin", "http://evil.example")], form);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cross-site request refused"));
    let (status, _) = post_form(&sim_url, &[("sec-fetch-site", "cross-site")], form);
    assert_eq!(status, 403);
    let (status, _) = post_form(&sim_url, &[("hx-request", "true")], form);
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &sim_url,
        &[("hx-request", "true"), ("x-optidb-csrf", "0000")],
        form,
    );
    assert_eq!(status, 403);
    let (status, _) = post_form(&sim_url, &[], form);
    assert_eq!(status, 403);

    // The page's token (sent by htmx via hx-headers) lets an htmx request through.
    let token = page
        .split("\"X-OptiDB-CSRF\": \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("CSRF token in the page")
        .to_string();
    let rec_id = get(&d.url("/bottlenecks?limit=20"))
        .unwrap()
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query_id"] == id.as_str())
        .and_then(|r| {
            r["recommendations"].as_array()?.iter().find_map(|rec| {
                let t = rec["type"].as_str()?;
                (t == "missing_index" || t == "composite_index")
                    .then(|| rec["rec_id"].as_str().map(str::to_string))?
            })
        })
        .expect("an index recommendation for the slow query");
    let (status, body) = post_form(
        &sim_url,
        &[("hx-request", "true"), ("x-optidb-csrf", &token)],
        &format!("rec_id={rec_id}&mode=hypopg"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("sim-result") && body.contains("data-improvement"),
        "{body}"
    );
    // Without JavaScript the form posts normally (the browser sends Origin) and lands back on
    // the query page, where the run is listed.
    let origin = d.base.clone();
    let (status, body) = post_form(
        &sim_url,
        &[("origin", &origin)],
        &format!("rec_id={rec_id}&mode=hypopg"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Past simulations") && body.contains("class=\"sims\""),
        "{body}"
    );
    // A same-origin request with a bad mode: a readable error fragment with its status.
    let origin = d.base.clone();
    let (status, body) = post_form(
        &sim_url,
        &[("origin", &origin), ("hx-request", "true")],
        "mode=bogus",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("sim-error") && body.contains("bad mode"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// A minimal W3C WebDriver client over chromedriver.

const ELEMENT_KEY: &str = "element-6066-11e4-a52f-4a0a-bcf4bc8aafa3";

/// chromedriver and one browser session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "start /usr/bin/chromedriver (Debian package chromium-driver; scripts/setup.sh)",
            );
        let profile = tempfile::tempdir().unwrap();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            _profile: profile,
        };
        let t0 = Instant::now();
        loop {
            let ready = agent()
                .get(&format!("{}/status", b.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
                     format!("--user-data-dir={}", b._profile.path().display())]
        }}}});
        let v = b.call("POST", "/session", Some(caps));
        let id = v["sessionId"].as_str().expect("session id").to_string();
        b.session = Some(id);
        b
    }

    /// One WebDriver command; panics on a WebDriver error. Returns `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let r = match (method, body) {
            ("GET", _) => agent().get(&url).call(),
            ("DELETE", _) => agent().delete(&url).call(),
            (_, Some(b)) => agent().post(&url).send_json(&b),
            (_, None) => agent().post(&url).send_json(json!({})),
        };
        let mut r = r.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status < 400, "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn s(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session.as_deref().unwrap())
    }

    fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.get(ELEMENT_KEY)
            .or_else(|| v.as_object().and_then(|o| o.values().next()))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element id for {css}: {v}"))
            .to_string()
    }

    fn click(&self, el: &str) {
        self.call(
            "POST",
            &self.s(&format!("/element/{el}/click")),
            Some(json!({})),
        );
    }

    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    fn screenshot(&self, to: &[&Path]) {
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64_decode(b64.as_str().expect("base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        for p in to {
            std::fs::write(p, &png).expect("write screenshot");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = agent().delete(&format!("{}/session/{s}", self.base)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Polls `js` (which returns a value or null) until it is not null, up to `within`.
fn wait_for(b: &Browser, js: &str, within: Duration) -> Option<Value> {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        let v = b.script(js);
        if !v.is_null() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The page's first-contentful-paint time (ms since navigation start).
fn first_contentful_paint(b: &Browser) -> f64 {
    wait_for(
        b,
        "const e = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint'); \
         return e ? e.startTime : null;",
        Duration::from_secs(3),
    )
    .and_then(|v| v.as_f64())
    .expect("first-contentful-paint entry")
}

#[test]
fn headless_chromium_opens_the_dashboard_and_runs_a_simulation() {
    let (_sb, store, d, id) = setup();
    let shots: PathBuf = store.path().join("dashboard.png");
    let b = Browser::start();

    // The list page: the slow query's row, and its first contentful paint.
    b.goto(&d.url("/"));
    let row = b.script(&format!(
        "const r = document.querySelector('tr[data-query-id=\"{id}\"]'); return r ? r.textContent : null;"
    ));
    assert!(
        row.as_str().is_some_and(|t| t.contains("buyer_id = $1")),
        "row: {row}"
    );
    let fcp = first_contentful_paint(&b);
    // Again, with the browser warm and the static assets cached (what a user sees after the
    // first visit).
    b.goto(&d.url("/"));
    let warm = first_contentful_paint(&b);
    println!(
        "dashboard list page first contentful paint: {fcp:.1} ms (cold browser), {warm:.1} ms (warm)"
    );
    assert!(fcp < 1000.0 && warm < 1000.0, "FCP {fcp} / {warm} ms");
    // Copy buttons appear once the JS is there.
    let copy_visible =
        b.script("return [...document.querySelectorAll('button.copy')].some(x => !x.hidden);");
    assert_eq!(copy_visible, true);
    b.screenshot(&[
        &store.path().join("list.png"),
        Path::new("/tmp/optidb-dashboard-list.png"),
    ]);

    // Click through to the query page.
    let link = b.find(&format!("tr[data-query-id=\"{id}\"] td.q a"));
    b.click(&link);
    let on_page = wait_for(
        &b,
        "return document.querySelector('form.simulate button.run') ? location.pathname : null;",
        Duration::from_secs(5),
    );
    assert_eq!(on_page, Some(json!(format!("/ui/queries/{id}"))));
    let url_before = b.script("return location.href;");

    // Run simulation: "Running…" then the before/after, without a page reload.
    b.script(
        "window.__optidbMarker = 1; \
         document.body.addEventListener('htmx:beforeRequest', () => { window.__t0 = performance.now(); }); \
         document.body.addEventListener('htmx:afterSwap', () => { window.__t1 = performance.now(); }); \
         return null;",
    );
    let button = b.find("form.simulate button.run");
    let clicked = Instant::now();
    b.click(&button);
    let result = wait_for(
        &b,
        "const r = document.querySelector('.sim-slot .sim-result, .sim-slot .sim-error'); \
         return r ? {cls: r.className, text: r.textContent, imp: r.getAttribute('data-improvement')} : null;",
        Duration::from_secs(10),
    )
    .expect("a simulation result within 10 s");
    let seen_ms = clicked.elapsed().as_secs_f64() * 1000.0;
    let in_page =
        b.script("return (window.__t1 && window.__t0) ? window.__t1 - window.__t0 : null;");
    println!(
        "simulation result seen {seen_ms:.0} ms after the click (WebDriver polling); request→swap in the page {} ms",
        in_page.as_f64().map(|v| format!("{v:.0}")).unwrap_or_else(|| "?".into())
    );
    let text = result["text"].as_str().unwrap_or_default().to_string();
    assert!(
        result["cls"]
            .as_str()
            .unwrap_or_default()
            .contains("sim-result"),
        "{result}"
    );
    assert!(text.contains("before") && text.contains("after"), "{text}");
    let imp: f64 = result["imp"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    assert!(imp > 10.0, "improvement {imp}%: {text}");
    assert!(
        text.contains("Index Scan") || text.contains("Bitmap Heap Scan"),
        "{text}"
    );
    assert!(seen_ms < 2000.0, "simulation result took {seen_ms} ms");
    // No reload: same URL, and the marker set before the click survived.
    assert_eq!(b.script("return location.href;"), url_before);
    assert_eq!(b.script("return window.__optidbMarker || null;"), json!(1));
    // The run was added to "Past simulations" on the page (out-of-band swap), still no reload.
    let past = b.script("return document.querySelectorAll('#sims-body tr').length;");
    assert_eq!(past, json!(1), "past simulations rows");
    let table_shown = b.script(
        "return getComputedStyle(document.querySelector('table.sims')).display !== 'none';",
    );
    assert_eq!(table_shown, true);
    // The Running… indicator is hidden again.
    let running_shown = b.script(
        "return [...document.querySelectorAll('.running')].some(e => getComputedStyle(e).display !== 'none');",
    );
    assert_eq!(running_shown, false);

    b.script("document.querySelector('.sim-slot .sim-result').scrollIntoView({block: 'center'}); return null;");
    b.screenshot(&[&shots, Path::new("/tmp/optidb-dashboard.png")]);
    assert!(std::fs::metadata(&shots).unwrap().len() > 10_000);
    b.script("window.scrollTo(0, 0); return null;");
    b.screenshot(&[
        &store.path().join("query-top.png"),
        Path::new("/tmp/optidb-dashboard-query.png"),
    ]);
}
