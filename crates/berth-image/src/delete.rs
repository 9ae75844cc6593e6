//! `docker rmi` and `docker image prune` with Docker's conflict rules, messages and output,
//! and garbage collection of layers no image uses any more.
//!
//! Docker's rules (moby `ImageDelete`): a *hard* conflict (dependent child images, a running
//! container) can never be forced; a *soft* one (the image has other tags, a stopped container
//! uses it) can. Naming an image by tag removes that tag first; the image itself goes only when
//! no tag is left. Deleting an image also deletes its parent chain while those parents are
//! untagged and unused (the API's default `noprune=false`).

use std::collections::HashSet;

use berth_core::Digest;
use redb::ReadableTable;

use crate::store::{ImageStore, LAYERS, RECORDS, TAGS, chains_of, db_err, familiar, short};
use crate::{DeleteItem, ImageError, Result};

/// Tells which container (id, running?) uses an image id, if any.
pub type InUse<'a> = &'a dyn Fn(&Digest) -> Option<(String, bool)>;

const CHILD: u8 = 1;
const RUNNING: u8 = 2;
const ACTIVE_REF: u8 = 4;
const STOPPED: u8 = 8;
const HARD: u8 = CHILD | RUNNING;
const SOFT: u8 = ACTIVE_REF | STOPPED;

/// State of one `rmi`/prune run.
struct Ctx<'a> {
    in_use: InUse<'a>,
    /// Delete untagged parents too (the API's `noprune=false`).
    prune: bool,
    out: &'a mut Vec<DeleteItem>,
    reclaimed: u64,
}

struct Conflict {
    id: Digest,
    hard: bool,
    used: bool,
    message: String,
}

impl Conflict {
    fn into_error(self) -> ImageError {
        let how = if self.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        ImageError::Conflict(format!(
            "conflict: unable to delete {} ({how}) - {}",
            short(&self.id),
            self.message
        ))
    }
}

fn short_cid(cid: &str) -> &str {
    &cid[..12.min(cid.len())]
}

impl ImageStore {
    fn has_children(&self, id: &Digest) -> Result<bool> {
        Ok(self
            .metas()?
            .iter()
            .any(|(_, m)| m.parent.as_ref() == Some(id)))
    }

    fn check_conflict(&self, id: &Digest, mask: u8, in_use: InUse<'_>) -> Result<Option<Conflict>> {
        let mk = |hard, used, message: String| {
            Some(Conflict {
                id: id.clone(),
                hard,
                used,
                message,
            })
        };
        if mask & CHILD != 0 && self.has_children(id)? {
            return Ok(mk(true, false, "image has dependent child images".into()));
        }
        let user = in_use(id);
        if mask & RUNNING != 0
            && let Some((cid, true)) = &user
        {
            return Ok(mk(
                true,
                true,
                format!(
                    "image is being used by running container {}",
                    short_cid(cid)
                ),
            ));
        }
        if mask & ACTIVE_REF != 0 && !self.tags_of(id)?.is_empty() {
            return Ok(mk(
                false,
                false,
                "image is referenced in multiple repositories".into(),
            ));
        }
        if mask & STOPPED != 0
            && let Some((cid, false)) = &user
        {
            return Ok(mk(
                false,
                true,
                format!(
                    "image is being used by stopped container {}",
                    short_cid(cid)
                ),
            ));
        }
        Ok(None)
    }

    fn untag(&self, key: &str) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(TAGS).map_err(db_err)?;
            t.remove(key).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// `docker rmi NAME [-f]` with Docker's rules and messages. Returns the `Untagged`/`Deleted`
    /// lines in Docker's order (deleted layers appear as their chain ids, as Docker shows them).
    pub fn remove(&self, name: &str, force: bool, in_use: InUse<'_>) -> Result<Vec<DeleteItem>> {
        self.remove_with(name, force, false, in_use)
    }

    /// `remove` with the API's `noprune`: when set, untagged parents are kept.
    pub fn remove_with(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        in_use: InUse<'_>,
    ) -> Result<Vec<DeleteItem>> {
        let _g = self.lock();
        let mut out = Vec::new();
        let mut ctx = Ctx {
            in_use,
            prune: !noprune,
            out: &mut out,
            reclaimed: 0,
        };
        self.remove_locked(name, force, &mut ctx)?;
        Ok(out)
    }

    fn remove_locked(&self, name: &str, force: bool, ctx: &mut Ctx<'_>) -> Result<()> {
        let in_use = ctx.in_use;
        let (id, by_tag) = self.resolve(name)?;
        let refs = self.tags_of(&id)?;
        let mut quiet = false;
        if let Some(tag) = by_tag {
            if !force
                && refs.len() == 1
                && let Some((cid, _)) = in_use(&id)
            {
                // Untagging would leave a dangling image under a container: must be explicit.
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    short_cid(&cid),
                    short(&id)
                )));
            }
            self.untag(&tag)?;
            ctx.out.push(DeleteItem::Untagged(familiar(&tag)));
            if refs.len() > 1 {
                return Ok(());
            }
            quiet = true;
        } else if refs.len() == 1 {
            let mask = if force { HARD } else { HARD | STOPPED };
            if let Some(c) = self.check_conflict(&id, mask, in_use)? {
                return Err(c.into_error());
            }
            self.untag(&refs[0])?;
            ctx.out.push(DeleteItem::Untagged(familiar(&refs[0])));
        }
        self.delete_helper(&id, force, quiet, ctx)
    }

    fn delete_helper(
        &self,
        id: &Digest,
        force: bool,
        quiet: bool,
        ctx: &mut Ctx<'_>,
    ) -> Result<()> {
        let in_use = ctx.in_use;
        let mask = if force { HARD } else { HARD | SOFT };
        if let Some(c) = self.check_conflict(id, mask, in_use)? {
            let dangling = self.tags_of(id)?.is_empty() && !self.has_children(id)?;
            if quiet && (!dangling || c.used) {
                return Ok(());
            }
            return Err(c.into_error());
        }
        let parent = self.meta(id)?.and_then(|m| m.parent);
        for t in self.tags_of(id)? {
            self.untag(&t)?;
            ctx.out.push(DeleteItem::Untagged(familiar(&t)));
        }
        // A container (stopped, forced removal) may still sit on these layers: keep them then.
        let keep_layers = in_use(id).is_some();
        let removed = self.delete_image(id, keep_layers)?;
        ctx.out.push(DeleteItem::Deleted(id.to_string()));
        for (chain, size) in removed {
            ctx.reclaimed += size;
            ctx.out.push(DeleteItem::Deleted(chain.to_string()));
        }
        match parent {
            Some(p) if ctx.prune && self.meta(&p)?.is_some() => {
                self.delete_helper(&p, false, true, ctx)
            }
            _ => Ok(()),
        }
    }

    /// Deletes an image record (and tags) in one transaction, then the layers and blobs no
    /// remaining image uses. Returns the removed layers' chain ids and sizes, topmost first.
    fn delete_image(&self, id: &Digest, keep_layers: bool) -> Result<Vec<(Digest, u64)>> {
        let cfg = self.config(id).ok();
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut recs = tx.open_table(RECORDS).map_err(db_err)?;
            recs.remove(id.to_string().as_str()).map_err(db_err)?;
            let mut t = tx.open_table(TAGS).map_err(db_err)?;
            let idstr = id.to_string();
            let keys: Vec<String> = t
                .iter()
                .map_err(db_err)?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() == idstr)
                .map(|(k, _)| k.value().to_string())
                .collect();
            for k in keys {
                t.remove(k.as_str()).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        let Some(cfg) = cfg else {
            return Ok(Vec::new());
        };
        let (used_chains, used_blobs) = self.in_use_by_images()?;
        let mut removed = Vec::new();
        if !keep_layers {
            for c in chains_of(&cfg).into_iter().rev() {
                if used_chains.contains(&c) {
                    continue;
                }
                // A busy layer (still mounted somewhere) stays recorded; `gc_layers` retries.
                match self.drop_layer(&c) {
                    Ok(size) => removed.push((c.clone(), size)),
                    Err(e) => {
                        tracing::warn!("removing layer {c}: {e}");
                        break;
                    }
                }
            }
        }
        // A kept layer keeps its tar too, so `gc_layers` can account for it later.
        if !keep_layers {
            for d in &cfg.rootfs.diff_ids {
                if !used_blobs.contains(d) {
                    self.content.delete(d);
                    self.drop_compressed(d);
                }
            }
        }
        if !used_blobs.contains(id) {
            self.content.delete(id);
        }
        Ok(removed)
    }

    /// Chains and blobs (configs, layer tars) referenced by the remaining images.
    fn in_use_by_images(&self) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let mut chains = HashSet::new();
        let mut blobs = HashSet::new();
        for (other, _) in self.metas()? {
            blobs.insert(other.clone());
            if let Ok(c) = self.config(&other) {
                chains.extend(chains_of(&c));
                blobs.extend(c.rootfs.diff_ids.iter().cloned());
            }
        }
        Ok((chains, blobs))
    }

    /// Removes one layer from the snapshotter and the layer table; returns its recorded size.
    fn drop_layer(&self, chain: &Digest) -> Result<u64> {
        let meta = self.layer_meta(chain)?.unwrap_or_default();
        let size = meta.size;
        if self.snap.has_layer(chain) {
            self.snap.remove_layer(chain)?;
        }
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut l = tx.open_table(LAYERS).map_err(db_err)?;
            l.remove(chain.to_string().as_str()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(size)
    }

    /// Removes layers that no image uses and that are not below any of `container_tops` (the
    /// parent chains of existing containers). Needed after a forced `rmi` of an image a stopped
    /// container used, once that container is gone. Returns the bytes freed.
    pub fn gc_layers(&self, container_tops: &[Digest]) -> Result<u64> {
        let _g = self.lock();
        let layers = self.all_layers()?;
        let parent_of: std::collections::HashMap<Digest, Option<Digest>> = layers
            .iter()
            .map(|(c, m)| (c.clone(), m.parent.clone()))
            .collect();
        let (mut keep, _) = self.in_use_by_images()?;
        for top in container_tops {
            let mut cur = Some(top.clone());
            while let Some(c) = cur {
                cur = parent_of.get(&c).cloned().flatten();
                keep.insert(c);
            }
        }
        // Remove children before parents: a layer's parent stays until nothing sits on it.
        let mut victims: Vec<Digest> = layers
            .iter()
            .map(|(c, _)| c.clone())
            .filter(|c| !keep.contains(c))
            .collect();
        let depth = |c: &Digest| {
            let mut n = 0;
            let mut cur = parent_of.get(c).cloned().flatten();
            while let Some(p) = cur {
                n += 1;
                cur = parent_of.get(&p).cloned().flatten();
            }
            n
        };
        victims.sort_by_key(|c| std::cmp::Reverse(depth(c)));
        let (_, used_blobs) = self.in_use_by_images()?;
        let mut freed = 0;
        for c in victims {
            let diff = self.layer_meta(&c)?.and_then(|m| m.diff_id);
            freed += self.drop_layer(&c)?;
            if let Some(d) = diff
                && !used_blobs.contains(&d)
            {
                self.content.delete(&d);
                self.drop_compressed(&d);
            }
        }
        Ok(freed)
    }

    /// `docker image prune`: dangling images (no tag, no child), or with `all` every image no
    /// container uses. Returns Docker's `ImagesDeleted` items and the bytes of layers freed.
    pub fn prune(&self, all: bool, in_use: InUse<'_>) -> Result<(Vec<DeleteItem>, u64)> {
        let _g = self.lock();
        let mut out = Vec::new();
        let mut reclaimed = 0;
        let metas = self.metas()?;
        let parents: HashSet<Digest> = metas.iter().filter_map(|(_, m)| m.parent.clone()).collect();
        let mut candidates: Vec<(Digest, Vec<String>)> = Vec::new();
        for (id, _) in &metas {
            if in_use(id).is_some() {
                continue;
            }
            let tags = self.tags_of(id)?;
            // Images with children go when their last child does (parent pruning).
            if tags.is_empty() && parents.contains(id) {
                continue;
            }
            if tags.is_empty() || all {
                candidates.push((id.clone(), tags));
            }
        }
        candidates.sort();
        for (id, tags) in candidates {
            if self.meta(&id)?.is_none() {
                continue;
            }
            let names: Vec<String> = if tags.is_empty() {
                vec![id.to_string()]
            } else {
                tags
            };
            for n in names {
                let mut items = Vec::new();
                let mut ctx = Ctx {
                    in_use,
                    prune: true,
                    out: &mut items,
                    reclaimed: 0,
                };
                let res = self.remove_locked(&n, false, &mut ctx);
                reclaimed += ctx.reclaimed;
                match res {
                    Ok(()) => out.extend(items),
                    // Docker skips images it cannot delete (conflicts) and carries on.
                    Err(ImageError::Conflict(_) | ImageError::NotFound(_)) => out.extend(items),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((out, reclaimed))
    }
}
