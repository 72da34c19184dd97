//! The web UI in a real headless chromium (Debian's, through chromedriver), against a
//! collector loaded with the demo estate by a real agent scan on moto: the dashboard shows the
//! API's numbers, the map the API's nodes after a filter, a store's page its facts, and a new
//! scan's change arrives in the Changes view without a reload. Screenshots go to
//! `target/ui-artifacts/`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use landmeter_e2e::browser::{Browser, get_json, http_addr, shown};
use landmeter_e2e::estate::{self, Account, Aws};
use landmeter_e2e::{Collector, Moto, TempDir, run_agent};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// The test id fragment the UI derives from a row key (`slug` in app.js).
fn slug(key: &Value) -> String {
    let s = match key {
        Value::String(s) if s.is_empty() => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A figure as the UI keeps it in `data-value`: the number, or `unknown` (never 0).
fn figure(v: &Value) -> String {
    match v {
        Value::Null => "unknown".to_owned(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
        other => other.to_string(),
    }
}

/// Every `data-testid` with a `data-value` on the page, numbers normalised like [`figure`].
async fn dom_figures(b: &Browser) -> anyhow::Result<BTreeMap<String, String>> {
    let v = b
        .execute(
            "const o = {}; for (const e of document.querySelectorAll('[data-testid][data-value]')) o[e.dataset.testid] = e.dataset.value; return o;",
            vec![],
        )
        .await?;
    Ok(v.as_object()
        .context("figures are an object")?
        .iter()
        .map(|(k, v)| {
            let raw = v.as_str().unwrap_or_default();
            let norm = raw
                .parse::<f64>()
                .map_or_else(|_| raw.to_owned(), |f| f.to_string());
            (k.clone(), norm)
        })
        .collect())
}

/// Waits until the router has rendered `view` (app.js sets `body[data-ready]`).
async fn rendered(b: &Browser, view: &str) -> anyhow::Result<()> {
    b.wait_until(
        &format!("return document.body.dataset.ready === '{view}' && !document.querySelector('[data-testid=error]')"),
        WAIT,
    )
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_shows_the_map_the_api_serves() -> anyhow::Result<()> {
    // Fail, not skip, without chromium: this is the test that says to install it.
    let browser = Browser::start().await?;

    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    let truth = estate::seed(&aws, estate::DEMO).await?;
    let dir = TempDir::new("landmeter-ui")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    run_agent(&collector.url(), &moto.endpoint(), &[])
        .await?
        .success()?;
    let base = format!("http://{}", http_addr(&collector, WAIT)?);
    let token = collector.token().to_owned();

    // Sign in the way the demo's URL does: the token in the fragment, traded for the cookie.
    browser.goto(&format!("{base}/ui/#token={token}")).await?;
    rendered(&browser, "dashboard").await?;
    let url = browser.url().await?;
    ensure!(
        !url.contains(&token),
        "the token stays in the URL after sign-in: {url}"
    );

    // Dashboard: every number equals the API's.
    let api = get_json(&base, "/v1/dashboard", &token).await?;
    let mut expected = BTreeMap::new();
    expected.insert("dash-stores".to_owned(), figure(&api["stores"]));
    expected.insert("dash-bytes".to_owned(), figure(&api["bytes"]));
    expected.insert(
        "dash-stores-size-unknown".to_owned(),
        figure(&api["stores_size_unknown"]),
    );
    expected.insert(
        "dash-cost-monthly".to_owned(),
        figure(&api["costs"]["monthly_known"]),
    );
    expected.insert(
        "dash-cost-price-unknown".to_owned(),
        figure(&api["costs"]["stores_price_unknown"]),
    );
    // The five headline figures come first and equal the API's.
    let headline = api["headline"]
        .as_array()
        .context("dashboard has headline figures")?;
    ensure!(headline.len() == 5, "five headline figures: {api}");
    for f in headline {
        let id = format!("headline-{}", f["id"].as_str().unwrap_or_default());
        expected.insert(format!("{id}-stores"), figure(&f["stores"]));
        expected.insert(format!("{id}-unknown-stores"), figure(&f["unknown_stores"]));
    }
    let dims = api["dimensions"]
        .as_object()
        .context("dashboard has dimensions")?;
    let mut api_rows = 0;
    for (dim, rows) in dims {
        for row in rows.as_array().into_iter().flatten() {
            api_rows += 1;
            let id = format!("dim-{dim}-{}", slug(&row["key"]));
            expected.insert(format!("{id}-stores"), figure(&row["stores"]));
            expected.insert(format!("{id}-bytes"), figure(&row["bytes"]));
            expected.insert(
                format!("{id}-size-unknown"),
                figure(&row["stores_size_unknown"]),
            );
        }
    }
    ensure!(
        api["stores"].as_u64() == Some(truth.len() as u64),
        "the dashboard API counts {} stores, the estate has {}",
        api["stores"],
        truth.len()
    );
    ensure!(api_rows > 10, "too few dashboard rows to compare: {api}");
    let shown_figures = dom_figures(&browser).await?;
    let mismatches: Vec<String> = expected
        .iter()
        .filter(|(k, v)| shown_figures.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: API {v}, UI {:?}", shown_figures.get(k)))
        .collect();
    ensure!(
        mismatches.is_empty(),
        "dashboard differs from /v1/dashboard:\n{}",
        mismatches.join("\n")
    );
    let dom_rows = browser
        .execute(
            "return document.querySelectorAll('tr[data-testid^=\"dim-\"]').length",
            vec![],
        )
        .await?;
    ensure!(
        dom_rows.as_u64() == Some(api_rows),
        "the UI shows {dom_rows} dimension rows, the API has {api_rows}"
    );
    let stores_text = browser
        .text(&browser.wait_for("[data-testid=dash-stores]", WAIT).await?)
        .await?;
    ensure!(
        api["stores"].as_u64().map(|n| n.to_string()) == Some(stores_text.clone()),
        "stores shown as {stores_text:?}"
    );
    let note = browser
        .text(&browser.wait_for("[data-testid=dim-sov2]", WAIT).await?)
        .await?;
    ensure!(
        note.contains("not an official SEAL"),
        "SOV-2 card lacks the indicator label: {note}"
    );
    let shot = browser.screenshot("dashboard").await?;
    eprintln!("screenshot {}", shown(&shot));

    // Map: filter through the form; the SVG has as many nodes as /v1/graph for that filter.
    browser.goto(&format!("{base}/ui/#/map")).await?;
    rendered(&browser, "map").await?;
    let all_nodes = get_json(&base, "/v1/graph", &token).await?["nodes"]
        .as_array()
        .map_or(0, Vec::len);
    let drawn = browser
        .execute(
            "return document.querySelectorAll('svg [data-node-id]').length",
            vec![],
        )
        .await?;
    ensure!(
        drawn.as_u64() == Some(all_nodes as u64),
        "unfiltered map: {drawn} nodes drawn, the API has {all_nodes}"
    );
    // Keyboard: Enter on a focused store node opens its page, then back to the map.
    let first_store = browser.wait_for("svg [data-kind=store]", WAIT).await?;
    browser.press_enter(&first_store).await?;
    rendered(&browser, "store").await?;
    browser.wait_for("[data-testid=fact-row]", WAIT).await?;
    browser.goto(&format!("{base}/ui/#/map")).await?;
    rendered(&browser, "map").await?;
    let country = browser.wait_for("#f-country", WAIT).await?;
    browser.type_into(&country, "DE").await?;
    browser
        .click(
            &browser
                .wait_for("[data-testid=filters] button[type=submit]", WAIT)
                .await?,
        )
        .await?;
    browser
        .wait_until("return location.hash.includes('country=DE')", WAIT)
        .await?;
    rendered(&browser, "map").await?;
    let graph = get_json(&base, "/v1/graph?country=DE", &token).await?;
    let nodes = graph["nodes"].as_array().context("graph nodes")?;
    ensure!(
        !nodes.is_empty() && nodes.len() < all_nodes,
        "the DE filter should narrow the graph: {} of {all_nodes}",
        nodes.len()
    );
    let drawn = browser
        .wait_until(
            &format!(
                "const n = document.querySelectorAll('svg [data-node-id]').length; return n === {} ? n : 0",
                nodes.len()
            ),
            WAIT,
        )
        .await?;
    let ids = browser
        .execute(
            "return [...document.querySelectorAll('svg [data-node-id]')].map(e => e.dataset.nodeId).sort()",
            vec![],
        )
        .await?;
    let mut api_ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
    api_ids.sort_unstable();
    ensure!(
        ids == serde_json::json!(api_ids),
        "drawn nodes {ids} differ from the API's {api_ids:?} ({drawn} drawn)"
    );
    let shot = browser.screenshot("map-country-DE").await?;
    eprintln!("screenshot {}", shown(&shot));

    // Clicking a store opens its facts.
    let store_node = nodes
        .iter()
        .find(|n| n["kind"] == "store")
        .context("a store node in the DE graph")?;
    let node_id = store_node["id"].as_str().unwrap_or_default();
    let store_id = node_id.trim_start_matches("store:");
    let element = browser
        .wait_for(&format!("[data-node-id=\"{node_id}\"]"), WAIT)
        .await?;
    browser.click(&element).await?;
    rendered(&browser, "store").await?;
    let detail = get_json(
        &base,
        &format!("/v1/stores/{}", url_escape(store_id)),
        &token,
    )
    .await?;
    let facts = detail["facts"].as_array().context("facts")?;
    ensure!(!facts.is_empty(), "the API has no facts for {store_id}");
    let name = browser
        .text(&browser.wait_for("[data-testid=store-name]", WAIT).await?)
        .await?;
    let want = detail["store"]["name"].as_str().unwrap_or_default();
    ensure!(
        name.starts_with(want),
        "store page shows {name:?}, expected {want}"
    );
    // The page for people: the groups first, the raw facts folded away for auditors.
    for section in [
        "where",
        "keys",
        "copies",
        "size",
        "classification",
        "lockin",
        "indicators",
    ] {
        browser
            .wait_for(&format!("[data-testid=store-sec-{section}]"), WAIT)
            .await
            .with_context(|| format!("the store page's {section} section"))?;
    }
    let folded = browser
        .execute(
            "return document.querySelector('[data-testid=store-auditor]').open",
            vec![],
        )
        .await?;
    ensure!(folded == false, "the auditor section starts folded");
    browser
        .click(
            &browser
                .wait_for("[data-testid=store-auditor] > summary", WAIT)
                .await?,
        )
        .await?;
    let rows = browser.find_all("[data-testid=fact-row]").await?;
    ensure!(
        rows.len() == facts.len(),
        "{} fact rows shown, the API has {}",
        rows.len(),
        facts.len()
    );
    let table = browser
        .text(&browser.wait_for("[data-testid=store-facts]", WAIT).await?)
        .await?;
    for f in facts {
        let call = f["api_call"].as_str().unwrap_or_default();
        ensure!(
            table.contains(call),
            "the facts table lacks the source call {call}"
        );
    }
    let shot = browser.screenshot("store").await?;
    eprintln!("screenshot {}", shown(&shot));

    // A replicated store links to its copy's page, and its key to the key on the map.
    let all = get_json(&base, "/v1/stores?page_size=1000", &token).await?;
    let replicated = all["stores"]
        .as_array()
        .context("stores")?
        .iter()
        .find(|s| {
            s["replication"].as_array().is_some_and(|r| !r.is_empty())
                && s["key_arn"].as_str().is_some_and(|k| !k.is_empty())
        })
        .context("the demo estate has a replicated store under a customer key")?;
    let copy = &replicated["replication"][0];
    let replicated_page = format!(
        "{base}/ui/#/store/{}?tenant={}",
        url_escape(replicated["id"].as_str().unwrap_or_default()),
        replicated["tenant"].as_str().unwrap_or_default()
    );
    let replicated_name = replicated["name"].as_str().unwrap_or_default().to_owned();
    let this_store = "return document.body.dataset.ready === 'store' && document.querySelector('[data-testid=store-name]')?.textContent.startsWith(arguments[0]) ? 1 : null";
    browser.goto(&replicated_page).await?;
    browser
        .wait_until_with(
            this_store,
            vec![Value::String(replicated_name.clone())],
            WAIT,
        )
        .await?;
    let href = browser
        .execute(
            "return document.querySelector('[data-testid=store-key-link]').getAttribute('href')",
            vec![],
        )
        .await?;
    ensure!(
        href.as_str()
            .is_some_and(|h| h.starts_with("#/map?") && h.contains("find=")),
        "key link {href}"
    );
    browser
        .click(
            &browser
                .wait_for("[data-testid=store-copy-link]", WAIT)
                .await?,
        )
        .await?;
    let copy_bucket = copy["bucket"].as_str().context("the copy's bucket")?;
    browser
        .wait_until_with(
            this_store,
            vec![Value::String(copy_bucket.to_owned())],
            WAIT,
        )
        .await
        .with_context(|| format!("the copy link opens {copy_bucket}"))?;
    browser.goto(&replicated_page).await?;
    browser
        .wait_until_with(this_store, vec![Value::String(replicated_name)], WAIT)
        .await?;
    browser
        .click(
            &browser
                .wait_for("[data-testid=store-key-link]", WAIT)
                .await?,
        )
        .await?;
    rendered(&browser, "map").await?;
    let found = browser
        .wait_until(
            "const s = document.querySelector('[data-testid=graph-search-status]'); \
             return s && /match/.test(s.textContent) && document.querySelectorAll('svg .node.key.match').length === 1 ? s.textContent : null",
            WAIT,
        )
        .await
        .context("the map finds the store's key")?;
    eprintln!("key on the map: {found}");

    // Stores table with a filter: the rows are the API's page.
    browser
        .goto(&format!("{base}/ui/#/stores?eu=false"))
        .await?;
    rendered(&browser, "stores").await?;
    let api_stores = get_json(&base, "/v1/stores?eu=false&page_size=1000", &token).await?;
    let api_names: Vec<&str> = api_stores["stores"]
        .as_array()
        .context("stores")?
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    let names = browser
        .execute(
            "return [...document.querySelectorAll('[data-testid=store-link]')].map(a => a.textContent)",
            vec![],
        )
        .await?;
    ensure!(
        !api_names.is_empty() && names == serde_json::json!(api_names),
        "stores table {names} differs from the API's {api_names:?}"
    );
    // The total over every page is the summary's for the same filter.
    let summary = get_json(&base, "/v1/summary?eu=false&by=tenant", &token).await?;
    let total: i64 = summary
        .as_array()
        .context("summary rows")?
        .iter()
        .filter_map(|r| r["stores"].as_i64())
        .sum();
    let total_text = browser
        .execute(
            "return document.querySelector('[data-testid=stores-total]').textContent",
            vec![],
        )
        .await?;
    ensure!(
        total > 0
            && total_text
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{total} stores match"))),
        "stores total {total_text}, the summary {total}"
    );
    // The replication column says yes, no or unknown as the API does.
    for s in api_stores["stores"].as_array().context("stores")? {
        let id = s["id"].as_str().context("id")?;
        let want = match s["replicated_outside_eu"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "unknown",
        };
        let cell = browser
            .execute(
                "const c = [...document.querySelectorAll('[data-testid^=store-replication-]')].find(e => e.closest('tr').querySelector('a').getAttribute('href').includes(encodeURIComponent(arguments[0]))); return c ? c.textContent : null",
                vec![Value::String(id.to_owned())],
            )
            .await?;
        ensure!(cell == want, "{id}: replication {cell}, the API {want}");
    }
    // Sorted by bytes, largest first (a second click); searched down to one store.
    let sort = browser.wait_for("[data-testid=sort-bytes]", WAIT).await?;
    browser.click(&sort).await?;
    browser.click(&sort).await?;
    let largest = api_stores["stores"]
        .as_array()
        .context("stores")?
        .iter()
        .max_by_key(|s| s["bytes"].as_i64().unwrap_or(-1))
        .and_then(|s| s["name"].as_str())
        .context("a store")?
        .to_owned();
    let first = browser
        .execute(
            "return document.querySelector('[data-testid=store-link]').textContent",
            vec![],
        )
        .await?;
    ensure!(
        first == largest.as_str(),
        "sorted by bytes: first {first}, largest {largest}"
    );
    let search = browser
        .wait_for("[data-testid=stores-search]", WAIT)
        .await?;
    browser.type_into(&search, &largest).await?;
    let needle = largest.to_lowercase();
    let matching = api_stores["stores"]
        .as_array()
        .context("stores")?
        .iter()
        .filter(|s| {
            ["name", "id", "account", "region"]
                .map(|k| s[k].as_str().unwrap_or_default())
                .join(" ")
                .to_lowercase()
                .contains(&needle)
        })
        .count();
    browser
        .wait_until(
            &format!(
                "return document.querySelectorAll('[data-testid=store-link]').length === {matching}"
            ),
            WAIT,
        )
        .await
        .with_context(|| format!("searching {largest}: {matching} rows expected"))?;
    // CSV of every page: a header and one line per store the filter selects.
    browser
        .execute(
            "window.__csv = null; const make = URL.createObjectURL; URL.createObjectURL = (b) => { b.text().then(t => { window.__csv = t; }); return make(b); }; document.querySelector('[data-testid=stores-csv]').click(); return 1",
            vec![],
        )
        .await?;
    let csv = browser.wait_until("return window.__csv", WAIT).await?;
    let csv = csv.as_str().context("csv text")?;
    ensure!(
        csv.starts_with("id,name,tenant,provider")
            && csv.lines().count() as i64 == total + 1
            && csv.contains(&largest),
        "CSV export: {} lines for {total} stores:\n{csv}",
        csv.lines().count()
    );

    // Coverage and the exit scenario render the API's answers.
    browser.goto(&format!("{base}/ui/#/coverage")).await?;
    rendered(&browser, "coverage").await?;
    let scans = get_json(&base, "/v1/coverage", &token).await?["scans"]
        .as_array()
        .map_or(0, Vec::len);
    let cards = browser.find_all("[data-testid^=scan-]").await?.len();
    ensure!(
        scans > 0 && cards == scans,
        "coverage shows {cards} scans, the API {scans}"
    );
    // The exit form: providers chosen from the map and the price table, computed in one go.
    browser
        .goto(&format!("{base}/ui/#/exit?tenant=default"))
        .await?;
    rendered(&browser, "exit").await?;
    let choices = browser
        .execute(
            "const o = (id) => [...document.querySelectorAll(`#${id} option`)].map(e => e.value).filter(Boolean); \
             return {from: o('x-from'), to: o('x-to')}",
            vec![],
        )
        .await?;
    let names = get_json(&base, "/v1/names", &token).await?;
    ensure!(
        choices["from"] == names["provider"]
            && choices["to"].as_array().is_some_and(|t| t.len() > 3)
            && choices["to"]
                .as_array()
                .is_some_and(|t| t.iter().any(|p| p == "ovhcloud")),
        "exit choices {choices}, names {names}"
    );
    browser
        .execute(
            "document.getElementById('x-from').value = 'aws'; document.getElementById('x-to').value = 'ovhcloud'; return 1",
            vec![],
        )
        .await?;
    browser
        .click(
            &browser
                .wait_for("[data-testid=exit-form] button[type=submit]", WAIT)
                .await?,
        )
        .await?;
    browser
        .wait_until(
            "return document.body.dataset.ready === 'exit' && document.querySelector('[data-testid=exit-figures]') ? 1 : null",
            WAIT,
        )
        .await
        .context("the computed exit scenario")?;
    let exit = get_json(
        &base,
        "/v1/exit?from=aws&to=ovhcloud&bandwidth_mbps=1000&tenant=default",
        &token,
    )
    .await?;
    let shown_figures = dom_figures(&browser).await?;
    for (id, want) in [
        ("exit-fig-stores", &exit["stores"]),
        ("exit-fig-bytes", &exit["bytes"]),
        ("exit-fig-hours", &exit["transfer"]["hours"]),
        ("exit-fig-egress", &exit["egress"]["list_price"]["amount"]),
        ("exit-fig-keys", &exit["keys"]["keys_to_recreate"]),
    ] {
        ensure!(
            shown_figures.get(id) == Some(&figure(want)),
            "{id}: UI {:?}, API {want}",
            shown_figures.get(id)
        );
    }
    // The affected stores are the provider's, as the stores API lists them; every key is listed.
    let aws_stores = get_json(
        &base,
        "/v1/stores?provider=aws&tenant=default&page_size=100",
        &token,
    )
    .await?;
    let want_stores = aws_stores["stores"].as_array().map_or(0, Vec::len);
    let shown_stores = browser.find_all("[data-testid=exit-store]").await?.len();
    ensure!(
        want_stores > 0 && shown_stores == want_stores,
        "exit lists {shown_stores} stores, the API {want_stores}"
    );
    let want_keys: usize = exit["keys"]["by_custody"]
        .as_array()
        .context("by_custody")?
        .iter()
        .map(|g| g["key_ids"].as_array().map_or(0, Vec::len))
        .sum();
    let shown_keys = browser.find_all("[data-testid=exit-key]").await?.len();
    ensure!(
        want_keys > 0 && shown_keys == want_keys,
        "exit lists {shown_keys} keys, the API {want_keys}"
    );
    let exit_rows = exit.as_object().map_or(0, serde_json::Map::len);
    let shown_rows = browser
        .find_all("[data-testid=exit-result] > tbody > tr")
        .await?
        .len();
    ensure!(
        exit_rows > 0 && shown_rows == exit_rows,
        "exit shows {shown_rows} rows, the API {exit_rows}"
    );
    browser.wait_for("[data-testid=board-report]", WAIT).await?;
    let shot = browser.screenshot("exit").await?;
    eprintln!("screenshot {}", shown(&shot));

    // Changes: a re-tagged bucket and a second scan show up live, without a reload.
    browser.goto(&format!("{base}/ui/#/changes")).await?;
    rendered(&browser, "changes").await?;
    browser
        .wait_until(
            "return document.querySelector('[data-testid=changes-live]').textContent === 'live'",
            WAIT,
        )
        .await?;
    browser
        .execute("window.__noReload = 'still here'; return 1", vec![])
        .await?;
    let before = browser.find_all("[data-testid^=change-row-]").await?.len();
    let bucket = "gemeente-burgerzaken";
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("classification")
                .value("BBN3")
                .build()?,
        )
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("process")
                .value("burgerzaken")
                .build()?,
        )
        .build()?;
    aws.s3(Account::Main, "eu-central-1")
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .context("re-tag the bucket")?;
    run_agent(&collector.url(), &moto.endpoint(), &[])
        .await?
        .success()?;
    let row = browser
        .wait_until(
            &format!(
                "for (const r of document.querySelectorAll('[data-testid^=change-row-]')) \
                 if (r.textContent.includes('{bucket}') && r.textContent.includes('BBN3')) return r.textContent; \
                 return null"
            ),
            WAIT,
        )
        .await?;
    ensure!(
        row.as_str().is_some_and(|t| t.contains("BBN2")),
        "the change row does not show before and after: {row}"
    );
    let marker = browser.execute("return window.__noReload", vec![]).await?;
    ensure!(
        marker == "still here",
        "the page reloaded (marker is {marker})"
    );
    let after = browser.find_all("[data-testid^=change-row-]").await?.len();
    ensure!(after > before, "no new change rows ({before} -> {after})");
    let shot = browser.screenshot("changes-live").await?;
    eprintln!("screenshot {}", shown(&shot));

    // The history's controls: a kind of change, and a day since which (none from tomorrow).
    let recorded = get_json(&base, "/v1/changes", &token).await?;
    let changed = recorded
        .as_array()
        .context("changes")?
        .iter()
        .filter(|e| e["kind"] == "changed")
        .count();
    browser
        .goto(&format!(
            "{base}/ui/#/changes?kind=changed&since=2020-01-01"
        ))
        .await?;
    browser
        .wait_until(
            "return document.body.dataset.ready === 'changes' && document.getElementById('f-kind')?.value === 'changed' ? 1 : null",
            WAIT,
        )
        .await?;
    let kinds = browser
        .execute(
            "return [...document.querySelectorAll('[data-testid^=change-row-]')].map(r => r.dataset.kind)",
            vec![],
        )
        .await?;
    let kinds = kinds.as_array().context("kinds")?;
    ensure!(
        changed > 0 && kinds.len() == changed && kinds.iter().all(|k| k == "changed"),
        "kind=changed shows {kinds:?}, the API has {changed} changed"
    );
    let tomorrow = browser
        .execute(
            // Two days on: tomorrow in every time zone.
            "const d = new Date(Date.now() + 2 * 86400000); return d.toISOString().slice(0, 10)",
            vec![],
        )
        .await?;
    let tomorrow = tomorrow.as_str().context("a day")?.to_owned();
    browser
        .goto(&format!("{base}/ui/#/changes?since={tomorrow}"))
        .await?;
    browser
        .wait_until(
            "return document.body.dataset.ready === 'changes' && document.querySelector('[data-testid=changes-none]') ? 1 : null",
            WAIT,
        )
        .await?;
    ensure!(
        browser
            .find_all("[data-testid^=change-row-]")
            .await?
            .is_empty(),
        "changes since {tomorrow} should be none"
    );
    Ok(())
}

/// Percent-encodes a path segment.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The assets and the session without a browser: redirect, strict CSP, revalidation, the
/// cookie only for a valid token, the API reading it, logout clearing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_with_a_strict_policy_and_a_cookie_session() -> anyhow::Result<()> {
    let dir = TempDir::new("landmeter-ui-http")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    let base = format!("http://{}", http_addr(&collector, WAIT)?);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let root = http.get(format!("{base}/")).send().await?;
    ensure!(
        root.status().is_redirection() && root.headers()["location"] == "/ui/",
        "GET / answered {} {:?}",
        root.status(),
        root.headers().get("location")
    );
    let index = http.get(format!("{base}/ui/")).send().await?;
    ensure!(index.status() == 200, "GET /ui/: {}", index.status());
    let csp = index.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    ensure!(
        csp.starts_with("default-src 'self'") && !csp.contains("unsafe"),
        "CSP {csp}"
    );
    ensure!(
        index.headers()["content-type"]
            .to_str()?
            .starts_with("text/html")
    );
    let html = index.text().await?;
    ensure!(
        !html.contains("http://") && !html.contains("https://"),
        "index.html loads something from elsewhere"
    );
    let js = http.get(format!("{base}/ui/assets/app.js")).send().await?;
    ensure!(
        js.headers()["content-type"]
            .to_str()?
            .starts_with("text/javascript")
    );
    ensure!(js.headers()["cache-control"] == "no-cache");
    let etag = js.headers()["etag"].clone();
    let body = js.text().await?;
    ensure!(
        !body.contains("innerHTML") && !body.contains("https://"),
        "app.js uses innerHTML or a remote URL"
    );
    let again = http
        .get(format!("{base}/ui/assets/app.js"))
        .header("if-none-match", etag)
        .send()
        .await?;
    ensure!(
        again.status() == 304,
        "revalidation answered {}",
        again.status()
    );
    let missing = http.get(format!("{base}/ui/assets/nope.js")).send().await?;
    ensure!(
        missing.status() == 404,
        "unknown asset: {}",
        missing.status()
    );

    let session = |token: &str| {
        http.post(format!("{base}/ui/session"))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "token": token }).to_string())
            .send()
    };
    let bad = session("lm_0000").await?;
    ensure!(
        bad.status() == 401,
        "a wrong token answered {}",
        bad.status()
    );
    ensure!(
        bad.headers().get("set-cookie").is_none(),
        "a wrong token got a cookie"
    );
    let good = session(collector.token()).await?;
    ensure!(
        good.status() == 204,
        "a valid token answered {}",
        good.status()
    );
    let cookie = good.headers()["set-cookie"].to_str()?.to_owned();
    // A session id of its own (never the token), with a lifetime.
    ensure!(
        cookie.starts_with("landmeter_session=ls_")
            && !cookie.contains(collector.token())
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/")
            && cookie.contains("Max-Age="),
        "cookie {cookie}"
    );
    let pair = cookie.split(';').next().unwrap_or_default().to_owned();
    let summary = http
        .get(format!("{base}/v1/summary"))
        .header("cookie", &pair)
        .send()
        .await?;
    ensure!(
        summary.status() == 200,
        "the API refused the cookie: {}",
        summary.status()
    );
    let anonymous = http.get(format!("{base}/v1/summary")).send().await?;
    ensure!(
        anonymous.status() == 401,
        "no cookie, no token: {}",
        anonymous.status()
    );
    let out = http
        .post(format!("{base}/ui/logout"))
        .header("cookie", &pair)
        .send()
        .await?;
    let cleared = out.headers()["set-cookie"].to_str()?;
    ensure!(
        out.status() == 204
            && cleared.starts_with("landmeter_session=;")
            && cleared.contains("Max-Age=0"),
        "logout answered {} {cleared}",
        out.status()
    );
    // Ended server-side: the old cookie replayed is refused.
    let replayed = http
        .get(format!("{base}/v1/summary"))
        .header("cookie", &pair)
        .send()
        .await?;
    ensure!(
        replayed.status() == 401,
        "a cookie replayed after logout answered {}",
        replayed.status()
    );
    Ok(())
}

#[test]
fn a_missing_chromium_fails_and_says_how_to_install_it() {
    let missing = std::path::Path::new("/nonexistent/chromium");
    let err = landmeter_e2e::browser::check_installed(missing, missing)
        .expect_err("a missing chromium must fail, not skip");
    assert!(
        format!("{err}").contains("scripts/setup-browser.sh"),
        "{err}"
    );
}

/// Issue 18 #5: the language switch. The collector's words come from its catalogues
/// (`/ui/locales/<lang>.json`); choosing Nederlands sets `<html lang="nl">`, Dutch headings and
/// navigation, and is remembered across a reload (localStorage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_switches_to_dutch_and_remembers_it() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    let dir = TempDir::new("landmeter-ui-lang")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    let base = format!("http://{}", http_addr(&collector, WAIT)?);
    let token = collector.token().to_owned();

    // The catalogues: English by default (no `language` configured), Dutch on request.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let default: Value = http
        .get(format!("{base}/ui/locales/default.json"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        default["lang"] == "en" && default["default"] == "en",
        "{default}"
    );
    let nl: Value = http
        .get(format!("{base}/ui/locales/nl.json"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        nl["messages"]["ui-title-coverage"] == "Dekking",
        "Dutch catalogue: {nl}"
    );
    let unknown = http
        .get(format!("{base}/ui/locales/fr.json"))
        .send()
        .await?;
    ensure!(unknown.status() == 404, "fr: {}", unknown.status());

    browser.goto(&format!("{base}/ui/#token={token}")).await?;
    rendered(&browser, "dashboard").await?;
    ensure!(
        browser
            .execute("return document.documentElement.lang", vec![])
            .await?
            == "en"
    );
    browser.goto(&format!("{base}/ui/#/coverage")).await?;
    rendered(&browser, "coverage").await?;
    browser
        .execute(
            "const s = document.getElementById('lang'); s.value = 'nl'; s.dispatchEvent(new Event('change')); return true;",
            vec![],
        )
        .await?;
    browser
        .wait_until(
            "return document.documentElement.lang === 'nl' && document.querySelector('#view h1')?.textContent === 'Dekking' && document.body.dataset.ready === 'coverage'",
            WAIT,
        )
        .await
        .context("the coverage view in Dutch")?;
    let nav = browser
        .execute(
            "return document.querySelector('#nav a[data-view=stores]').textContent",
            vec![],
        )
        .await?;
    ensure!(nav == "Opslagen", "navigation in Dutch: {nav}");
    // The view's own words too, from the catalogue: its note and its button.
    let body = browser
        .execute(
            "return {note: document.querySelector('#view .note')?.textContent, button: document.querySelector('#view form button')?.textContent}",
            vec![],
        )
        .await?;
    ensure!(
        body["note"] == nl["messages"]["ui-coverage-note"] && body["button"] == "Tonen",
        "the coverage view's words in Dutch: {body}"
    );
    browser.screenshot("ui-dutch-coverage").await?;

    // Remembered: a reload stays Dutch.
    browser.goto(&format!("{base}/ui/#/stores")).await?;
    browser
        .execute(
            "setTimeout(() => location.reload(), 0); return true;",
            vec![],
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .wait_until(
            "return document.documentElement.lang === 'nl' && document.querySelector('#view h1')?.textContent === 'Opslagen'",
            WAIT,
        )
        .await
        .context("still Dutch after a reload")?;
    Ok(())
}

/// The viewports every view is checked and photographed at: a laptop and a phone.
const VIEWPORTS: [(&str, u32, u32, bool); 2] =
    [("desktop", 1440, 900, false), ("mobile", 390, 844, true)];

/// WCAG 2.2 AA on every view, at 1440x900 and 390x844: axe-core (vendored) finds no violation,
/// each view has its own title, focus is on the view's heading after navigating to it, the
/// page never scrolls sideways, and the sign-in page has no navigation. Screenshots of every
/// view at both sizes go to `target/ui-artifacts/a11y-<view>-<viewport>.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_passes_axe_on_desktop_and_phone() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    let moto = Moto::start()?;
    let aws = Aws::connect(&moto.endpoint()).await?;
    estate::seed(&aws, estate::DEMO).await?;
    let dir = TempDir::new("landmeter-ui-a11y")?;
    let db = dir.path().join("map.db");
    let collector =
        Collector::start_with(dir, &db, "127.0.0.1:0", &["--http-listen", "127.0.0.1:0"])?;
    run_agent(&collector.url(), &moto.endpoint(), &[])
        .await?
        .success()?;
    let base = format!("http://{}", http_addr(&collector, WAIT)?);
    let token = collector.token().to_owned();
    let first = get_json(&base, "/v1/stores?page_size=1", &token).await?;
    let first = &first["stores"][0];
    let store_href = format!(
        "#/store/{}?tenant={}",
        url_escape(first["id"].as_str().context("a store id")?),
        first["tenant"].as_str().unwrap_or_default()
    );
    // (the router's name, the screenshot's name, the route)
    let views = [
        ("dashboard", "dashboard", "#/dashboard".to_owned()),
        ("map", "map", "#/map".to_owned()),
        ("map", "map-grouped", "#/map?group=always".to_owned()),
        ("stores", "stores", "#/stores".to_owned()),
        ("store", "store", store_href),
        ("changes", "changes", "#/changes".to_owned()),
        ("coverage", "coverage", "#/coverage".to_owned()),
        (
            "exit",
            "exit",
            "#/exit?from=aws&to=ovhcloud&bandwidth_mbps=1000&tenant=default".to_owned(),
        ),
    ];

    browser.goto(&format!("{base}/ui/#token={token}")).await?;
    rendered(&browser, "dashboard").await?;
    let mut problems = Vec::new();
    for (viewport, width, height, mobile) in VIEWPORTS {
        browser.set_viewport(width, height, mobile).await?;
        let mut titles = BTreeMap::new();
        for (view, shot, href) in &views {
            // A hash change, as a click on the navigation makes: the document stays.
            browser
                .execute(
                    "location.hash = arguments[0]; return 1",
                    vec![Value::String(href.clone())],
                )
                .await?;
            rendered(&browser, view).await?;
            let state = browser
                .execute(
                    "const a = document.activeElement; const d = document.documentElement; \
                     return {title: document.title, focus: a ? a.tagName : null, \
                             heading: (document.querySelector('#view h1') || {}).textContent || null, \
                             scroll: d.scrollWidth, width: d.clientWidth}",
                    vec![],
                )
                .await?;
            let title = state["title"].as_str().unwrap_or_default().to_owned();
            if !title.ends_with("landmeter") || title == "landmeter" {
                problems.push(format!("{viewport} {view}: title {title:?} names no view"));
            }
            // The grouped map is the map view again: its title is the map's.
            if let Some(other) = titles.insert(title.clone(), *view)
                && other != *view
            {
                problems.push(format!(
                    "{viewport}: {view} and {other} share the title {title:?}"
                ));
            }
            if state["focus"] != "H1" {
                problems.push(format!(
                    "{viewport} {view}: focus on {} after the view change, not its heading",
                    state["focus"]
                ));
            }
            if state["scroll"].as_u64() > state["width"].as_u64() {
                problems.push(format!(
                    "{viewport} {view}: the page scrolls sideways ({} px wide in {} px)",
                    state["scroll"], state["width"]
                ));
            }
            for v in browser.axe_violations().await? {
                problems.push(format!("{viewport} {view}: {v}"));
            }
            let shot = browser
                .screenshot(&format!("a11y-{shot}-{viewport}"))
                .await?;
            eprintln!("screenshot {}", shown(&shot));
        }
    }

    // The map grouped on request: a legend that is true, an arrowhead on every edge, and a
    // click on a group shows its stores.
    browser.set_viewport(1440, 900, false).await?;
    browser
        .execute(
            "location.hash = arguments[0]; return 1",
            vec![Value::String("#/map?group=always".to_owned())],
        )
        .await?;
    rendered(&browser, "map").await?;
    let grouped = get_json(&base, "/v1/graph?group=always", &token).await?;
    ensure!(grouped["aggregated"] == true, "group=always: {grouped}");
    let api_edges = grouped["edges"].as_array().context("edges")?;
    let api_replication = api_edges
        .iter()
        .filter(|e| e["kind"] == "replicates-to")
        .count();
    let drawing = browser
        .execute(
            "const e = [...document.querySelectorAll('svg.graph path.edge')]; \
             const legend = document.querySelector('[data-testid=graph-legend]'); \
             return {edges: e.length, \
                     arrows: e.filter(p => /^url\\(#arrow/.test(p.getAttribute('marker-end') || '')).length, \
                     replication: e.filter(p => p.dataset.kind === 'replicates-to' && p.getAttribute('marker-end') === 'url(#arrow-rep)').length, \
                     markers: document.querySelectorAll('svg.graph marker path').length, \
                     legend: legend ? legend.textContent : null}",
            vec![],
        )
        .await?;
    ensure!(
        drawing["edges"].as_u64() == Some(api_edges.len() as u64)
            && drawing["arrows"] == drawing["edges"]
            && drawing["replication"].as_u64() == Some(api_replication as u64)
            && drawing["markers"].as_u64() >= Some(2),
        "edges and arrowheads drawn {drawing}, the API has {} edges, {api_replication} replicating",
        api_edges.len()
    );
    ensure!(
        api_replication > 0,
        "the demo estate replicates, the grouped map shows none"
    );
    let legend = drawing["legend"].as_str().unwrap_or_default();
    ensure!(
        legend.contains("replicates to")
            && legend.contains("outside the EU/EEA")
            && !legend.contains("border width"),
        "legend: {legend}"
    );
    let group = grouped["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .filter(|n| n["kind"] == "store-group")
        .max_by_key(|n| n["count"].as_u64())
        .context("a store group")?;
    let group_id = group["id"].as_str().context("group id")?;
    let node = browser
        .wait_for(&format!("svg [data-node-id=\"{group_id}\"]"), WAIT)
        .await?;
    browser.click(&node).await?;
    browser
        .wait_until("return location.hash.includes('expand=')", WAIT)
        .await?;
    rendered(&browser, "map").await?;
    let expanded = get_json(
        &base,
        &format!("/v1/graph?group=always&expand={}", url_escape(group_id)),
        &token,
    )
    .await?;
    let stores_api = expanded["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .filter(|n| n["kind"] == "store")
        .count();
    let stores_drawn = browser
        .wait_until(
            "return document.querySelectorAll('svg [data-kind=store]').length",
            WAIT,
        )
        .await?;
    ensure!(
        stores_api as u64 == group["count"].as_u64().unwrap_or(0)
            && stores_drawn.as_u64() == Some(stores_api as u64),
        "group {group_id} of {} stores expanded: {stores_drawn} drawn, the API {stores_api}",
        group["count"]
    );
    // The search finds a store of the expanded group by the end of its id and says how many
    // matched.
    let wanted = expanded["nodes"]
        .as_array()
        .context("nodes")?
        .iter()
        .filter(|n| n["kind"] == "store")
        .filter_map(|n| n["id"].as_str())
        .map(|id| id.rsplit([':', '/']).next().unwrap_or(id).to_owned())
        .find(|tail| tail.len() >= 4)
        .context("a store with a searchable name")?;
    let search = browser.wait_for("[data-testid=graph-search]", WAIT).await?;
    browser.type_into(&search, &wanted).await?;
    let found = browser
        .wait_until(
            "const s = document.querySelector('[data-testid=graph-search-status]').textContent; \
             return /match/.test(s) && document.querySelectorAll('svg .node.match').length > 0 ? s : null",
            WAIT,
        )
        .await?;
    eprintln!("map search: {found}");
    let shot = browser.screenshot("map-group-expanded").await?;
    eprintln!("screenshot {}", shown(&shot));

    // Signed out: the sign-in page, without the navigation, passes too.
    browser.set_viewport(1440, 900, false).await?;
    browser
        .click(&browser.wait_for("#logout", WAIT).await?)
        .await?;
    browser
        .wait_until("return !document.getElementById('login').hidden", WAIT)
        .await?;
    for (viewport, width, height, mobile) in VIEWPORTS {
        browser.set_viewport(width, height, mobile).await?;
        let nav = browser
            .execute(
                "const n = document.getElementById('nav'); return !!n && n.getClientRects().length > 0",
                vec![],
            )
            .await?;
        if nav != Value::Bool(false) {
            problems.push(format!("{viewport} sign-in: the navigation is shown"));
        }
        let title = browser.execute("return document.title", vec![]).await?;
        if title.as_str().is_none_or(|t| !t.starts_with("Sign in")) {
            problems.push(format!("{viewport} sign-in: title {title}"));
        }
        for v in browser.axe_violations().await? {
            problems.push(format!("{viewport} sign-in: {v}"));
        }
        let shot = browser
            .screenshot(&format!("a11y-sign-in-{viewport}"))
            .await?;
        eprintln!("screenshot {}", shown(&shot));
    }
    ensure!(
        problems.is_empty(),
        "{} accessibility problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    Ok(())
}
