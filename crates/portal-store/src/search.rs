//! The search of requests by part of a tenant's name, newest first, one page at a time.
//!
//! Three ways, cheapest first:
//! - **The walk down the trigram lists** (migration 0025): every trigram of every name is kept
//!   with its request's id, ordered by id. The search steps down the lists of its pattern's
//!   trigrams together from the newest id, each step jumping every list to the smallest of
//!   their heads, and checks a request only when every list stands on it. A name with many
//!   matches fills its page in about as many steps as the page has rows, however old the
//!   matches and however many requests there are. It is tried first for as long as at least
//!   every other step finds a match (after a few steps' start).
//! - **The few exact matches**, when the first walk ran out of steps: at most
//!   [`CANDIDATES_AT_MOST`] of them, then their page by id. A pattern whose trigrams are all
//!   common but rarely together (a long number) is found here without stepping through every
//!   request holding its trigrams. PostgreSQL reads them as one range of every name's
//!   suffixes (migration 0026), SQLite from FTS5's trigram phrase (which matches positions):
//!   either costs about as much as there are matches, however many requests there are.
//! - **The walk again without a bound on its steps**, when there are more matches than that;
//!   or, when a status or a template is asked for too (which may be rare among the matches),
//!   the requests of that status or template walked newest first.
//!
//! Every walk starts below the page's cursor and the end of a time range, and stops at its
//! start.
//!
//! On SQLite a request's name reaches both indexes a batch at a time after it is stored
//! ([`Store::index_names`], about a second later): a search reads the names of the requests
//! not indexed yet beside them (a few hundred at most while the portal runs) and takes the
//! newest of both.
//!
//! A pattern of one or two characters has no trigram: its matches are looked for among the
//! newest requests, then by walking every request newest first.

use crate::request::{ID_BEFORE_SUBMISSION_MS, RequestFilter, Value, id_prefix_at, like_pattern};
use crate::{Backend, Store, StoreError};
use std::time::Duration;
use tokio::sync::watch;

/// How many of the newest requests a search too short for trigrams looks at first.
const RECENT_WINDOW: i64 = 5_000;

/// A search with at most this many exact matches reads them all from the trigram index.
const CANDIDATES_AT_MOST: usize = 1_000;

/// How many steps the first walk may take beyond two for each match it found, before the
/// trigram index is asked instead.
const SPARE_STEPS: i64 = 16;

/// The spare steps of a walk that goes on to the end of its page, however rare its matches.
const UNBOUNDED: i64 = 1 << 50;

/// A walk takes at most this many of the pattern's trigrams (the first, the last and one
/// between): every id it checks holds them all, and the check of the whole pattern does the
/// rest. Each costs a seek per step.
const TRIGRAMS_AT_MOST: usize = 3;

/// How a walk down the trigram lists ended.
enum Walk {
    /// The page's ids, newest first: all the matches there are, or the newest `limit`.
    Done(Vec<String>),
    /// It ran out of steps first.
    OutOfSteps,
}

impl Store {
    /// A name search's page of ids, newest first: from the indexes, and on SQLite beside
    /// them from the requests not indexed yet (see [`Store::index_names`]).
    pub(crate) async fn searched_ids(
        &self,
        filter: &RequestFilter,
        query: &str,
    ) -> Result<Vec<String>, StoreError> {
        let key = query.to_lowercase();
        let trigrams = trigrams_of(&key);
        if trigrams.is_empty() {
            return self.walked_ids(filter, &key).await;
        }
        let indexed = self.indexed_ids(filter, &key, &trigrams).await?;
        if self.backend == Backend::Postgres {
            return Ok(indexed);
        }
        let (conditions, values) = filter.conditions(None);
        let source = format!(
            "subscription_requests WHERE id IN (SELECT request_id FROM names_unindexed){conditions}"
        );
        let unindexed = self.page_ids(&source, values, filter.limit).await?;
        Ok(newest(indexed, unindexed, filter.limit))
    }

    /// The page of a name search with trigrams, from the indexes alone.
    async fn indexed_ids(
        &self,
        filter: &RequestFilter,
        key: &str,
        trigrams: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if let Walk::Done(ids) = self
            .walk_trigrams(filter, key, trigrams, SPARE_STEPS)
            .await?
        {
            return Ok(ids);
        }
        if let Some(candidates) = self.name_candidates(key).await? {
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            let (conditions, values) = filter.conditions(Some(candidates));
            let source = format!("subscription_requests WHERE 1 = 1{conditions}");
            return self.page_ids(&source, values, filter.limit).await;
        }
        if filter.status.is_some() || filter.template_id.is_some() {
            let (conditions, values) = filter.conditions(None);
            let source = format!("subscription_requests WHERE 1 = 1{conditions}");
            return self.page_ids(&source, values, filter.limit).await;
        }
        match self.walk_trigrams(filter, key, trigrams, UNBOUNDED).await? {
            Walk::Done(ids) => Ok(ids),
            Walk::OutOfSteps => Err(StoreError::Other(anyhow::anyhow!(
                "a name search without a bound on its steps ran out of them"
            ))),
        }
    }

    /// A page of the requests whose names hold `key` and that pass the other filters, by
    /// stepping down the trigram lists (see the module's text) for as long as the steps stay
    /// under `spare` plus two for each match: one statement, a recursive query whose every
    /// row is one step.
    async fn walk_trigrams(
        &self,
        filter: &RequestFilter,
        key: &str,
        trigrams: &[String],
        spare: i64,
    ) -> Result<Walk, StoreError> {
        let (sql, values) = walk_statement(self.backend, filter, key, trigrams);
        let mut query = sqlx::query_as::<_, (Option<String>, i64)>(sqlx::AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(n) => query.bind(n),
            };
        }
        let rows = query
            .bind(filter.limit)
            .bind(spare)
            .fetch_all(&self.pool)
            .await?;
        let out_of_steps = rows.iter().any(|(_, out)| *out == 1);
        let ids: Vec<String> = rows
            .into_iter()
            .filter_map(|(hit, _)| hit)
            .take(usize::try_from(filter.limit).unwrap_or(0))
            .collect();
        if out_of_steps && (ids.len() as i64) < filter.limit {
            return Ok(Walk::OutOfSteps);
        }
        Ok(Walk::Done(ids))
    }

    /// A search too short for trigrams: first among the newest [`RECENT_WINDOW`] requests the
    /// other filters let through (a common name fills a page there at once), else walking
    /// every request newest first.
    async fn walked_ids(
        &self,
        filter: &RequestFilter,
        key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let others = RequestFilter {
            query: None,
            ..filter.clone()
        };
        let (conditions, mut values) = others.conditions(None);
        values.push(Value::Text(like_pattern(key)));
        let recent = format!(
            "(SELECT id, tenant_name_key FROM subscription_requests WHERE 1 = 1{conditions} \
             ORDER BY id DESC LIMIT {RECENT_WINDOW}) recent \
             WHERE tenant_name_key LIKE ${} ESCAPE '\\'",
            values.len()
        );
        let ids = self.page_ids(&recent, values, filter.limit).await?;
        if ids.len() as i64 >= filter.limit {
            return Ok(ids);
        }
        let (conditions, values) = filter.conditions(None);
        let source = format!("subscription_requests WHERE 1 = 1{conditions}");
        self.page_ids(&source, values, filter.limit).await
    }

    /// The ids of the requests whose name key contains `key` (or, on PostgreSQL, its first
    /// [`SUFFIX_CHARS`] characters), when there are at most [`CANDIDATES_AT_MOST`]; `None`
    /// when there are more.
    async fn name_candidates(&self, key: &str) -> Result<Option<Vec<String>>, StoreError> {
        let limit = CANDIDATES_AT_MOST as i64 + 1;
        let ids: Vec<String> = match self.backend {
            Backend::Postgres => {
                // The suffixes that begin with the key (or its first characters, when it is
                // longer than a suffix is kept): one range of the index. A name holding the
                // key twice is read twice, so the limit counts suffixes, not requests: a range
                // cut by it may have left out a request however few its distinct ids, and
                // is given up on. The page's own check of the name does the rest.
                let (from, below) = suffix_range(key);
                let below_it = if below.is_some() {
                    " AND suffix < $3"
                } else {
                    ""
                };
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT request_id FROM name_suffixes WHERE suffix >= $2{below_it} \
                     ORDER BY suffix LIMIT $1"
                )))
                .bind(limit)
                .bind(from);
                let mut ids: Vec<String> = match below {
                    Some(below) => query.bind(below),
                    None => query,
                }
                .fetch_all(&self.pool)
                .await?;
                if ids.len() > CANDIDATES_AT_MOST {
                    return Ok(None);
                }
                ids.sort_unstable();
                ids.dedup();
                ids
            }
            Backend::Sqlite => {
                // A quoted phrase of the trigram tokenizer: the rows holding it as a substring.
                sqlx::query_scalar(
                    "SELECT request_id FROM request_names WHERE name_key MATCH $1 LIMIT $2",
                )
                .bind(format!("\"{}\"", key.replace('"', "\"\"")))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok((ids.len() <= CANDIDATES_AT_MOST).then_some(ids))
    }
}

/// The newest `limit` of two pages' ids together, each once.
fn newest(mut ids: Vec<String>, more: Vec<String>, limit: i64) -> Vec<String> {
    ids.extend(more);
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids.dedup();
    ids.truncate(usize::try_from(limit).unwrap_or(0));
    ids
}

/// How many requests [`Store::index_names`] indexes in one transaction at most, as a running
/// portal does it.
pub const NAMES_PER_BATCH: i64 = 1_000;

/// How many batches' worth of requests waiting make a backlog whose FTS5 segments
/// [`Store::keep_names_indexed`] merges once it is indexed.
const BATCHES_BEFORE_MERGE: i64 = 10;

/// How many pages of FTS5's index one step of `Store::merge_name_segments` writes at most.
const PAGES_PER_MERGE_STEP: i64 = 500;

/// How long [`Store::keep_names_indexed`] waits between looks at the requests not indexed yet.
const NAMES_LOOKED_AT_EVERY: Duration = Duration::from_secs(1);

impl Store {
    /// Indexes for the name search (the trigram lists and FTS5's table) at most `at_most`
    /// of the requests stored since the last time, in one transaction; says how many. A
    /// submission's commit only notes its request (migration 0026): a batch writes each
    /// list's last page once for all its names, where one by one every name wrote a page
    /// of each of its trigrams. SQLite only: PostgreSQL indexes each name as it is stored.
    pub async fn index_names(&self, at_most: i64) -> Result<u64, StoreError> {
        if self.backend == Backend::Postgres {
            return Ok(0);
        }
        let waiting: Option<i64> = sqlx::query_scalar("SELECT 1 FROM names_unindexed LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        const BATCH: &str = "SELECT request_id FROM names_unindexed ORDER BY request_id LIMIT $1";
        let mut tx = self.begin_write().await?;
        // In the order of the lists, so that each list's last page is met once.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT OR IGNORE INTO name_trigrams (trigram, request_id) \
             SELECT substr(r.tenant_name_key, p.position, 3), r.id \
             FROM ({BATCH}) u JOIN subscription_requests r ON r.id = u.request_id \
             JOIN name_positions p ON p.position <= length(r.tenant_name_key) - 2 \
             ORDER BY 1, 2"
        )))
        .bind(at_most)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO request_names (request_id, name_key) \
             SELECT r.id, r.tenant_name_key \
             FROM ({BATCH}) u JOIN subscription_requests r ON r.id = u.request_id"
        )))
        .bind(at_most)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM names_unindexed WHERE request_id IN ({BATCH})"
        )))
        .bind(at_most)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done)
    }

    /// One step of merging FTS5's segments of the name search into one, writing at most
    /// `pages` pages in a write transaction of its own; says whether it found work to do.
    /// The step that starts (`start`) takes every segment, from whatever level; the others
    /// only carry that merge on, so that segments another process indexes meanwhile wait
    /// for FTS5's automerge instead of each costing the whole index rewritten. Each batch of
    /// [`Store::index_names`] leaves a segment, which automerge folds only level by level:
    /// after a backlog of many batches a name few requests hold is looked up in every one.
    async fn merge_name_segments(&self, pages: i64, start: bool) -> Result<bool, StoreError> {
        const CHANGES: &str = "SELECT total_changes()";
        let mut tx = self.begin_write().await?;
        let before: i64 = sqlx::query_scalar(CHANGES).fetch_one(&mut *tx).await?;
        // FTS5's sign: a negative count starts a merge of every segment, as few as two; a
        // positive one carries a merge on (or merges a level that holds several).
        let pages = pages.max(1);
        sqlx::query("INSERT INTO request_names (request_names, rank) VALUES ('merge', $1)")
            .bind(if start { -pages } else { pages })
            .execute(&mut *tx)
            .await?;
        let after: i64 = sqlx::query_scalar(CHANGES).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        // The command counts as one change; FTS5 writes more only when it merged something.
        Ok(after - before >= 2)
    }

    /// Indexes the names of newly stored requests ([`Store::index_names`], `per_batch` at a
    /// time) every second, and at once again while batches come full, until `stop` turns
    /// true. A backlog of ten batches or more (requests written into the file by other
    /// means, such as a script) is followed by merging FTS5's segments
    /// (`Store::merge_name_segments`), a step at a time so that submissions wait for no
    /// more than one. On PostgreSQL it returns at once.
    pub async fn keep_names_indexed(&self, mut stop: watch::Receiver<bool>, per_batch: i64) {
        if self.backend == Backend::Postgres {
            return;
        }
        let mut failing = false;
        // Whether a backlog met this time round was large: counted once, at its first full
        // batch, so that each process that shares a SQLite file and its backlog sees it so.
        let mut large_backlog = None;
        while !*stop.borrow() {
            match self.index_names(per_batch).await {
                Ok(n) if n as i64 >= per_batch => {
                    if large_backlog.is_none() {
                        let big = (BATCHES_BEFORE_MERGE - 1) * per_batch;
                        // A backlog that cannot be counted is taken as small: its segments are
                        // left to FTS5's automerge, and searches stay right, only slower.
                        large_backlog = Some(match self.names_waiting(big).await {
                            Ok(n) => n >= big,
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot count the names waiting to be indexed; their segments are left to FTS5's automerge");
                                false
                            }
                        });
                    }
                    continue;
                }
                Ok(_) => {
                    failing = false;
                    if large_backlog.take() == Some(true) {
                        self.merge_all_name_segments(&stop).await;
                    }
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot index the names of new requests yet; the search reads them unindexed meanwhile");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(NAMES_LOOKED_AT_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// How many requests wait for their names to be indexed, counted up to `at_most`.
    async fn names_waiting(&self, at_most: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM names_unindexed LIMIT $1) w")
                .bind(at_most)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Merges FTS5's segments of the name search step by step until none is left to merge
    /// or `stop` turns true. A failure leaves the merge where it got to (FTS5 keeps its
    /// progress) and is only logged: searches stay right, only slower.
    async fn merge_all_name_segments(&self, stop: &watch::Receiver<bool>) {
        let started = std::time::Instant::now();
        let mut steps = 0_u64;
        while !*stop.borrow() {
            match self
                .merge_name_segments(PAGES_PER_MERGE_STEP, steps == 0)
                .await
            {
                Ok(true) => steps += 1,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot merge the name search's segments; searches read them unmerged");
                    return;
                }
            }
        }
        if steps > 0 {
            tracing::info!(
                steps,
                ms = started.elapsed().as_millis() as u64,
                finished = !*stop.borrow(),
                "merged the name search's segments after a backlog of names"
            );
        }
    }
}

/// A walk's statement and the values of its placeholders but the last two (the page's size
/// and the spare steps).
fn walk_statement(
    backend: Backend,
    filter: &RequestFilter,
    key: &str,
    trigrams: &[String],
) -> (String, Vec<Value>) {
    let others = RequestFilter {
        query: None,
        ..filter.clone()
    };
    let (conditions, mut values) = others.conditions(None);
    let first = values.len() + 1;
    values.push(Value::Text(like_pattern(key)));
    values.extend(trigrams.iter().cloned().map(Value::Text));
    // Below the cursor and the end of the time range (either bound is right: the other
    // is checked with the rest), and no lower than the range's first id.
    let upper = [
        filter.before_id.clone(),
        filter.submitted_before.map(id_prefix_at),
    ]
    .into_iter()
    .flatten()
    .min();
    let floor = filter
        .submitted_from
        .map(|from| id_prefix_at(from - ID_BEFORE_SUBMISSION_MS));
    let mut place = |bound: Option<String>| {
        bound.map(|b| {
            values.push(Value::Text(b));
            values.len()
        })
    };
    let before = place(upper);
    let floor = place(floor);
    let walk = WalkSql {
        backend,
        conditions: &conditions,
        pattern: first,
        trigrams: (first + 1..first + 1 + trigrams.len()).collect(),
        before,
        floor,
        limit: values.len() + 1,
        spare: values.len() + 2,
    };
    (walk.sql(), values)
}

/// The distinct three-character pieces of `key` a walk steps down, as the database cuts them
/// (by character): all of them, or [`TRIGRAMS_AT_MOST`] spread from the first to the last.
fn trigrams_of(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut all: Vec<String> = Vec::new();
    for piece in chars.windows(3) {
        let trigram: String = piece.iter().collect();
        if !all.contains(&trigram) {
            all.push(trigram);
        }
    }
    if all.len() <= TRIGRAMS_AT_MOST {
        return all;
    }
    let last = all.len() - 1;
    (0..TRIGRAMS_AT_MOST)
        .map(|i| all[i * last / (TRIGRAMS_AT_MOST - 1)].clone())
        .collect()
}

/// The most characters of a name's suffix that `name_suffixes` keeps (migration 0026,
/// PostgreSQL).
const SUFFIX_CHARS: usize = 16;

/// The range of kept suffixes that begin with `key` (cut to [`SUFFIX_CHARS`]): from it, and
/// below the least string greater than every string it begins (none when there is no such
/// string). The index orders suffixes bytewise, which for UTF-8 is the order of characters.
fn suffix_range(key: &str) -> (String, Option<String>) {
    let from: String = key.chars().take(SUFFIX_CHARS).collect();
    let mut chars: Vec<char> = from.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return (from, Some(chars.into_iter().collect()));
        }
    }
    (from, None)
}

/// The statement of a walk: the numbers of its placeholders, and the other filters as
/// conditions on `subscription_requests` (numbered from `$1`).
struct WalkSql<'a> {
    backend: Backend,
    conditions: &'a str,
    pattern: usize,
    trigrams: Vec<usize>,
    before: Option<usize>,
    floor: Option<usize>,
    limit: usize,
    spare: usize,
}

impl WalkSql<'_> {
    /// The lowest and the highest of the lists' heads, in the backend's words.
    fn lowest_and_highest(&self, heads: &[String]) -> (String, String) {
        match (self.backend, heads) {
            (_, [one]) => (one.clone(), one.clone()),
            (Backend::Sqlite, _) => (
                format!("min({})", heads.join(", ")),
                format!("max({})", heads.join(", ")),
            ),
            (Backend::Postgres, _) => (
                format!("LEAST({})", heads.join(", ")),
                format!("GREATEST({})", heads.join(", ")),
            ),
        }
    }

    /// A recursive query whose rows are the walk's steps: `s1 … sk` are where each trigram's
    /// list stands (its newest id below the bound), `hit` the id checked and found in the
    /// step before, `found` the hits before this row. It stops when a list runs out, the page
    /// is full or the steps are spent. Its answer: each hit, and whether the walk stopped
    /// for want of steps (on the row where it did).
    fn sql(&self) -> String {
        let k = self.trigrams.len();
        let heads: Vec<String> = (1..=k).map(|i| format!("w.s{i}")).collect();
        let (low, high) = self.lowest_and_highest(&heads);
        // All lists on one id: check it, and go on below it. Else every list may skip to the
        // lowest head, which none of them passes over (below it, or it: `|| 'z'` sorts just
        // after an id and before the next).
        let next = format!("CASE WHEN {low} = {high} THEN {low} ELSE {low} || 'z' END");
        let seek = |t: usize, below: Option<&str>| {
            let bound = below.map_or(String::new(), |b| format!(" AND request_id < {b}"));
            format!(
                "(SELECT request_id FROM name_trigrams WHERE trigram = ${t}{bound} \
                 ORDER BY request_id DESC LIMIT 1)"
            )
        };
        let before = self.before.map(|b| format!("${b}"));
        let columns: Vec<String> = (1..=k).map(|i| format!("s{i}")).collect();
        let anchor: Vec<String> = self
            .trigrams
            .iter()
            .map(|t| seek(*t, before.as_deref()))
            .collect();
        let step: Vec<String> = self
            .trigrams
            .iter()
            .map(|t| seek(*t, Some(&next)))
            .collect();
        let mut going_on = heads
            .iter()
            .map(|h| format!("{h} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" AND ");
        if let Some(floor) = self.floor {
            going_on.push_str(&format!(" AND {low} >= ${floor}"));
        }
        let found = "w.found + CASE WHEN w.hit IS NULL THEN 0 ELSE 1 END";
        let (limit, spare) = (self.limit, self.spare);
        let wanting = format!("{going_on} AND {found} < ${limit}");
        let steps_left = format!("w.steps < ${spare} + 2 * ({found})");
        format!(
            "WITH RECURSIVE walk ({columns}, hit, found, steps) AS (\
                 SELECT {anchor}, CAST(NULL AS TEXT), CAST(0 AS BIGINT), CAST(0 AS BIGINT) \
                 UNION ALL \
                 SELECT {step}, \
                     CASE WHEN {low} = {high} AND EXISTS (SELECT 1 FROM subscription_requests \
                         WHERE id = {low} AND tenant_name_key LIKE ${pattern} ESCAPE '\\'\
                         {conditions}) THEN {low} END, \
                     {found}, w.steps + 1 \
                 FROM walk w WHERE {wanting} AND {steps_left}\
             ) \
             SELECT w.hit, CASE WHEN {wanting} AND NOT ({steps_left}) THEN 1 ELSE 0 END \
             FROM walk w WHERE w.hit IS NOT NULL OR ({wanting} AND NOT ({steps_left}))",
            columns = columns.join(", "),
            anchor = anchor.join(", "),
            step = step.join(", "),
            pattern = self.pattern,
            conditions = self.conditions,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_are_cut_by_character_once_each_and_spread_when_many() {
        assert_eq!(trigrams_of("ab"), Vec::<String>::new());
        assert_eq!(trigrams_of("tena"), ["ten", "ena"]);
        assert_eq!(trigrams_of("tenant"), ["ten", "ena", "ant"]);
        assert_eq!(trigrams_of("tenant0"), ["ten", "nan", "nt0"]);
        assert_eq!(trigrams_of("aaaa"), ["aaa"]);
        assert_eq!(trigrams_of("çaé"), ["çaé"]);
        let many = trigrams_of("abcdefghij");
        assert_eq!(many.len(), TRIGRAMS_AT_MOST);
        assert_eq!(many.first().map(String::as_str), Some("abc"));
        assert_eq!(many.last().map(String::as_str), Some("hij"));
    }

    #[test]
    fn a_suffix_range_holds_every_string_the_key_begins_and_no_other() {
        use super::suffix_range as range;
        assert_eq!(range("abc"), ("abc".into(), Some("abd".into())));
        assert_eq!(range("tenant9"), ("tenant9".into(), Some("tenant:".into())));
        assert_eq!(range("az"), ("az".into(), Some("a{".into())));
        // Past the last character the one before goes up; surrogates are no characters.
        assert_eq!(
            range("a\u{10FFFF}"),
            ("a\u{10FFFF}".into(), Some("b".into()))
        );
        assert_eq!(
            range("a\u{D7FF}"),
            ("a\u{D7FF}".into(), Some("a\u{E000}".into()))
        );
        assert_eq!(range("\u{10FFFF}"), ("\u{10FFFF}".into(), None));
        // A key longer than a kept suffix is looked for by its first characters.
        let (from, below) = range("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(from, "abcdefghijklmnop");
        assert_eq!(below.as_deref(), Some("abcdefghijklmnoq"));
        // Every string that begins with the key lies in its range, in the order of bytes.
        for key in ["abc", "z99", "é1x"] {
            let (from, below) = range(key);
            let below = below.unwrap();
            for tail in ["", "0", "zzzz", "\u{10FFFF}"] {
                let s = format!("{key}{tail}");
                assert!(from.as_bytes() <= s.as_bytes() && s.as_bytes() < below.as_bytes());
            }
        }
    }
}
