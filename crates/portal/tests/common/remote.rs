//! Talking to a portal started as a child process, over its JSON API.

use std::time::Duration;

use serde_json::{Value, json};

use super::{eventually, submission};

pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn submit(client: &reqwest::Client, base: &str, token: &str, name: &str) -> String {
    let r = client
        .post(format!("{base}/api/v1/subscription-requests"))
        .bearer_auth(token)
        .json(&submission(name))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn request_status(client: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    client
        .get(format!("{base}/api/v1/subscription-requests/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How many requests the list shows (at most 200).
pub async fn request_count(client: &reqwest::Client, base: &str, token: &str) -> usize {
    let list: Value = client
        .get(format!("{base}/api/v1/subscription-requests?limit=200"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"].as_array().unwrap().len()
}

pub async fn wait_completed(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    within: Duration,
) -> Value {
    eventually(within, "the request to complete", || async {
        let r = request_status(client, base, token, id).await;
        (r["status"] == "completed").then_some(r)
    })
    .await
}
