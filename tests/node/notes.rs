//! Notes on a session (PROTOCOL.md §7): members add them at a moment, anyone
//! who can see the session lists them; bounds, roles, scope, the audit log,
//! and notes going with their session when it is deleted or erased.

use std::time::{Duration, Instant};

use reel_protocol::notes::{MAX_NOTES_PER_SESSION, MAX_NOTE_T_MS, NOTE_TEXT_MAX_BYTES};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Records one ended session of `visitor`; returns its id.
async fn record(app: &TestNode, visitor: &str) -> String {
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    t.end(0).await;
    app.wait_session(&session, "its segment", |v| {
        v["segments"].as_i64() >= Some(1)
    })
    .await;
    session
}

/// A bearer credential of a new token in `org` with `role`.
async fn token(app: &TestNode, org: &str, name: &str, role: &str) -> Cred {
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let (_, token) = index.create_token(org, name, role, None).await.unwrap();
    index.close().await;
    Cred::Bearer(token)
}

async fn add(app: &TestNode, session: &str, cred: &Cred, body: Value) -> (u16, Value) {
    app.send_with(
        Method::POST,
        &format!("/api/v1/sessions/{session}/notes"),
        cred,
        Some(body),
    )
    .await
}

async fn list(app: &TestNode, session: &str, cred: &Cred) -> (u16, Value) {
    app.get_with(&format!("/api/v1/sessions/{session}/notes"), cred)
        .await
}

/// Rows of the session in `session_notes`, read behind the node's back.
async fn stored_notes(app: &TestNode, session: &str) -> u64 {
    app.storage
        .execute(
            app.dir.path(),
            &format!("UPDATE session_notes SET t = t WHERE session_id = '{session}'"),
        )
        .await
}

#[actix_web::test]
async fn members_add_notes_that_anyone_who_sees_the_session_lists_in_time_order() {
    let app = spawn_app().await;
    let session = record(&app, "v").await;
    let member = token(&app, "default", "m", "member").await;
    let viewer = token(&app, "default", "watcher", "viewer").await;
    let admin = Cred::Bearer(app.token.clone());

    let (status, late) = add(
        &app,
        &session,
        &member,
        json!({"t": 90_500, "text": "  checkout fails \n"}),
    )
    .await;
    assert_eq!(status, 201, "{late}");
    assert_eq!(late["session_id"], session.as_str());
    assert_eq!(late["t"], 90_500);
    assert_eq!(late["text"], "checkout fails", "trimmed");
    assert_eq!(late["author"], "token:m");
    assert_eq!(late["id"], 1);
    assert!(late["created_at"].as_i64().unwrap() > T0);
    let (status, early) = add(&app, &session, &admin, json!({"t": 0, "text": "arrives"})).await;
    assert_eq!(status, 201, "{early}");
    assert_eq!(early["id"], 2);
    assert_eq!(early["author"], "token:test");

    // A viewer reads them, by t; a viewer cannot add one.
    let (status, got) = list(&app, &session, &viewer).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, json!({"notes": [early, late]}));
    let (status, refused) = add(&app, &session, &viewer, json!({"t": 1, "text": "me too"})).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("forbidden"))
    );
    // Without a credential: 401, both ways.
    let (status, _) = add(&app, &session, &Cred::None, json!({"t": 1, "text": "x"})).await;
    assert_eq!(status, 401);
    let (status, _) = list(&app, &session, &Cred::None).await;
    assert_eq!(status, 401);
    // A person signed in as a member is named by their email.
    app.create_user(
        "ann@example.com",
        reel_protocol::accounts::Role::Member,
        None,
    )
    .await;
    let ann = app.sign_in("ann@example.com").await;
    let (status, by_ann) = add(&app, &session, &ann, json!({"t": 5, "text": "hi"})).await;
    assert_eq!(status, 201, "{by_ann}");
    assert_eq!(by_ann["author"], "ann@example.com");
    let (_, got) = list(&app, &session, &viewer).await;
    assert_eq!(got["notes"].as_array().unwrap().len(), 3);
    assert_eq!(got["notes"][1], by_ann);

    // Adding is audited, with who and which session.
    let (status, log) = app.get_with("/api/v1/audit", &admin).await;
    assert_eq!(status, 200);
    let added: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "note_added")
        .collect();
    let actors: Vec<&str> = added.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(
        actors,
        ["ann@example.com", "token:test", "token:m"],
        "{log}"
    );
    assert!(added
        .iter()
        .all(|e| e["target"] == format!("session:{session}")));
}

#[actix_web::test]
async fn a_note_out_of_bounds_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let session = record(&app, "v").await;
    let member = token(&app, "default", "m", "member").await;
    let longest = "é".repeat(NOTE_TEXT_MAX_BYTES / 2);
    for (body, want) in [
        (json!({"t": 1, "text": ""}), "bad_request"),
        (json!({"t": 1, "text": " \n\t "}), "bad_request"),
        (
            json!({"t": 1, "text": format!("{longest}x")}),
            "bad_request",
        ),
        (json!({"t": 1, "text": "nul\u{0}here"}), "bad_request"),
        (json!({"t": -1, "text": "before the start"}), "bad_request"),
        (
            json!({"t": MAX_NOTE_T_MS + 1, "text": "too late"}),
            "bad_request",
        ),
        (json!({"t": 1.5, "text": "not ms"}), "bad_request"),
        (json!({"text": "no t"}), "bad_request"),
    ] {
        let (status, got) = add(&app, &session, &member, body.clone()).await;
        assert_eq!(
            (status, got["error"].as_str()),
            (400, Some(want)),
            "{body}: {got}"
        );
    }
    assert_eq!(stored_notes(&app, &session).await, 0);
    // At the bounds: accepted.
    for body in [
        json!({"t": 0, "text": longest}),
        json!({"t": MAX_NOTE_T_MS, "text": "x"}),
    ] {
        let (status, got) = add(&app, &session, &member, body).await;
        assert_eq!(status, 201, "{got}");
    }
    // Up to the most a session holds, then 409.
    for i in 2..MAX_NOTES_PER_SESSION {
        let (status, got) = add(
            &app,
            &session,
            &member,
            json!({"t": i, "text": format!("n{i}")}),
        )
        .await;
        assert_eq!(status, 201, "note {i}: {got}");
    }
    let (status, got) = add(&app, &session, &member, json!({"t": 1, "text": "one more"})).await;
    assert_eq!(
        (status, got["error"].as_str()),
        (409, Some("conflict")),
        "{got}"
    );
    let (_, got) = list(&app, &session, &member).await;
    assert_eq!(
        got["notes"].as_array().unwrap().len(),
        MAX_NOTES_PER_SESSION
    );
    assert_eq!(
        stored_notes(&app, &session).await,
        MAX_NOTES_PER_SESSION as u64
    );
}

#[actix_web::test]
async fn another_organisations_or_sites_session_is_404() {
    let app = spawn_app().await;
    let session = record(&app, "v").await;
    let outsider = token(&app, "other-org", "x", "admin").await;
    let (status, got) = add(&app, &session, &outsider, json!({"t": 1, "text": "peek"})).await;
    assert_eq!((status, got["error"].as_str()), (404, Some("not_found")));
    let (status, got) = list(&app, &session, &outsider).await;
    assert_eq!((status, got["error"].as_str()), (404, Some("not_found")));
    // A member limited to another site of the organisation.
    let (other_site, _) = {
        let index = reel::app::open_index(&app.node.state.config).await.unwrap();
        let site = index
            .create_site("default", "elsewhere", &[])
            .await
            .unwrap();
        index.close().await;
        site
    };
    app.create_user(
        "lim@example.com",
        reel_protocol::accounts::Role::Member,
        Some(&[other_site]),
    )
    .await;
    let limited = app.sign_in("lim@example.com").await;
    let (status, _) = add(&app, &session, &limited, json!({"t": 1, "text": "peek"})).await;
    assert_eq!(status, 404);
    let (status, _) = list(&app, &session, &limited).await;
    assert_eq!(status, 404);
    // No such session.
    let admin = Cred::Bearer(app.token.clone());
    let (status, _) = add(&app, "nosuchsession", &admin, json!({"t": 1, "text": "x"})).await;
    assert_eq!(status, 404);
    assert_eq!(stored_notes(&app, &session).await, 0);
}

#[actix_web::test]
async fn notes_go_with_their_session_and_a_deleted_session_takes_none() {
    let app = spawn_app().await;
    let session = record(&app, "v").await;
    let kept = record(&app, "w").await;
    let admin = Cred::Bearer(app.token.clone());
    for s in [&session, &kept] {
        let (status, _) = add(&app, s, &admin, json!({"t": 10, "text": "look here"})).await;
        assert_eq!(status, 201);
    }
    assert_eq!(stored_notes(&app, &session).await, 1);
    let (status, _) = app
        .send_with(
            Method::DELETE,
            &format!("/api/v1/sessions/{session}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(stored_notes(&app, &session).await, 0);
    let (status, _) = list(&app, &session, &admin).await;
    assert_eq!(status, 404);
    // Tombstoned: no note gets in.
    let (status, _) = add(&app, &session, &admin, json!({"t": 1, "text": "late"})).await;
    assert_eq!(status, 404);
    assert_eq!(stored_notes(&app, &session).await, 0);
    // The other session keeps its note.
    let (_, got) = list(&app, &kept, &admin).await;
    assert_eq!(got["notes"].as_array().unwrap().len(), 1);

    // Erasing the person deletes their sessions' notes too.
    let (status, job) = app
        .send_with(
            Method::POST,
            &format!("/api/v1/sites/{}/erase", app.site_id),
            &admin,
            Some(json!({"visitor_id": "w"})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, r) = app
            .get_with(&format!("/api/v1/erasures/{id}"), &admin)
            .await;
        if r["state"] == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "erasure not done: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored_notes(&app, &kept).await, 0);
    let (status, _) = list(&app, &kept, &admin).await;
    assert_eq!(status, 404);
}
