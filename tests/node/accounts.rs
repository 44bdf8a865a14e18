//! Accounts and access (PROTOCOL.md §5): the role matrix, sign-in and its
//! rate limit, sign-in expiry, invitations, members, tokens, the audit log,
//! live sockets closed when their credential goes, and the headers.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reel_protocol::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A node with two sites: `a` (the test site) and `b`, one recorded
/// session on each, and people of every role.
struct World {
    app: TestNode,
    site_b: i64,
    key_b: String,
    session_a: String,
    session_b: String,
}

async fn record_on(app: &TestNode, site_key: &str, visitor: &str) -> String {
    let url = format!(
        "{}/v1/ingest?site={site_key}&visitor={visitor}",
        app.ws_base
    );
    let mut t = Tracker::connect(&url, Some("https://shop.example"))
        .await
        .unwrap();
    let w = t.hello(visitor, None, "tab", None).await;
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    t.end(0).await;
    t.close().await;
    w["session"].as_str().unwrap().to_string()
}

async fn world(app: TestNode) -> World {
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let (site_b, key_b) = index
        .create_site("default", "second site", &[])
        .await
        .unwrap();
    index.close().await;
    let session_a = record_on(&app, &app.site_key.clone(), "va").await;
    let session_b = record_on(&app, &key_b.clone(), "vb").await;
    for s in [&session_a, &session_b] {
        app.wait_session(s, "the session stored", |v| v["segments"] == 1)
            .await;
    }
    World {
        app,
        site_b,
        key_b,
        session_a,
        session_b,
    }
}

/// What a caller of the matrix is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Owner,
    Admin,
    Member,
    Viewer,
    /// A member limited to site b.
    Limited,
    /// An API token with the viewer role.
    ViewerToken,
    RevokedToken,
    ExpiredToken,
    Nobody,
}

const EVERYONE: [Who; 9] = [
    Who::Owner,
    Who::Admin,
    Who::Member,
    Who::Viewer,
    Who::Limited,
    Who::ViewerToken,
    Who::RevokedToken,
    Who::ExpiredToken,
    Who::Nobody,
];

/// The answer a route gives a caller, by the right it needs and the site
/// it touches (PROTOCOL.md §5).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// Viewer and above; site a (the limited member gets 404).
    ReadA,
    /// Viewer and above; site b (the limited member reads it too).
    ReadB,
    /// Viewer and above, no site.
    Read,
    Admin,
    /// Member and above; site b (notes, pins).
    AnnotateB,
    /// Nobody (the operator's switch): 403 for every role.
    Operator,
}

fn expected(need: Need, who: Who) -> u16 {
    let role = match who {
        Who::RevokedToken | Who::ExpiredToken | Who::Nobody => return 401,
        Who::Owner => Role::Owner,
        Who::Admin => Role::Admin,
        Who::Member | Who::Limited => Role::Member,
        Who::Viewer | Who::ViewerToken => Role::Viewer,
    };
    match need {
        Need::Operator => 403,
        Need::Admin if role < Role::Admin => 403,
        Need::AnnotateB if role < Role::Member => 403,
        Need::ReadA if who == Who::Limited => 404,
        _ => 200,
    }
}

/// Every route answers every kind of caller as §5 says: 200 (2xx), 401,
/// 403 or 404, table-driven.
#[actix_web::test]
async fn every_route_answers_every_role_as_the_protocol_says() {
    let w = world(spawn_app().await).await;
    let app = &w.app;
    let (a, b) = (app.site_id, w.site_b);
    let mut creds = Vec::new();
    for who in EVERYONE {
        let cred = match who {
            Who::Owner | Who::Admin | Who::Member | Who::Viewer | Who::Limited => {
                let email = format!("{who:?}@example.com").to_lowercase();
                let (role, sites) = match who {
                    Who::Owner => (Role::Owner, None),
                    Who::Admin => (Role::Admin, None),
                    Who::Member => (Role::Member, None),
                    Who::Viewer => (Role::Viewer, None),
                    _ => (Role::Member, Some(vec![b])),
                };
                app.create_user(&email, role, sites.as_deref()).await;
                app.sign_in(&email).await
            }
            Who::ViewerToken => {
                let index = reel::app::open_index(&app.node.state.config).await.unwrap();
                let (_, token) = index
                    .create_token("default", "viewer", "viewer", None)
                    .await
                    .unwrap();
                index.close().await;
                Cred::Bearer(token)
            }
            Who::RevokedToken => {
                let index = reel::app::open_index(&app.node.state.config).await.unwrap();
                let (id, token) = index
                    .create_token("default", "revoked", "owner", None)
                    .await
                    .unwrap();
                assert!(index
                    .accounts()
                    .revoke_token(None, id, reel_actors::now_ms())
                    .await
                    .unwrap());
                index.close().await;
                Cred::Bearer(token)
            }
            Who::ExpiredToken => {
                let index = reel::app::open_index(&app.node.state.config).await.unwrap();
                let (id, token) = index
                    .create_token("default", "expired", "owner", Some(1))
                    .await
                    .unwrap();
                index.close().await;
                let n = app
                    .storage
                    .execute(
                        app.dir.path(),
                        &format!("UPDATE api_tokens SET expires_at = 1 WHERE id = {id}"),
                    )
                    .await;
                assert_eq!(n, 1);
                Cred::Bearer(token)
            }
            Who::Nobody => Cred::None,
        };
        creds.push((who, cred));
    }
    // Things each caller may delete, its own so that rows do not interfere.
    let owner = creds[0].1.clone();
    let mut victims = Vec::new();
    for (who, _) in &creds {
        let email = format!("victim-{who:?}@example.com").to_lowercase();
        let user = app.create_user(&email, Role::Viewer, None).await;
        let (s, inv) = app
            .send_with(
                Method::POST,
                "/api/v1/invitations",
                &owner,
                Some(json!({"email": format!("inv-{who:?}@example.com"), "role": "viewer"})),
            )
            .await;
        assert_eq!(s, 200, "{inv}");
        let (s, tok) = app
            .send_with(
                Method::POST,
                "/api/v1/tokens",
                &owner,
                Some(json!({"name": format!("t-{who:?}"), "role": "viewer"})),
            )
            .await;
        assert_eq!(s, 200, "{tok}");
        // A recording of site b to delete.
        let doomed = record_on(app, &w.key_b, &format!("doomed-{who:?}")).await;
        victims.push((
            user,
            inv["id"].as_i64().unwrap(),
            tok["id"].as_i64().unwrap(),
            doomed,
        ));
    }
    let (s, erasure) = app
        .send_with(
            Method::POST,
            &format!("/api/v1/sites/{b}/erase"),
            &owner,
            Some(json!({"visitor_id": "nobody"})),
        )
        .await;
    assert_eq!(s, 202, "{erasure}");
    let erasure = erasure["id"].as_str().unwrap().to_string();
    let viewer_id = app
        .node
        .state
        .accounts
        .user_by_email("viewer@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;

    let (sa, sb) = (&w.session_a, &w.session_b);
    type Route = (Method, String, Option<Value>, Need);
    let routes = |i: usize| -> Vec<Route> {
        let (victim, inv, tok, doomed) = victims[i].clone();
        vec![
            (
                Method::GET,
                format!("/api/v1/sites/{a}/usage"),
                None,
                Need::ReadA,
            ),
            (
                Method::GET,
                format!("/api/v1/sites/{b}/usage"),
                None,
                Need::ReadB,
            ),
            (
                Method::POST,
                format!("/api/v1/sessions/{sb}/pin"),
                None,
                Need::AnnotateB,
            ),
            (
                Method::DELETE,
                format!("/api/v1/sessions/{sb}/pin"),
                None,
                Need::AnnotateB,
            ),
            (
                Method::POST,
                format!("/api/v1/sites/{b}/erase"),
                Some(json!({"user_id": format!("nobody-{i}")})),
                Need::Admin,
            ),
            (
                Method::GET,
                format!("/api/v1/erasures/{erasure}"),
                None,
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/sessions/{doomed}"),
                None,
                Need::Admin,
            ),
            (Method::GET, "/api/v1/me".into(), None, Need::Read),
            (Method::GET, "/api/v1/sites".into(), None, Need::Read),
            (
                Method::GET,
                format!("/api/v1/sites/{a}/sessions"),
                None,
                Need::ReadA,
            ),
            (
                Method::GET,
                format!("/api/v1/sites/{b}/sessions"),
                None,
                Need::ReadB,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sa}"),
                None,
                Need::ReadA,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sb}"),
                None,
                Need::ReadB,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sa}/events"),
                None,
                Need::ReadA,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sb}/events"),
                None,
                Need::ReadB,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sa}/segments"),
                None,
                Need::ReadA,
            ),
            (
                Method::GET,
                format!("/api/v1/sessions/{sb}/segments"),
                None,
                Need::ReadB,
            ),
            (
                Method::POST,
                "/api/v1/admin/maintenance".into(),
                Some(json!({"on": true})),
                Need::Operator,
            ),
            (Method::GET, "/api/v1/members".into(), None, Need::Admin),
            (
                Method::PATCH,
                format!("/api/v1/members/{viewer_id}"),
                Some(json!({"role": "viewer"})),
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/members/{victim}"),
                None,
                Need::Admin,
            ),
            (Method::GET, "/api/v1/invitations".into(), None, Need::Admin),
            (
                Method::POST,
                "/api/v1/invitations".into(),
                Some(
                    json!({"email": format!("new-{i}@example.com"), "role": "member", "sites": [b]}),
                ),
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/invitations/{inv}"),
                None,
                Need::Admin,
            ),
            (Method::GET, "/api/v1/tokens".into(), None, Need::Admin),
            (
                Method::POST,
                "/api/v1/tokens".into(),
                Some(json!({"name": format!("new-{i}"), "role": "member", "expires_in_days": 30})),
                Need::Admin,
            ),
            (
                Method::DELETE,
                format!("/api/v1/tokens/{tok}"),
                None,
                Need::Admin,
            ),
            (Method::GET, "/api/v1/audit".into(), None, Need::Admin),
            (
                Method::POST,
                "/api/v1/sites".into(),
                Some(json!({"name": format!("site-{i}"), "origins": ["https://new.example"]})),
                Need::Admin,
            ),
            (
                Method::PATCH,
                format!("/api/v1/sites/{b}"),
                Some(json!({"settings": {"mask_text": true}})),
                Need::Admin,
            ),
            (
                Method::GET,
                format!("/api/v1/sites/{b}/snippet"),
                None,
                Need::Admin,
            ),
        ]
    };
    let mut failures = Vec::new();
    for (i, (who, cred)) in creds.iter().enumerate() {
        for (method, path, body, need) in routes(i) {
            let (status, got) = app.send_with(method.clone(), &path, cred, body).await;
            let status = if (200..300).contains(&status) {
                200
            } else {
                status
            };
            let want = expected(need, *who);
            if status != want {
                failures.push(format!(
                    "{who:?} {method} {path}: {status} (want {want}) {got}"
                ));
            }
            let code = got["error"].as_str();
            match want {
                401 => assert_eq!(code, Some("unauthenticated"), "{who:?} {path}"),
                403 => assert_eq!(code, Some("forbidden"), "{who:?} {path}"),
                404 => assert_eq!(code, Some("not_found"), "{who:?} {path}"),
                _ => {}
            }
        }
        // The live socket: the same rights as reading.
        let want = match expected(Need::Read, *who) {
            200 => 101,
            s => s,
        };
        let got = match app.open_live(cred).await {
            Ok(mut ws) => {
                let _ = ws.close(None).await;
                101
            }
            Err(s) => s,
        };
        if got != want {
            failures.push(format!("{who:?} /v1/live: {got} (want {want})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A limited member lists only its sites.
    let limited = &creds[4].1;
    let (_, sites) = app.get_with("/api/v1/sites", limited).await;
    let ids: Vec<i64> = sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![b]);
    let (_, me) = app.get_with("/api/v1/me", limited).await;
    assert_eq!(me["role"], "member");
    assert_eq!(me["sites"], json!([b]));
    assert_eq!(me["user"]["email"], "limited@example.com");
    assert_eq!(me["org"]["name"], "default");
}

/// Live presence and watching follow the scope: a member limited to site b
/// cannot follow site a or watch its sessions (as another organisation's).
#[actix_web::test]
async fn a_site_limited_member_sees_no_other_sites_live() {
    let app = spawn_app().await;
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let (site_b, _) = index.create_site("default", "b", &[]).await.unwrap();
    index.close().await;
    app.create_user("lim@example.com", Role::Viewer, Some(&[site_b]))
        .await;
    let cred = app.sign_in("lim@example.com").await;
    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = app.open_live(&cred).await.unwrap();
    for msg in [
        json!({"t": "presence", "site": app.site_id}),
        json!({"t": "watch", "session": session}),
    ] {
        ws.send(Message::Text(msg.to_string())).await.unwrap();
        let reply = next_json(&mut ws).await.expect("a reply");
        assert_eq!(reply["t"], "error", "{reply}");
        assert_eq!(reply["code"], "not_found", "{reply}");
    }
    ws.send(Message::Text(
        json!({"t": "presence", "site": site_b}).to_string(),
    ))
    .await
    .unwrap();
    let reply = next_json(&mut ws).await.unwrap();
    assert_eq!(reply["t"], "presence_snapshot", "{reply}");
}

/// The next JSON text message of a live socket; `None` once it closed.
async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(REPLY_TIMEOUT, ws.next())
            .await
            .expect("no live message in time")?;
        match msg {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Sign-in: a cookie that is HttpOnly and SameSite=Lax, never the token or
/// the password; one answer for a wrong email and a wrong password;
/// logout revokes; the old token-in-cookie sign-in is gone.
#[actix_web::test]
async fn sign_in_sets_an_opaque_cookie_and_logout_revokes_it() {
    let app = spawn_app().await;
    app.create_user("Ann@Example.com", Role::Admin, None).await;
    let res = app
        .login("ann@example.com", &password_for("Ann@Example.com"))
        .await;
    assert_eq!(res.status(), 200);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: {set}");
    // Behind a proxy that terminates https, the cookie is Secure.
    let res = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "ann@example.com", "password": password_for("Ann@Example.com")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));
    let cookie = session_cookie(&res).unwrap();
    assert!(!cookie.contains(&app.token));
    assert!(!cookie.contains(&password_for("Ann@Example.com")));
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["sites"], Value::Null);
    let cred = Cred::Cookie(cookie.clone());
    assert_eq!(app.get_with("/api/v1/me", &cred).await.0, 200);

    // Wrong password and unknown email: the same answer.
    let wrong = app.login("ann@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let (wrong, unknown): (Value, Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "bad_credentials");

    // The old way (a bearer token posted to login) signs nobody in.
    let res = app
        .http
        .post(format!("{}/api/v1/login", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(session_cookie(&res).is_none());
    // A token in the cookie is no credential.
    let as_cookie = Cred::Cookie(format!("reel_session={}", app.token));
    assert_eq!(app.get_with("/api/v1/me", &as_cookie).await.0, 401);

    // Logout revokes the sign-in server-side: the old cookie stops working.
    let res = app
        .request(Method::POST, "/api/v1/logout", &cred)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (s, body) = app.get_with("/api/v1/me", &cred).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"], "unauthenticated");
}

/// More than 10 failures for one email (or one address) within the window
/// → 429 with Retry-After, the right password included; after the window,
/// the right password signs in. Failures are audited.
#[actix_web::test]
async fn sign_in_is_rate_limited_per_email_and_address() {
    let window = Duration::from_secs(3);
    let app = spawn_app_with(|c| c.accounts.login_window_ms = window.as_millis() as u64).await;
    app.create_user("bo@example.com", Role::Admin, None).await;
    let started = Instant::now();
    for i in 0..10 {
        let res = app
            .login("bo@example.com", &format!("wrong password {i}"))
            .await;
        assert_eq!(res.status(), 401, "failure {i}");
    }
    let res = app
        .login("bo@example.com", &password_for("bo@example.com"))
        .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window.as_secs()).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    // The address is limited too, for any email.
    app.create_user("cy@example.com", Role::Viewer, None).await;
    assert_eq!(
        app.login("cy@example.com", &password_for("cy@example.com"))
            .await
            .status(),
        429
    );
    // After the window, the right password works.
    let deadline = started + window + Duration::from_secs(10);
    let cred = loop {
        let res = app
            .login("bo@example.com", &password_for("bo@example.com"))
            .await;
        if res.status() == 200 {
            break Cred::Cookie(session_cookie(&res).unwrap());
        }
        assert_eq!(res.status(), 429);
        assert!(Instant::now() < deadline, "still limited after the window");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(started.elapsed() >= window - Duration::from_millis(500));
    let (_, log) = app.get_with("/api/v1/audit", &cred).await;
    let failed = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login_failed" && e["actor"] == "bo@example.com")
        .count();
    assert_eq!(failed, 10, "{log}");
    assert!(log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "login" && e["ip"] == "127.0.0.1"));
}

/// A sign-in ends after its idle timeout and after its absolute expiry
/// (moved into the past in the database, rather than waited for).
#[actix_web::test]
async fn sign_ins_expire_when_idle_and_at_their_absolute_end() {
    let app = spawn_app().await;
    app.create_user("di@example.com", Role::Viewer, None).await;
    let day_ms = 24 * 3600 * 1000_i64;
    for (what, sql) in [
        (
            "idle 8 days",
            format!(
                "UPDATE login_sessions SET last_seen_at = last_seen_at - {}",
                8 * day_ms
            ),
        ),
        (
            "past its absolute end",
            format!(
                "UPDATE login_sessions SET expires_at = {}",
                reel_actors::now_ms() - 1
            ),
        ),
    ] {
        let cred = app.sign_in("di@example.com").await;
        assert_eq!(app.get_with("/api/v1/me", &cred).await.0, 200);
        app.storage.execute(app.dir.path(), &sql).await;
        let (s, body) = app.get_with("/api/v1/me", &cred).await;
        assert_eq!(s, 401, "{what}");
        assert_eq!(body["error"], "unauthenticated");
    }
    // Idle 6 days is still within the 7.
    let cred = app.sign_in("di@example.com").await;
    app.storage
        .execute(
            app.dir.path(),
            &format!(
                "UPDATE login_sessions SET last_seen_at = last_seen_at - {}",
                6 * day_ms
            ),
        )
        .await;
    assert_eq!(app.get_with("/api/v1/me", &cred).await.0, 200);
}

/// An invitation is accepted once, by a new person who is then signed in
/// with its role and sites; a used, expired, revoked or unknown code is
/// refused with an error that says which.
#[actix_web::test]
async fn invitations_are_single_use_and_expire() {
    let app = spawn_app().await;
    app.create_user("own@example.com", Role::Owner, None).await;
    let owner = app.sign_in("own@example.com").await;
    let invite = |email: &str| {
        let (app, owner, email) = (&app, &owner, email.to_string());
        async move {
            let (s, inv) = app
                .send_with(
                    Method::POST,
                    "/api/v1/invitations",
                    owner,
                    Some(json!({"email": email, "role": "member", "sites": [app.site_id]})),
                )
                .await;
            assert_eq!(s, 200, "{inv}");
            let url = inv["url"].as_str().unwrap().to_string();
            assert!(
                url.starts_with(&format!("{}/app/#/invite/", app.base)),
                "{url}"
            );
            let code = url.rsplit('/').next().unwrap().to_string();
            (inv["id"].as_i64().unwrap(), code)
        }
    };
    let accept = |code: String, password: &str| {
        let (app, password) = (&app, password.to_string());
        async move {
            let res = app
                .http
                .post(format!("{}/api/v1/invitations/{code}/accept", app.base))
                .json(&json!({"name": "New Person", "password": password}))
                .send()
                .await
                .unwrap();
            let cookie = session_cookie(&res);
            (
                res.status().as_u16(),
                cookie,
                res.json::<Value>().await.unwrap(),
            )
        }
    };
    let (_, code) = invite("new@example.com").await;
    // Too short a password.
    let (s, _, body) = accept(code.clone(), "short").await;
    assert_eq!(s, 400, "{body}");
    let (s, cookie, me) = accept(code.clone(), &password_for("new@example.com")).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["role"], "member");
    assert_eq!(me["sites"], json!([app.site_id]));
    let cred = Cred::Cookie(cookie.unwrap());
    assert_eq!(
        app.get_with("/api/v1/me", &cred).await.1["user"]["name"],
        "New Person"
    );
    // The new person signs in with the password.
    app.sign_in("new@example.com").await;
    // Used.
    let (s, _, body) = accept(code, &password_for("new@example.com")).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (410, Some("invitation_invalid")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("used"));
    // Expired.
    let (id, code) = invite("late@example.com").await;
    app.storage
        .execute(
            app.dir.path(),
            &format!("UPDATE invitations SET expires_at = 1 WHERE id = {id}"),
        )
        .await;
    let (s, _, body) = accept(code, &password_for("late@example.com")).await;
    assert_eq!(s, 410, "{body}");
    assert!(body["message"].as_str().unwrap().contains("expired"));
    // Revoked.
    let (id, code) = invite("gone@example.com").await;
    let (s, _) = app
        .send_with(
            Method::DELETE,
            &format!("/api/v1/invitations/{id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _, body) = accept(code, &password_for("gone@example.com")).await;
    assert_eq!(s, 410, "{body}");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
    // Unknown.
    let (s, _, body) = accept("nope".into(), &password_for("x@example.com")).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    // A member already cannot be invited again.
    let (s, body) = app
        .send_with(
            Method::POST,
            "/api/v1/invitations",
            &owner,
            Some(json!({"email": "NEW@example.com", "role": "viewer"})),
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (409, Some("conflict")));
    let (_, list) = app.get_with("/api/v1/invitations", &owner).await;
    assert_eq!(list["invitations"].as_array().unwrap().len(), 3);
}

/// Only an owner makes or removes admins and owners; an organisation keeps
/// one owner; a removed member's sign-in ends at once.
#[actix_web::test]
async fn only_owners_make_admins_and_the_last_owner_stays() {
    let app = spawn_app().await;
    let owner_id = app.create_user("o@example.com", Role::Owner, None).await;
    let admin_id = app.create_user("a@example.com", Role::Admin, None).await;
    let viewer_id = app.create_user("v@example.com", Role::Viewer, None).await;
    let owner = app.sign_in("o@example.com").await;
    let admin = app.sign_in("a@example.com").await;
    let viewer = app.sign_in("v@example.com").await;
    let patch = |cred: &Cred, id: i64, body: Value| {
        let (app, cred) = (&app, cred.clone());
        async move {
            app.send_with(
                Method::PATCH,
                &format!("/api/v1/members/{id}"),
                &cred,
                Some(body),
            )
            .await
            .0
        }
    };
    assert_eq!(
        patch(&admin, viewer_id, json!({"role": "admin"})).await,
        403
    );
    assert_eq!(
        patch(&admin, admin_id, json!({"role": "viewer"})).await,
        403
    );
    assert_eq!(
        patch(
            &admin,
            viewer_id,
            json!({"role": "member", "sites": [app.site_id]})
        )
        .await,
        200
    );
    assert_eq!(
        patch(&admin, viewer_id, json!({"sites": [999_999]})).await,
        400
    );
    assert_eq!(patch(&owner, owner_id, json!({"role": "admin"})).await, 409);
    let (s, _) = app
        .send_with(
            Method::DELETE,
            &format!("/api/v1/members/{owner_id}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(patch(&owner, admin_id, json!({"role": "owner"})).await, 200);
    // Now two owners: one may step down.
    assert_eq!(patch(&owner, owner_id, json!({"role": "admin"})).await, 200);
    // The member's scope changed at once.
    let (_, me) = app.get_with("/api/v1/me", &viewer).await;
    assert_eq!(
        (me["role"].as_str(), me["sites"].clone()),
        (Some("member"), json!([app.site_id]))
    );
    // Removed: the sign-in ends at once.
    let (s, _) = app
        .send_with(
            Method::DELETE,
            &format!("/api/v1/members/{viewer_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.get_with("/api/v1/me", &viewer).await.0, 401);
    assert_eq!(
        app.login("v@example.com", &password_for("v@example.com"))
            .await
            .status(),
        401
    );
    let (_, members) = app.get_with("/api/v1/members", &admin).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
}

/// A removed member's and a revoked token's open live sockets close within
/// 10 s.
#[actix_web::test]
async fn live_sockets_close_within_ten_seconds_of_removal_or_revocation() {
    let app = spawn_app().await;
    app.create_user("adm@example.com", Role::Admin, None).await;
    let admin = app.sign_in("adm@example.com").await;
    let member_id = app.create_user("mem@example.com", Role::Member, None).await;
    let member = app.sign_in("mem@example.com").await;
    let (s, tok) = app
        .send_with(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "script", "role": "viewer", "expires_in_days": null})),
        )
        .await;
    assert_eq!(s, 200);
    let token = Cred::Bearer(tok["token"].as_str().unwrap().to_string());
    for (cred, revoke) in [
        (member, format!("/api/v1/members/{member_id}")),
        (token, format!("/api/v1/tokens/{}", tok["id"])),
    ] {
        let mut ws = app.open_live(&cred).await.unwrap();
        ws.send(Message::Text(
            json!({"t": "presence", "site": app.site_id}).to_string(),
        ))
        .await
        .unwrap();
        assert_eq!(next_json(&mut ws).await.unwrap()["t"], "presence_snapshot");
        let (s, _) = app.send_with(Method::DELETE, &revoke, &admin, None).await;
        assert_eq!(s, 204, "{revoke}");
        let revoked = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{revoke}: the socket stayed open 10 s");
        assert!(revoked.elapsed() < Duration::from_secs(10));
        // And it cannot open again.
        assert_eq!(app.open_live(&cred).await.err(), Some(401));
    }
}

/// With the sign-in cookie, `/v1/live` opens only from the node's own
/// origin; a bearer token needs no `Origin`.
#[actix_web::test]
async fn the_live_socket_checks_origin_when_a_cookie_opens_it() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app().await;
    app.create_user("o2@example.com", Role::Viewer, None).await;
    let Cred::Cookie(cookie) = app.sign_in("o2@example.com").await else {
        unreachable!()
    };
    for (origin, want) in [
        (Some("https://evil.example"), Some(403)),
        (Some(app.base.as_str()), None),
        (None, None),
    ] {
        let mut req = format!("{}/v1/live", app.ws_base)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let got = match tokio_tungstenite::connect_async(req).await {
            Ok(_) => None,
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Some(res.status().as_u16()),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(got, want, "{origin:?}");
    }
}

/// Replays are audited once per viewer and session (not per request), and
/// live watching too; admins read the log newest first, paged.
#[actix_web::test]
async fn replays_are_audited_once_per_view() {
    // Many failed sign-ins make a long log: no rate limit in the way.
    let w = world(spawn_app_with(|c| c.accounts.login_max_failures = 1000).await).await;
    let app = &w.app;
    app.create_user("boss@example.com", Role::Admin, None).await;
    let boss = app.sign_in("boss@example.com").await;
    app.create_user("sup@example.com", Role::Viewer, None).await;
    let sup = app.sign_in("sup@example.com").await;
    let s = &w.session_a;
    for path in [
        format!("/api/v1/sessions/{s}"),
        format!("/api/v1/sessions/{s}/segments"),
        format!("/api/v1/sessions/{s}/events"),
        format!("/api/v1/sessions/{s}/events?tab=tab"),
    ] {
        assert_eq!(app.get_with(&path, &sup).await.0, 200, "{path}");
    }
    let (_, log) = app.get_with("/api/v1/audit", &boss).await;
    let views: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "replay_viewed")
        .collect();
    assert_eq!(views.len(), 1, "{log}");
    assert_eq!(views[0]["actor"], "sup@example.com");
    assert_eq!(views[0]["target"], format!("session:{s}"));
    assert_eq!(views[0]["ip"], "127.0.0.1");
    // Newest first, paged by the cursor.
    let entries = log["entries"].as_array().unwrap();
    assert!(entries
        .windows(2)
        .all(|p| p[0]["at"].as_i64() >= p[1]["at"].as_i64()));
    assert_eq!(log["next_cursor"], Value::Null);
    // Many entries page.
    for i in 0..110 {
        let res = app.login("boss@example.com", &format!("wrong {i}")).await;
        assert_eq!(res.status(), 401);
    }
    let (_, page) = app.get_with("/api/v1/audit", &boss).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 100);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (s, next) = app
        .get_with(&format!("/api/v1/audit?cursor={cursor}"), &boss)
        .await;
    assert_eq!(s, 200);
    assert!(!next["entries"].as_array().unwrap().is_empty());
}

/// Every dashboard and API response carries the CSP and nosniff.
#[actix_web::test]
async fn responses_carry_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/api/v1/me", "/api/v1/sites", "/app/", "/healthz"] {
        let res = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"));
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
}

/// The CLI: `reel user create` (password on stdin), `reel token create
/// --role --expires-in-days`, `reel token list`, `reel token revoke`.
#[actix_web::test]
async fn the_cli_bootstraps_an_owner_and_manages_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let password = password_for("first@example.com");
    let user = cli_stdin(
        dir.path(),
        &storage,
        &[
            "user",
            "create",
            "--email",
            "First@Example.com",
            "--role",
            "owner",
            "--name",
            "First",
        ],
        &format!("{password}\n"),
    );
    assert!(user["user_id"].as_i64().is_some(), "{user}");
    // Too short a password is refused.
    let (ok, _) = cli_stdin_lines(
        dir.path(),
        &storage,
        &[
            "user",
            "create",
            "--email",
            "b@example.com",
            "--role",
            "viewer",
        ],
        "short\n",
    );
    assert!(!ok);
    let t = cli(
        dir.path(),
        &storage,
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "viewer",
            "--expires-in-days",
            "3",
        ],
    );
    let id = t["id"].as_i64().unwrap();
    let (ok, list) = cli_lines(dir.path(), &storage, &["token", "list"]);
    assert!(ok);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["role"], "viewer");
    assert!(list[0]["expires_at"].as_i64().unwrap() > reel_actors::now_ms());
    assert!(!list[0].to_string().contains(t["token"].as_str().unwrap()));
    let r = cli(dir.path(), &storage, &["token", "revoke", &id.to_string()]);
    assert_eq!(r["revoked"], id);
    let (ok, _) = cli_lines(dir.path(), &storage, &["token", "revoke", &id.to_string()]);
    assert!(!ok, "revoked twice");
    // The owner signs in to a node on that database.
    let node = Proc::serve(dir.path(), &storage).start();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/login", node.base()))
        .json(&json!({"email": "first@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        (me["role"].as_str(), me["user"]["name"].as_str()),
        (Some("owner"), Some("First"))
    );
}

/// No password reaches a log line: a node logging at `debug` signs people
/// in (right and wrong), takes an invitation and `reel user create`; its
/// output holds none of the passwords.
#[actix_web::test]
async fn passwords_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let owner_pw = password_for("log-owner@example.com");
    cli_stdin(
        dir.path(),
        &storage,
        &[
            "user",
            "create",
            "--email",
            "log-owner@example.com",
            "--role",
            "owner",
        ],
        &format!("{owner_pw}\n"),
    );
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_LOG", "debug")
        .start_capturing();
    let http = reqwest::Client::new();
    let base = node.base();
    let login = |email: &str, password: &str| {
        let req = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"email": email, "password": password}));
        async move { req.send().await.unwrap() }
    };
    let wrong_pw = "wrong-Password-123456";
    assert_eq!(login("log-owner@example.com", wrong_pw).await.status(), 401);
    assert_eq!(login("nobody@example.com", wrong_pw).await.status(), 401);
    let res = login("log-owner@example.com", &owner_pw).await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).unwrap();
    let inv: Value = http
        .post(format!("{base}/api/v1/invitations"))
        .header("cookie", &cookie)
        .json(&json!({"email": "log-new@example.com", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = inv["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let new_pw = password_for("log-new@example.com");
    let res = http
        .post(format!("{base}/api/v1/invitations/{code}/accept"))
        .json(&json!({"name": "N", "password": new_pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A malformed body with a password in it.
    let res = http
        .post(format!("{base}/api/v1/login"))
        .body(format!("{{\"email\": 5, \"password\": \"{wrong_pw}\""))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let output = node.stop_and_output();
    assert!(output.contains("reel listening"), "output captured");
    assert!(
        output.to_lowercase().contains("debug"),
        "debug logs captured"
    );
    for pw in [owner_pw.as_str(), wrong_pw, new_pw.as_str()] {
        assert!(!output.contains(pw), "a password reached the logs");
    }
}

/// `reel serve --demo` prints the demo owner's email and a password (not a
/// token), and they sign in as the owner.
#[actix_web::test]
async fn the_demo_prints_an_owner_who_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let node = Proc::serve(dir.path(), &storage)
        .env("REEL_DEMO", "1")
        .start_capturing();
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let line = loop {
        let out = node.output();
        if let Some(l) = out.lines().find(|l| l.starts_with("sign in as ")) {
            break l.to_string();
        }
        assert!(Instant::now() < deadline, "no sign-in line: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let (email, password) = (words[3], words[7]);
    assert_eq!(email, "demo@reel.localhost");
    assert!(!password.starts_with("reel_"), "a password, not a token");
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/login", node.base()))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["role"], "owner");
}

/// An unknown email takes about as long as a wrong password (it is checked
/// against a dummy hash), so timing does not tell which emails have
/// accounts. Without the dummy hash it would be tens of times faster.
#[actix_web::test]
async fn an_unknown_email_takes_about_as_long_as_a_wrong_password() {
    let app = spawn_app_with(|c| c.accounts.login_max_failures = 1000).await;
    app.create_user("timed@example.com", Role::Viewer, None)
        .await;
    let median = |mut d: Vec<Duration>| {
        d.sort();
        d[d.len() / 2]
    };
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..7 {
        for (email, into) in [
            ("timed@example.com", &mut wrong),
            ("absent@example.com", &mut unknown),
        ] {
            let started = Instant::now();
            let res = app.login(email, &format!("wrong password {i}")).await;
            into.push(started.elapsed());
            assert_eq!(res.status(), 401);
        }
    }
    let (wrong, unknown) = (median(wrong), median(unknown));
    assert!(
        unknown * 3 > wrong && wrong * 3 > unknown,
        "wrong password {wrong:?}, unknown email {unknown:?}"
    );
}

/// Watching a live session is audited once per watcher and session.
#[actix_web::test]
async fn live_watching_is_audited() {
    let app = spawn_app().await;
    app.create_user("eye@example.com", Role::Admin, None).await;
    let cred = app.sign_in("eye@example.com").await;
    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = app.open_live(&cred).await.unwrap();
    for msg in [
        json!({"t": "watch", "session": session}),
        json!({"t": "unwatch", "session": session}),
        json!({"t": "watch", "session": session}),
        // Answered after the watches: they were handled.
        json!({"t": "presence", "site": app.site_id}),
    ] {
        ws.send(Message::Text(msg.to_string())).await.unwrap();
    }
    loop {
        let m = next_json(&mut ws).await.expect("the socket stays open");
        assert_ne!(m["t"], "error", "{m}");
        if m["t"] == "presence_snapshot" {
            break;
        }
    }
    let (_, log) = app.get_with("/api/v1/audit", &cred).await;
    let watched: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "live_watched")
        .collect();
    assert_eq!(watched.len(), 1, "{log}");
    assert_eq!(watched[0]["actor"], "eye@example.com");
    assert_eq!(watched[0]["target"], format!("session:{session}"));
}

/// A member's sites narrowed while it watches: the open socket follows
/// within the recheck, ending the watch of a session of a site it no longer
/// reaches.
#[actix_web::test]
async fn narrowing_a_members_sites_ends_its_watches_outside_them() {
    let app = spawn_app().await;
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let (site_b, _) = index.create_site("default", "b", &[]).await.unwrap();
    index.close().await;
    app.create_user("adm2@example.com", Role::Admin, None).await;
    let admin = app.sign_in("adm2@example.com").await;
    let member_id = app.create_user("w@example.com", Role::Member, None).await;
    let member = app.sign_in("w@example.com").await;
    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = app.open_live(&member).await.unwrap();
    for msg in [
        json!({"t": "watch", "session": session}),
        json!({"t": "presence", "site": app.site_id}),
    ] {
        ws.send(Message::Text(msg.to_string())).await.unwrap();
    }
    loop {
        let m = next_json(&mut ws).await.unwrap();
        assert_ne!(m["t"], "error", "{m}");
        if m["t"] == "presence_snapshot" {
            break;
        }
    }
    let (s, _) = app
        .send_with(
            Method::PATCH,
            &format!("/api/v1/members/{member_id}"),
            &admin,
            Some(json!({"sites": [site_b]})),
        )
        .await;
    assert_eq!(s, 200);
    let narrowed = Instant::now();
    let ended = loop {
        let m = next_json(&mut ws).await.expect("the socket stays open");
        if m["t"] == "watch_ended" {
            break m;
        }
    };
    assert_eq!(ended["session"], session.as_str());
    assert_eq!(ended["reason"], "not_allowed");
    assert!(narrowed.elapsed() < Duration::from_secs(10));
    // And a new watch of it is refused as another organisation's.
    ws.send(Message::Text(
        json!({"t": "watch", "session": session}).to_string(),
    ))
    .await
    .unwrap();
    let m = loop {
        let m = next_json(&mut ws).await.unwrap();
        if m["t"] == "error" {
            break m;
        }
    };
    assert_eq!(m["code"], "not_found");
}
