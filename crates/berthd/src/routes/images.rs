//! `/images/...` and `/commit` routes over the image store.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_core::Reference;
use serde::Deserialize;
use serde_json::{Value, json};

use super::qbool;
use super::system::{Json, parse_filters};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

fn image_err(e: berth_image::ImageError) -> ApiError {
    ApiError::from_classified(e)
}

/// Unix seconds of an RFC 3339 time (0 when unparsable).
pub fn created_unix(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, berth_image::ImageError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?.map_err(image_err)
}

/// Glob match of Docker's `reference` filter (`*` within a path component, `?`).
fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && m(p, &s[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => m(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    m(pat.as_bytes(), s.as_bytes())
}

fn reference_matches(pat: &str, tag: &str) -> bool {
    // Docker matches against the familiar name, with and without the tag.
    let Ok(r) = Reference::parse(tag) else {
        return false;
    };
    let repo = r.familiar_repository();
    let full = r.familiar_string();
    glob(pat, &full) || glob(pat, &repo)
}

fn labels_of(img: &berth_image::ImageRecord) -> BTreeMap<String, String> {
    img.config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn summary(img: &berth_image::ImageRecord, containers: i64) -> Value {
    let dangling = img.repo_tags.is_empty();
    json!({
        "Containers": containers,
        "Created": created_unix(&img.created),
        "Id": img.id.to_string(),
        "Labels": if labels_of(img).is_empty() { Value::Null } else { json!(labels_of(img)) },
        "ParentId": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "RepoDigests": if dangling && img.repo_digests.is_empty() { json!(["<none>@<none>"]) } else if img.repo_digests.is_empty() { Value::Null } else { json!(img.repo_digests) },
        "RepoTags": if dangling { json!(["<none>:<none>"]) } else { json!(img.repo_tags) },
        "SharedSize": -1,
        "Size": img.size,
        "VirtualSize": img.size,
    })
}

/// Query of `GET /images/json`.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    all: Option<String>,
    filters: Option<String>,
    filter: Option<String>,
}

/// GET `/images/json`.
pub async fn list(State(st): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json> {
    let mut filters = parse_filters(q.filters.as_deref())?;
    if let Some(f) = q.filter.filter(|f| !f.is_empty()) {
        filters.entry("reference".into()).or_default().push(f);
    }
    for k in filters.keys() {
        if !["dangling", "label", "before", "since", "reference", "until"].contains(&k.as_str()) {
            return Err(ApiError::invalid(format!("Invalid filter '{k}'")));
        }
    }
    let images = st.images.clone();
    let mut list = tokio::task::spawn_blocking(move || images.list()).await?;
    list.sort_by(|a, b| b.created.cmp(&a.created));
    let all = qbool(&q.all);
    let mut out = Vec::new();
    let bound = |key: &str| -> ApiResult<Option<String>> {
        match filters.get(key).and_then(|v| v.first()) {
            Some(name) => Ok(Some(st.images.get(name).map_err(image_err)?.created)),
            None => Ok(None),
        }
    };
    let before = bound("before")?;
    let since = bound("since")?;
    for img in list {
        let dangling = img.repo_tags.is_empty();
        if let Some(d) = filters.get("dangling").and_then(|v| v.first()) {
            let want = match d.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ApiError::invalid(format!(
                        "Invalid filter 'dangling={other}'"
                    )));
                }
            };
            if want != dangling {
                continue;
            }
        }
        if let Some(pats) = filters.get("reference")
            && !pats.is_empty()
            && !img
                .repo_tags
                .iter()
                .any(|t| pats.iter().any(|p| reference_matches(p, t)))
        {
            continue;
        }
        if let Some(ls) = filters.get("label") {
            let labels = labels_of(&img);
            let ok = ls.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
                None => labels.contains_key(l.as_str()),
            });
            if !ok {
                continue;
            }
        }
        if before.as_ref().is_some_and(|b| img.created >= *b)
            || since.as_ref().is_some_and(|s| img.created <= *s)
        {
            continue;
        }
        // Intermediate images (untagged parents of others) are only shown with -a.
        if !all && dangling && !filters.contains_key("dangling") && st.images.is_parent(&img.id) {
            continue;
        }
        let mut v = summary(&img, -1);
        // Like dockerd, a reference filter also narrows RepoTags to the matching ones, so
        // `images -q repo:tag` lists the image once.
        if let Some(pats) = filters.get("reference").filter(|p| !p.is_empty())
            && let Some(tags) = v.get_mut("RepoTags").and_then(Value::as_array_mut)
        {
            tags.retain(|t| {
                t.as_str()
                    .is_some_and(|t| pats.iter().any(|p| reference_matches(p, t)))
            });
        }
        out.push(v);
    }
    Ok(Json(Value::Array(out)))
}

/// Query of `POST /images/create`.
#[derive(Debug, Deserialize, Default)]
pub struct CreateQuery {
    #[serde(rename = "fromImage")]
    from_image: Option<String>,
    #[serde(rename = "fromSrc")]
    from_src: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    message: Option<String>,
    platform: Option<String>,
}

fn changes_from_query(raw: &Option<String>) -> Vec<String> {
    let Some(raw) = raw else { return Vec::new() };
    url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k == "changes")
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// POST `/images/create`: `fromSrc=-` imports the request body; pulling comes with the registry work.
pub async fn create(
    State(st): State<AppState>,
    Query(q): Query<CreateQuery>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if let Some(from) = q.from_image.clone().filter(|f| !f.is_empty()) {
        let reference = super::distribution::pull_reference(&from, q.tag.as_deref());
        Reference::parse(&reference)?;
        let auth = super::distribution::registry_auth(&headers);
        return super::distribution::pull(st, reference, q.platform.clone(), auth).await;
    }
    let src = q.from_src.unwrap_or_default();
    if src != "-" {
        return Err(ApiError::invalid(format!(
            "importing from a URL is not supported: {src}"
        )));
    }
    let reference = match q.repo.filter(|r| !r.is_empty()) {
        Some(repo) => {
            let s = match q.tag.filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            Some(Reference::parse(&s)?.with_default_tag())
        }
        None => None,
    };
    let opts = berth_image::ImportOptions {
        changes: changes_from_query(&raw),
        message: q.message.unwrap_or_default(),
        reference,
        platform: q.platform,
    };
    let images = st.images.clone();
    let rec =
        crate::archive::with_body_reader(body, move |r| images.import(r, opts).map_err(image_err))
            .await?;
    st.events
        .publish("image", "import", &rec.id.to_string(), BTreeMap::new());
    let line = format!("{}\n", json!({"status": rec.id.to_string()}));
    Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
}

/// GET `/images/{name}/json|history|get`.
pub async fn by_name(State(st): State<AppState>, Path(rest): Path<String>) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        let name = name.to_string();
        let images = st.images.clone();
        let img = blocking(move || images.get(&name)).await?;
        return Ok(Json(inspect_json(&st, &img)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let name = name.to_string();
        let images = st.images.clone();
        let hist = blocking(move || {
            let img = images.get(&name)?;
            images.history(&img.id)
        })
        .await?;
        return Ok(Json(serde_json::to_value(hist).unwrap_or(Value::Null)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(st, vec![name.to_string()]).await;
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

fn inspect_json(st: &AppState, img: &berth_image::ImageRecord) -> Value {
    let cfg = &img.config;
    json!({
        "Id": img.id.to_string(),
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Parent": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "Comment": cfg.comment.clone().unwrap_or_default(),
        "Created": img.created,
        "Container": cfg.container.clone().unwrap_or_default(),
        "ContainerConfig": cfg.container_config.clone().unwrap_or_else(|| json!({
            "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
            "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null})),
        "DockerVersion": cfg.docker_version.clone().unwrap_or_default(),
        "Author": cfg.author.clone().unwrap_or_default(),
        "Config": berth_image::docker_config_json(cfg.config.as_ref()),
        "Architecture": cfg.architecture.clone(),
        "Os": cfg.os.clone(),
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {"Data": crate::containers::inspect::graph_driver_data(&st.cfg, st.snap.name(), &cfg.rootfs.diff_ids, None), "Name": st.snap.name()},
        "RootFS": {"Type": "layers", "Layers": cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": img.last_tag_time.clone().unwrap_or_else(|| berth_core::time::ZERO_TIME.to_string())}
    })
}

/// Query of `POST /images/{name}/tag`.
#[derive(Debug, Deserialize, Default)]
pub struct TagQuery {
    repo: Option<String>,
    tag: Option<String>,
}

/// POST `/images/{name}/tag` (and `/push`, which needs the registry client).
pub async fn by_name_post(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Query<TagQuery>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/push") {
        let auth = super::distribution::registry_auth(&headers);
        return super::distribution::push(st, name.to_string(), q.tag.clone(), auth).await;
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.repo.unwrap_or_default();
        let s = match q.tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo,
        };
        let r = Reference::parse(&s)?.with_default_tag();
        if r.digest.is_some() {
            return Err(ApiError::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        let name = name.to_string();
        let images = st.images.clone();
        let r2 = r.clone();
        let img = blocking(move || {
            let img = images.get(&name)?;
            images.tag(&img.id, &r2)?;
            Ok(img)
        })
        .await?;
        let mut a = BTreeMap::new();
        a.insert("name".to_string(), r.familiar_string());
        st.events.publish("image", "tag", &img.id.to_string(), a);
        return Ok(StatusCode::CREATED.into_response());
    }
    if rest.ends_with("/push") {
        return Err(ApiError::internal("berthd cannot push images yet"));
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

/// Query of `DELETE /images/{name}`.
#[derive(Debug, Deserialize, Default)]
pub struct RemoveQuery {
    force: Option<String>,
    noprune: Option<String>,
}

/// DELETE `/images/{name}`.
pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Json> {
    let force = qbool(&q.force);
    let noprune = qbool(&q.noprune);
    let images = st.images.clone();
    let svc = st.containers.clone();
    let items = blocking(move || {
        let in_use = |id: &berth_core::Digest| svc.image_user(&id.to_string());
        images.remove_with(&name, force, noprune, &in_use)
    })
    .await?;
    let mut out = Vec::new();
    for it in items {
        match it {
            berth_image::DeleteItem::Untagged(t) => {
                st.events.publish("image", "untag", &t, BTreeMap::new());
                out.push(json!({"Untagged": t}));
            }
            berth_image::DeleteItem::Deleted(d) => {
                st.events.publish("image", "delete", &d, BTreeMap::new());
                out.push(json!({"Deleted": d}));
            }
        }
    }
    Ok(Json(Value::Array(out)))
}

async fn save(st: AppState, names: Vec<String>) -> ApiResult<Response> {
    let images = st.images.clone();
    {
        let images = images.clone();
        let names = names.clone();
        blocking(move || {
            for n in &names {
                images.get(n)?;
            }
            Ok(())
        })
        .await?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let mut w = crate::archive::ChannelWriter::new(tx.clone());
        let res = images.save(&names, &mut w);
        let res = match res {
            Ok(()) => w.flush_all(),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        if let Err(e) = res {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let s =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(s),
    )
        .into_response())
}

/// GET `/images/get?names=a&names=b`.
pub async fn save_many(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let names: Vec<String> = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v.into_owned())
        .collect();
    if names.is_empty() {
        return Err(ApiError::invalid("no image names given"));
    }
    save(st, names).await
}

/// Query of load.
#[derive(Debug, Deserialize, Default)]
pub struct LoadQuery {
    quiet: Option<String>,
}

/// POST `/images/load`.
pub async fn load(
    State(st): State<AppState>,
    Query(q): Query<LoadQuery>,
    body: Body,
) -> ApiResult<Response> {
    let _ = qbool(&q.quiet);
    let images = st.images.clone();
    let loaded = crate::archive::with_body_reader(body, move |r| {
        images.load(r, &mut |_| {}).map_err(image_err)
    })
    .await;
    let mut out = String::new();
    // dockerd answers 200 and reports a failed load in the JSON stream (docker-py raises
    // ImageLoadError from it), and streams the lines chunked so clients decode them one by one.
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            out.push_str(&format!("{}\n", crate::progress::error_line(&e.message)));
            Vec::new()
        }
    };
    for img in loaded {
        st.events
            .publish("image", "load", &img.id.to_string(), BTreeMap::new());
        if img.tags.is_empty() {
            out.push_str(&format!(
                "{}\n",
                json!({"stream": format!("Loaded image ID: {}\n", img.id)})
            ));
        }
        for t in img.tags {
            out.push_str(&format!(
                "{}\n",
                json!({"stream": format!("Loaded image: {t}\n")})
            ));
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        chunked_lines(out),
    )
        .into_response())
}

/// A body of JSON lines sent chunked (no Content-Length), one chunk per line, as dockerd's
/// flushing writer does: docker-py decodes a non-chunked body as one JSON document.
fn chunked_lines(text: String) -> Body {
    let lines: Vec<Result<Bytes, std::convert::Infallible>> = text
        .split_inclusive('\n')
        .map(|l| Ok(Bytes::from(l.to_string())))
        .collect();
    Body::from_stream(futures_util::stream::iter(lines))
}

/// Query of prune.
#[derive(Debug, Deserialize, Default)]
pub struct PruneQuery {
    filters: Option<String>,
}

/// POST `/images/prune`.
pub async fn prune(State(st): State<AppState>, Query(q): Query<PruneQuery>) -> ApiResult<Json> {
    let filters = parse_filters(q.filters.as_deref())?;
    let all = filters
        .get("dangling")
        .and_then(|v| v.first())
        .is_some_and(|d| d == "false" || d == "0");
    let images = st.images.clone();
    let svc = st.containers.clone();
    let (items, reclaimed) = blocking(move || {
        let in_use = |id: &berth_core::Digest| svc.image_user(&id.to_string());
        images.prune(all, &in_use)
    })
    .await?;
    let list: Vec<Value> = items
        .into_iter()
        .map(|it| match it {
            berth_image::DeleteItem::Untagged(t) => json!({"Untagged": t}),
            berth_image::DeleteItem::Deleted(d) => json!({"Deleted": d}),
        })
        .collect();
    Ok(Json(
        json!({"ImagesDeleted": if list.is_empty() { Value::Null } else { Value::Array(list) }, "SpaceReclaimed": reclaimed}),
    ))
}

/// Query of `/commit`.
#[derive(Debug, Deserialize, Default)]
pub struct CommitQuery {
    container: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    comment: Option<String>,
    author: Option<String>,
    pause: Option<String>,
}

/// POST `/commit`: the container's changes become a new image layer.
pub async fn commit(
    State(st): State<AppState>,
    Query(q): Query<CommitQuery>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let c = st.containers.get(q.container.as_deref().unwrap_or(""))?;
    let r = c.snapshot();
    let reference = match q.repo.filter(|s| !s.is_empty()) {
        Some(repo) => {
            let s = match q.tag.filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            Some(Reference::parse(&s)?.with_default_tag())
        }
        None => None,
    };
    let overrides: Option<berth_image::RunConfig> = if body.is_empty() || body.as_ref() == b"null" {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let pause = q.pause.is_none() || qbool(&q.pause);
    let paused_here =
        pause && r.state.running && !r.state.paused && st.containers.pause(&c.id).await.is_ok();
    let container_cfg: berth_image::RunConfig =
        serde_json::from_value(serde_json::to_value(&r.config).unwrap_or(Value::Null))
            .unwrap_or_default();
    let mut run_cfg = container_cfg.clone();
    if let Some(o) = overrides {
        berth_image::overlay_run_config(&mut run_cfg, o);
    }
    let changes = changes_from_query(&raw);
    let snap = st.snap.clone();
    let images = st.images.clone();
    let id = c.id.clone();
    let tmp_dir = st.cfg.data_root.join("tmp");
    let opts = berth_image::CommitOptions {
        parent: r.image.parse().ok(),
        config: run_cfg,
        changes,
        author: q.author.unwrap_or_default(),
        comment: q.comment.unwrap_or_default(),
        container_id: c.id.clone(),
        container_config: Some(container_cfg),
        reference,
    };
    let res = tokio::task::spawn_blocking(move || -> ApiResult<berth_image::ImageRecord> {
        std::fs::create_dir_all(&tmp_dir)?;
        let mut tmp = tempfile::tempfile_in(&tmp_dir)?;
        snap.diff_tar(&id, &mut tmp)?;
        use std::io::Seek;
        tmp.seek(std::io::SeekFrom::Start(0))?;
        images.commit(&mut tmp, opts).map_err(image_err)
    })
    .await?;
    if paused_here {
        let _ = st.containers.unpause(&c.id).await;
    }
    let rec = res?;
    st.events.publish(
        "container",
        "commit",
        &c.id,
        crate::containers::lifecycle::attrs(&r),
    );
    Ok((StatusCode::CREATED, Json(json!({"Id": rec.id.to_string()}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("*box", "library/other:latest"));
        assert!(reference_matches("localhost:5000/*", "localhost:5000/x:1"));
    }

    #[tokio::test]
    async fn json_lines_are_sent_chunked_one_per_chunk() {
        use http_body_util::BodyExt as _;
        let mut body = chunked_lines("{\"a\":1}\n{\"b\":2}\n".to_string());
        assert_eq!(axum::body::HttpBody::size_hint(&body).exact(), None);
        let mut chunks = Vec::new();
        while let Some(f) = body.frame().await {
            chunks.push(f.unwrap().into_data().unwrap());
        }
        assert_eq!(
            chunks,
            vec![Bytes::from("{\"a\":1}\n"), Bytes::from("{\"b\":2}\n")]
        );
    }
}
