//! The front end the node serves, and its cache headers (a CDN in front
//! caches hashed files for a year and revalidates the rest).

use serde_json::Value;

use crate::support::*;

/// A node serving a fake bundle, dashboard and demo page from its data dir.
async fn web_node() -> TestNode {
    spawn_app_with(|c| {
        let root = c.data_dir.join("web");
        std::fs::create_dir_all(root.join("dash")).unwrap();
        std::fs::create_dir_all(root.join("demo")).unwrap();
        std::fs::write(root.join("tracker.js"), "console.log('tracker v1')").unwrap();
        std::fs::write(
            root.join("dash/index.html"),
            "<script src=\"app-ABCDEFGH.js\"></script>",
        )
        .unwrap();
        std::fs::write(root.join("dash/app-ABCDEFGH.js"), "app()").unwrap();
        std::fs::write(
            root.join("demo/index.html"),
            "<head>\n<!-- REEL_SNIPPET -->\n</head><h1>Shop</h1>",
        )
        .unwrap();
        c.demo = true;
        c.web.tracker_bundle = root.join("tracker.js");
        c.web.dashboard_dir = root.join("dash");
        c.web.demo_dir = root.join("demo");
    })
    .await
}

#[actix_web::test]
async fn tracker_is_served_at_a_hashed_immutable_url_through_a_short_cached_loader() {
    let app = web_node().await;
    let res = app.get("/t/loader.js").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let loader = res.text().await.unwrap();
    let start = loader.find("/t/tracker.").unwrap();
    let end = start + loader[start..].find(".js").unwrap() + 3;
    let bundle_path = &loader[start..end];
    assert_eq!(bundle_path.len(), "/t/tracker.".len() + 16 + 3);
    let res = app.get(bundle_path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.text().await.unwrap(), "console.log('tracker v1')");
    // Another hash is not this bundle.
    let res = app.get("/t/tracker.0000000000000000.js").await;
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn dashboard_assets_are_immutable_and_its_page_revalidates() {
    let app = web_node().await;
    let res = app.get("/app/").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let res = app.get("/app/app-ABCDEFGH.js").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[actix_web::test]
async fn demo_pages_carry_the_snippet_of_the_demo_site() {
    let app = web_node().await;
    let res = app.get("/demo/").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let sites: Value = app.get_json("/api/v1/sites").await;
    let demo = sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Demo shop")
        .expect("a demo site");
    let key = demo["site_key"].as_str().unwrap();
    assert!(
        page.contains(&format!(
            r#"<script async src="/t/loader.js" data-site="{key}"></script>"#
        )),
        "{page}"
    );
    assert!(!page.contains("REEL_SNIPPET"));
    for bad in [
        "/demo/../Cargo.toml",
        "/demo/.hidden.html",
        "/demo/x.txt",
        "/demo/missing.html",
    ] {
        let res = app.get(bad).await;
        assert_eq!(res.status(), 404, "{bad}");
    }
}

#[actix_web::test]
async fn the_demo_cart_fails_with_a_500_and_a_json_error() {
    let app = web_node().await;
    for method in [reqwest::Method::POST, reqwest::Method::GET] {
        let res = app
            .http
            .request(
                method.clone(),
                format!("{}/demo/api/cart?sku=desk-lamp", app.base),
            )
            .body(r#"{"sku":"desk-lamp","quantity":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 500, "{method}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "internal");
        assert_eq!(body["message"], reel::http::web::DEMO_CART_DOWN);
    }
    // Without the demo there is no cart either.
    let plain = spawn_app().await;
    let res = plain
        .http
        .post(format!("{}/demo/api/cart", plain.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn sites_are_listed_for_the_tokens_organisation_only() {
    let app = spawn_app().await;
    let v: Value = app.get_json("/api/v1/sites").await;
    let sites = v["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["id"], app.site_id);
    assert_eq!(sites[0]["site_key"], app.site_key.as_str());
    assert_eq!(sites[0]["allowed_origins"][0], "https://shop.example");
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let other = index
        .create_token("elsewhere", "x", "member", None)
        .await
        .unwrap()
        .1;
    let res = app.get_as("/api/v1/sites", &other).await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["sites"].as_array().unwrap().len(), 0);
}
