//! PROTOCOL.md §3: every string a client sends is bounded (`hello`'s are
//! cut, never refused) and loses its NUL characters before it reaches the
//! index; `identify` counts against the session's rate limits.

use std::io::Write;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

const T0: i64 = 1_763_000_000_000;
const MIB: usize = 1024 * 1024;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn assert_clean(v: &Value, field: &str, max: usize) -> String {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"));
    assert!(!s.contains('\0'), "{field} holds a NUL");
    assert!(s.len() <= max, "{field} is {} bytes, over {max}", s.len());
    s.to_owned()
}

#[actix_web::test]
async fn hello_fields_of_a_mebibyte_are_cut_and_no_nul_reaches_the_index() {
    let app = spawn_app().await;
    let limits = reel_protocol::Limits::default();
    let (url_max, ref_max) = (
        limits.hello_url_bytes as usize,
        limits.hello_referrer_bytes as usize,
    );
    let (lang_max, tz_max) = (
        limits.hello_lang_bytes as usize,
        limits.hello_tz_bytes as usize,
    );
    let mut t = app.tracker("big").await;
    // 1 MiB in each string, NULs among them; 5 MiB of JSON is over the
    // 4 MiB frame limit as text, so it goes gzip-compressed.
    let mut hello = hello("big", None, "tab", None);
    hello["page"] = json!({
        "url": format!("https://shop\0.example/{}", "a".repeat(MIB)),
        "referrer": format!("\0https://ref.example/x{}", "€".repeat(MIB / 3)),
        "title": format!("T\0{}", "t".repeat(MIB)),
    });
    hello["lang"] = json!(format!("e\0n{}", "-x".repeat(MIB / 2)));
    hello["tz"] = json!(format!("\0Europe/{}", "z".repeat(MIB)));
    let text = hello.to_string();
    assert!(text.len() > 5 * MIB && text.contains(r"\u0000"));
    t.ws.send(Message::Binary(gzip(text.as_bytes())))
        .await
        .unwrap();
    let w = t.recv().await;
    assert_eq!(w["t"], "welcome", "{w}");
    let session = w["session"].as_str().unwrap().to_string();

    // A Meta event with a NUL and an overlong href; identify with NULs.
    let long_page = format!("https://shop.example/p\\u0000/{}", "q".repeat(20_000));
    let meta = ev::meta(T0, &long_page);
    t.batch_acked(0, &[meta.clone(), ev::click(T0 + 1, 1)])
        .await;
    t.send_json(&json!({
        "t": "identify", "user_id": "user\u{0}-1",
        "traits": {"pl\u{0}an": "p\u{0}ro", "team": "a\u{0}"}
    }))
    .await;
    t.end(0).await;

    let v = app
        .wait_session(&session, "identify and the page", |v| {
            v["user_id"] == "user-1" && v["urls"].as_array().is_some_and(|u| !u.is_empty())
        })
        .await;
    let url = assert_clean(&v, "first_url", url_max);
    assert_eq!(url.len(), url_max, "cut exactly at the bound (ASCII)");
    assert!(url.starts_with("https://shop.example/aaa"), "{url:.40}");
    let referrer = assert_clean(&v, "referrer", ref_max);
    // `€` is 3 bytes: 21 bytes of prefix and 2,723 of them make 8,190
    // bytes; the 2,724th would end past the bound.
    assert!(referrer.starts_with("https://ref.example/x€"));
    assert_eq!(referrer.len(), ref_max - 2);
    assert_eq!(assert_clean(&v, "lang", lang_max).len(), lang_max);
    assert!(v["lang"].as_str().unwrap().starts_with("en-x"));
    let tz = assert_clean(&v, "tz", tz_max);
    assert_eq!(tz.len(), tz_max);
    assert!(tz.starts_with("Europe/zzz"));
    assert_eq!(v["user_traits"], json!({"plan": "pro", "team": "a"}));
    let urls = v["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 1, "{urls:?}");
    let page = urls[0].as_str().unwrap();
    assert!(!page.contains('\0'));
    assert_eq!(page.len(), url_max);
    assert!(page.starts_with("https://shop.example/p/qqq"));

    // The list shows the same cleaned row, found by the cleaned user id.
    let list = app
        .get_json(&format!(
            "/api/v1/sites/{}/sessions?user_id=user-1",
            app.site_id
        ))
        .await;
    let rows = list["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    let row = &rows[0];
    assert_eq!(row["id"], session.as_str());
    for (field, max) in [
        ("first_url", url_max),
        ("referrer", ref_max),
        ("lang", lang_max),
        ("tz", tz_max),
    ] {
        assert_eq!(assert_clean(row, field, max), v[field].as_str().unwrap());
    }
    assert_eq!(row["user_traits"], v["user_traits"]);

    // The events themselves are stored byte for byte, NUL escape included.
    let events = app.events(&session, Some("tab")).await;
    assert_eq!(events.lines().next(), Some(meta.as_str()));
}

#[actix_web::test]
async fn an_identify_flood_is_rate_limited_with_4429_and_the_newest_wins() {
    let app = spawn_app_with(|c| {
        c.limits.session_messages_burst = 200;
        c.limits.session_messages_per_sec = 50;
    })
    .await;
    // Within the burst, the newest identify is the one the index keeps.
    let mut t = app.tracker("calm").await;
    let w = t.hello("calm", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    for n in 0..150 {
        let _ =
            t.ws.feed(Message::Text(
                json!({"t": "identify", "user_id": format!("u{n}"), "traits": {"n": n.to_string()}})
                    .to_string(),
            ))
            .await;
    }
    t.ws.flush().await.unwrap();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    let v = app
        .wait_session(&session, "the newest identify", |v| v["user_id"] == "u149")
        .await;
    assert_eq!(v["user_traits"], json!({"n": "149"}));

    // Over the message burst: identify counts like a batch.
    let mut t = app.tracker("flood").await;
    t.hello("flood", None, "tab", None).await;
    let identify = json!({"t": "identify", "user_id": "u", "traits": {"k": "v"}}).to_string();
    for _ in 0..300 {
        if t.ws.feed(Message::Text(identify.clone())).await.is_err() {
            break;
        }
    }
    let _ = t.ws.flush().await;
    let e = t.expect_error_close("rate_limited", 4429).await;
    assert!(e["message"].as_str().unwrap().contains("messages"), "{e}");
}

#[actix_web::test]
async fn identify_bytes_count_against_the_byte_rate_limit() {
    let app = spawn_app_with(|c| {
        c.limits.session_bytes_per_sec = 1_000;
        c.limits.session_bytes_burst = 40_000;
    })
    .await;
    let mut t = app.tracker("heavy").await;
    t.hello("heavy", None, "tab", None).await;
    // Each about 10 KB on the wire: the fifth is over the 40 KB burst.
    let traits: serde_json::Map<String, Value> = (0..10)
        .map(|i| (format!("k{i}"), json!("v".repeat(1000))))
        .collect();
    let identify = json!({"t": "identify", "user_id": "u", "traits": traits}).to_string();
    assert!(identify.len() > 10_000);
    for _ in 0..8 {
        if t.ws.feed(Message::Text(identify.clone())).await.is_err() {
            break;
        }
    }
    let _ = t.ws.flush().await;
    let e = t.expect_error_close("rate_limited", 4429).await;
    assert!(e["message"].as_str().unwrap().contains("bytes"), "{e}");
}
