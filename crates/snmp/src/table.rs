//! Reading several table columns at once: one GETBULK carries every column
//! still being read, so a table of N columns costs about as many round trips
//! as one column (net-snmp's `snmptable` does the same).
//!
//! A GETBULK that asks for more rows than a column has spills into whatever
//! follows it in the agent's tree (bytes for nothing), and absent tables and
//! columns are common. So a read goes in four passes:
//! 1. one row of each table's lowest column: which tables exist (and which
//!    columns are empty: those before the one the GETNEXT landed in);
//! 2. one row of every other column of those tables (which columns exist),
//!    and, in the same PDU, the rows of each table's anchor column (one that
//!    every row has): how many rows each table has;
//! 3. the anchor columns to their end, if longer than asked;
//! 4. the other columns, exactly as many rows as their table has.
//!
//! What pass 1 brought back is not asked again, and the caller sees it
//! ([`Probe`]): the object after an absent table is often one it wants.
//! Tables a caller defers are probed only when no pass-1 answer already
//! tells (a probe whose answer lies past them); the rest ride in pass 2.

use std::collections::BTreeMap;

use crate::{Oid, Poller, SnmpError, Value, VarBind};

/// Rows asked of the anchor columns in pass 2.
const ANCHOR_ROWS: u32 = 4;

/// Every instance of each column. `columns` pairs each column with the rows
/// a table of its kind usually has; `anchors` names, per table, a column
/// every row has (RFC 3805's mandatory ones), which counts the rows (the
/// lowest column otherwise). On SNMPv1 each column is walked.
pub async fn read_columns_hinted<P: Poller>(
    poller: &P,
    columns: &[(Oid, u32)],
    anchors: &[Oid],
) -> Result<Vec<VarBind>, SnmpError> {
    let probe = probe_tables(poller, columns, &[]).await?;
    let (reading, _) = probe.begin(poller, anchors, &[]).await?;
    reading.finish(poller).await
}

/// What pass 1 found: the tables that exist, and the object that follows
/// each probe (a caller may want some of them: the object after an absent
/// table is often a long text it would otherwise ask for again).
pub struct Probe {
    tables: Vec<FoundTable>,
    /// Deferred tables pass 1 did not tell about: entry and columns. Their
    /// probes ride in pass 2.
    later: Vec<(Oid, Vec<(Oid, u32)>)>,
    /// Each probe and what followed it, as answered.
    probes: Vec<(Oid, VarBind)>,
    /// SNMPv1: no GETBULK, so each column was walked whole.
    walked: Option<Vec<VarBind>>,
}

/// A table pass 1 found: its entry, the columns to read (with their usual
/// rows), and the first instance of its lowest column.
type FoundTable = (Oid, Vec<(Oid, u32)>, VarBind);

/// The table whose lowest column a GETNEXT answered with `next`, with the
/// columns that may have rows; `None` when it has none of them.
fn found(entry: Oid, list: Vec<(Oid, u32)>, next: &VarBind) -> Option<FoundTable> {
    if next.value.is_exception() || !next.oid.starts_with(&entry) {
        return None;
    }
    // The columns before the one the GETNEXT landed in are empty.
    let list: Vec<(Oid, u32)> = list
        .into_iter()
        .filter(|(column, _)| next.oid.starts_with(column) || *column > next.oid)
        .collect();
    (!list.is_empty()).then(|| (entry, list, next.clone()))
}

/// Pass 1: which tables of `columns` exist. The tables whose entries are in
/// `deferred` are not probed here: the answer to another probe often tells
/// (a MIB a device lacks is one landing past all its tables); those it does
/// not are probed in pass 2.
pub async fn probe_tables<P: Poller>(
    poller: &P,
    columns: &[(Oid, u32)],
    deferred: &[Oid],
) -> Result<Probe, SnmpError> {
    if !poller.has_bulk() {
        let mut out = Vec::new();
        for (column, _) in columns {
            out.extend(poller.walk(column).await?);
        }
        return Ok(Probe {
            tables: Vec::new(),
            later: Vec::new(),
            probes: Vec::new(),
            walked: Some(out),
        });
    }
    // Columns by table (their entry: the column OID less its last arc).
    let mut tables: BTreeMap<Oid, Vec<(Oid, u32)>> = BTreeMap::new();
    for (column, rows) in columns {
        tables
            .entry(column.parent())
            .or_default()
            .push((column.clone(), *rows));
    }
    for list in tables.values_mut() {
        list.sort();
        list.dedup_by(|a, b| a.0 == b.0);
    }
    let (later, now): (Vec<_>, Vec<_>) = tables
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .partition(|(entry, _)| deferred.contains(entry));
    // A GETNEXT of each table's lowest column falls inside the table's
    // entry if any of its columns (from that one on) has an instance.
    let lowest: Vec<Oid> = now.iter().map(|(_, l)| l[0].0.clone()).collect();
    let answers = next_of_each(poller, &lowest).await?;
    let mut probe = Probe {
        tables: Vec::new(),
        later: Vec::new(),
        probes: Vec::new(),
        walked: None,
    };
    for ((entry, list), (column, answer)) in now.into_iter().zip(lowest.into_iter().zip(answers)) {
        let Some(next) = answer else { continue };
        probe.probes.push((column, next.clone()));
        probe.tables.extend(found(entry, list, &next));
    }
    for (entry, list) in later {
        match probe.next_known(&list[0].0).cloned() {
            Some(next) => probe.tables.extend(found(entry, list, &next)),
            None => probe.later.push((entry, list)),
        }
    }
    Ok(probe)
}

impl Probe {
    /// The objects the probes brought back (no exceptions).
    pub fn seen(&self) -> impl Iterator<Item = &VarBind> {
        self.probes
            .iter()
            .map(|(_, vb)| vb)
            .filter(|vb| !vb.value.is_exception())
    }

    /// What a GETNEXT of `oid` would answer, when a probe already tells: a
    /// probe at or before `oid` whose answer lies after it (or was the end
    /// of the agent's view).
    pub fn next_known(&self, oid: &Oid) -> Option<&VarBind> {
        self.probes
            .iter()
            .find(|(probe, next)| {
                probe <= oid
                    && (next.value == Value::EndOfMibView
                        || (!next.value.is_exception() && next.oid > *oid))
            })
            .map(|(_, next)| next)
    }

    /// Pass 2: one row of every other column of the tables found, and the
    /// anchors' first rows; in the same PDU, the object after each OID of
    /// `next_of` (answered in order, `None` where the agent gave nothing).
    pub async fn begin<P: Poller>(
        self,
        poller: &P,
        anchors: &[Oid],
        next_of: &[Oid],
    ) -> Result<(Reading, Vec<Option<VarBind>>), SnmpError> {
        let mut reading = Reading::default();
        if let Some(walked) = self.walked {
            reading.out = walked;
            let extra = if next_of.is_empty() {
                Vec::new()
            } else {
                poller
                    .get_next_many(next_of)
                    .await?
                    .into_iter()
                    .map(Some)
                    .collect()
            };
            return Ok((reading, extra));
        }
        // The lowest column's first row came with pass 1: it is not asked
        // again, and its column goes on from there.
        let mut anchor_cols = Vec::new(); // (entry, column, hint, cursor)
        let mut others = Vec::new();
        for (entry, list, first) in &self.tables {
            if list.iter().any(|(c, _)| first.oid.starts_with(c)) {
                reading.out.push(first.clone());
            }
            let anchor = list
                .iter()
                .position(|(c, _)| anchors.contains(c))
                .unwrap_or(0);
            for (i, (column, hint)) in list.iter().enumerate() {
                let known = first.oid.starts_with(column).then(|| first.oid.clone());
                if i == anchor {
                    let cursor = known.unwrap_or_else(|| column.clone());
                    anchor_cols.push((entry.clone(), column.clone(), *hint, cursor));
                } else if let Some(cursor) = known {
                    reading
                        .started
                        .push((entry.clone(), column.clone(), cursor));
                } else {
                    others.push((entry.clone(), column.clone()));
                }
            }
        }
        if others.is_empty()
            && anchor_cols.is_empty()
            && self.later.is_empty()
            && next_of.is_empty()
        {
            return Ok((reading, Vec::new()));
        }
        let mut singles: Vec<Oid> = others.iter().map(|(_, c)| c.clone()).collect();
        singles.extend(self.later.iter().map(|(_, list)| list[0].0.clone()));
        singles.extend(next_of.iter().cloned());
        let repeaters: Vec<(Oid, Oid)> = anchor_cols
            .iter()
            .map(|(_, column, _, cursor)| (column.clone(), cursor.clone()))
            .collect();
        let mut response = bulk_with_split(poller, &singles, &repeaters, ANCHOR_ROWS).await?;
        let mut late = response
            .singles
            .split_off(others.len().min(response.singles.len()));
        let extra = late.split_off(self.later.len().min(late.len()));
        // Deferred tables found now: their anchor is read from its start
        // (or the row found) in pass 3, their other columns in pass 4.
        for ((entry, list), next) in self.later.into_iter().zip(late) {
            let Some((entry, list, first)) = next.and_then(|next| found(entry, list, &next)) else {
                continue;
            };
            let anchor = list
                .iter()
                .position(|(c, _)| anchors.contains(c))
                .unwrap_or(0);
            if list.iter().any(|(c, _)| first.oid.starts_with(c)) {
                reading.out.push(first.clone());
            }
            for (i, (column, hint)) in list.into_iter().enumerate() {
                let cursor = if first.oid.starts_with(&column) {
                    first.oid.clone()
                } else {
                    column.clone()
                };
                if i == anchor {
                    reading.anchors.push((entry.clone(), column.clone(), hint));
                    reading.open.push((column, cursor, hint));
                } else {
                    reading.started.push((entry.clone(), column, cursor));
                }
            }
        }
        // Non-repeaters: the first row of each other column, or nothing.
        for ((entry, column), vb) in others.iter().zip(&response.singles) {
            if let Some(vb) = vb
                && !vb.value.is_exception()
                && vb.oid.starts_with(column)
            {
                reading.out.push(vb.clone());
                reading
                    .started
                    .push((entry.clone(), column.clone(), vb.oid.clone()));
            }
        }
        // Repeaters: the anchors' rows.
        for ((_, column, hint, start), (rows, done)) in anchor_cols.iter().zip(&response.repeated) {
            let cursor = rows
                .last()
                .map_or_else(|| start.clone(), |vb| vb.oid.clone());
            reading.out.extend(rows.iter().cloned());
            if !done {
                reading.open.push((column.clone(), cursor, *hint));
            }
        }
        reading.anchors.extend(
            anchor_cols
                .into_iter()
                .map(|(entry, column, hint, _)| (entry, column, hint)),
        );
        Ok((reading, extra))
    }
}

/// A read after pass 2: what it has, and where it goes on.
#[derive(Default)]
pub struct Reading {
    out: Vec<VarBind>,
    /// Per table: entry, anchor column, usual rows.
    anchors: Vec<(Oid, Oid, u32)>,
    /// Anchors not finished: column, cursor, usual rows.
    open: Vec<(Oid, Oid, u32)>,
    /// Other columns with a first row: entry, column, cursor.
    started: Vec<(Oid, Oid, Oid)>,
}

impl Reading {
    /// Passes 3 and 4: every instance of the columns.
    pub async fn finish<P: Poller>(self, poller: &P) -> Result<Vec<VarBind>, SnmpError> {
        let Reading {
            mut out,
            anchors,
            mut open,
            started,
        } = self;
        // Pass 3: the anchors to their end. Short of the usual rows, ask
        // for that many; past them the end is likely near, so ask for half
        // as many again as read so far: less is read past the end.
        while !open.is_empty() {
            let mut waves: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
            for (column, cursor, hint) in &open {
                let got = out.iter().filter(|vb| vb.oid.starts_with(column)).count() as u32;
                let ask = if got < *hint { *hint } else { (got / 2).max(1) };
                waves
                    .entry(ask)
                    .or_default()
                    .push((column.clone(), cursor.clone()));
            }
            let rounds = waves
                .into_iter()
                .map(|(ask, active)| bulk_round(poller, active, ask));
            let mut still = Vec::new();
            for result in futures::future::join_all(rounds).await {
                let (got, unfinished) = result?;
                out.extend(got);
                still.extend(unfinished.into_iter().map(|((column, cursor), _)| {
                    let hint = open
                        .iter()
                        .find(|(c, _, _)| *c == column)
                        .map_or(1, |(_, _, h)| *h);
                    (column, cursor, hint)
                }));
            }
            open = still;
        }

        // Pass 4: the other columns, as many rows as their table has (less
        // those read already). Columns of a table share its rows.
        let mut exact: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
        let mut unknown: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
        let count =
            |column: &Oid| out.iter().filter(|vb| vb.oid.starts_with(column)).count() as u32;
        for (entry, column, cursor) in started {
            let Some((_, anchor, hint)) = anchors.iter().find(|(e, _, _)| *e == entry) else {
                continue;
            };
            let rows = count(anchor);
            let missing = rows.saturating_sub(count(&column));
            if rows == 0 {
                // The anchor is missing here (a partial agent): no count to go by.
                unknown
                    .entry((*hint).max(1))
                    .or_default()
                    .push((column, cursor));
            } else if missing > 0 {
                exact.entry(missing).or_default().push((column, cursor));
            }
        }
        let reads = unknown
            .into_iter()
            .map(|(rows, active)| continue_columns(poller, active, rows));
        for result in futures::future::join_all(reads).await {
            out.extend(result?);
        }
        let reads = exact
            .into_iter()
            .map(|(n, active)| read_rows(poller, active, n));
        for result in futures::future::join_all(reads).await {
            out.extend(result?);
        }
        Ok(out)
    }
}

/// A GETBULK's answer taken apart: one varbind (or none) per non-repeater,
/// then per repeater the rows inside its column and whether it ended.
struct Split {
    singles: Vec<Option<VarBind>>,
    repeated: Vec<(Vec<VarBind>, bool)>,
}

/// GETBULK of one row after each of `singles` and `max_repetitions` rows of
/// each `(column, cursor)` of `repeaters`, split if the answer is too big.
async fn bulk_with_split<P: Poller>(
    poller: &P,
    singles: &[Oid],
    repeaters: &[(Oid, Oid)],
    max_repetitions: u32,
) -> Result<Split, SnmpError> {
    let mut oids = singles.to_vec();
    oids.extend(repeaters.iter().map(|(_, cursor)| cursor.clone()));
    let attempt = poller
        .get_bulk(&oids, singles.len() as u32, max_repetitions)
        .await;
    match attempt {
        Ok(answer) => {
            let mut answer = answer.into_iter();
            let singles: Vec<Option<VarBind>> = singles.iter().map(|_| answer.next()).collect();
            let n = repeaters.len();
            let mut repeated: Vec<(Vec<VarBind>, bool)> = vec![(Vec::new(), false); n];
            for (i, vb) in answer.enumerate() {
                let c = i % n.max(1);
                let (Some((rows, done)), Some((column, cursor))) =
                    (repeated.get_mut(c), repeaters.get(c))
                else {
                    break;
                };
                if *done {
                    continue;
                }
                let after = rows.last().map_or(cursor, |last: &VarBind| &last.oid);
                if vb.value.is_exception() || !vb.oid.starts_with(column) || vb.oid <= *after {
                    *done = true;
                } else {
                    rows.push(vb);
                }
            }
            Ok(Split { singles, repeated })
        }
        Err(SnmpError::TooBig { .. }) if oids.len() > 1 => {
            // Singles and repeaters asked apart.
            let singles = next_of_each(poller, singles).await?;
            let got = continue_columns(poller, repeaters.to_vec(), max_repetitions).await?;
            let repeated = repeaters
                .iter()
                .map(|(column, _)| {
                    (
                        got.iter()
                            .filter(|vb| vb.oid.starts_with(column))
                            .cloned()
                            .collect(),
                        true,
                    )
                })
                .collect();
            Ok(Split { singles, repeated })
        }
        Err(e) => Err(e),
    }
}

/// Every instance of each column, `max_repetitions` rows per round.
pub async fn read_columns<P: Poller>(
    poller: &P,
    columns: &[Oid],
    max_repetitions: u32,
) -> Result<Vec<VarBind>, SnmpError> {
    if !poller.has_bulk() {
        let mut out = Vec::new();
        for column in columns {
            out.extend(poller.walk(column).await?);
        }
        return Ok(out);
    }
    let active = columns.iter().map(|c| (c.clone(), c.clone())).collect();
    continue_columns(poller, active, max_repetitions).await
}

/// One GETBULK row (a GETNEXT) of each OID, split if the answer is too big;
/// `None` where the agent gave nothing back.
async fn next_of_each<P: Poller>(
    poller: &P,
    oids: &[Oid],
) -> Result<Vec<Option<VarBind>>, SnmpError> {
    let mut out = Vec::with_capacity(oids.len());
    let mut pending = vec![oids.to_vec()];
    // Depth-first keeps the answers in order.
    while let Some(chunk) = pending.pop() {
        if chunk.is_empty() {
            continue;
        }
        match poller.get_bulk(&chunk, chunk.len() as u32, 1).await {
            Ok(answer) => {
                let mut answer = answer.into_iter();
                out.extend(chunk.iter().map(|_| answer.next()));
            }
            Err(SnmpError::TooBig { .. }) if chunk.len() > 1 => {
                let mut first = chunk;
                let second = first.split_off(first.len() / 2);
                pending.push(second);
                pending.push(first);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Reads `n` more rows of each `(column, cursor)`: the count its table's
/// anchor gave. An agent that answers fewer rows than asked (to fit its
/// message size) is asked again for the rows still missing, not for `n`
/// again, which would run past the end of every column.
async fn read_rows<P: Poller>(
    poller: &P,
    active: Vec<(Oid, Oid)>,
    n: u32,
) -> Result<Vec<VarBind>, SnmpError> {
    let mut out = Vec::new();
    let mut wanted: Vec<(Oid, Oid, u32)> = active.into_iter().map(|(c, k)| (c, k, n)).collect();
    while !wanted.is_empty() {
        let missing = wanted.iter().map(|w| w.2).max().unwrap_or(0);
        let active = wanted
            .iter()
            .map(|(c, k, _)| (c.clone(), k.clone()))
            .collect();
        let (got, open) = bulk_round(poller, active, missing).await?;
        out.extend(got);
        wanted = open
            .into_iter()
            .filter_map(|((column, cursor), rows)| {
                let before = wanted.iter().find(|w| w.0 == column).map_or(0, |w| w.2);
                (rows < before).then(|| (column, cursor, before - rows))
            })
            .collect();
    }
    Ok(out)
}

/// Reads on from each `(column, cursor)` until every column is finished.
async fn continue_columns<P: Poller>(
    poller: &P,
    mut active: Vec<(Oid, Oid)>,
    max_repetitions: u32,
) -> Result<Vec<VarBind>, SnmpError> {
    let mut out = Vec::new();
    while !active.is_empty() {
        let (got, open) = bulk_round(poller, active, max_repetitions).await?;
        out.extend(got);
        active = open.into_iter().map(|(entry, _)| entry).collect();
    }
    Ok(out)
}

/// A column left open, with the rows it got in this round.
type Open = ((Oid, Oid), u32);

/// One GETBULK over the cursors: the instances that belong to their column,
/// and the columns that may have more. A response that is too big is asked
/// again with fewer rows, or fewer columns.
async fn bulk_round<P: Poller>(
    poller: &P,
    active: Vec<(Oid, Oid)>,
    max_repetitions: u32,
) -> Result<(Vec<VarBind>, Vec<Open>), SnmpError> {
    let mut pending = vec![(active, max_repetitions.max(1))];
    let mut out = Vec::new();
    let mut open = Vec::new();
    while let Some((mut active, repetitions)) = pending.pop() {
        let cursors: Vec<Oid> = active.iter().map(|(_, cursor)| cursor.clone()).collect();
        let response = match poller.get_bulk(&cursors, 0, repetitions).await {
            Ok(r) => r,
            Err(SnmpError::TooBig { .. }) if repetitions > 1 => {
                pending.push((active, repetitions / 2));
                continue;
            }
            Err(SnmpError::TooBig { .. }) if active.len() > 1 => {
                let half = active.split_off(active.len() / 2);
                pending.push((active, 1));
                pending.push((half, 1));
                continue;
            }
            Err(e) => return Err(e),
        };
        // An agent may answer fewer rows than asked (to fit its message
        // size): a column that saw no end is read on, whatever it got; an
        // empty answer ends the read rather than loop.
        let empty = response.is_empty();
        let n = active.len();
        let mut finished = vec![false; n];
        let mut rows_seen = vec![0u32; n];
        for (i, vb) in response.into_iter().enumerate() {
            let c = i % n;
            if finished[c] {
                continue;
            }
            let (column, cursor) = &mut active[c];
            if vb.value.is_exception() || !vb.oid.starts_with(column) || vb.oid <= *cursor {
                finished[c] = true;
                continue;
            }
            *cursor = vb.oid.clone();
            rows_seen[c] += 1;
            out.push(vb);
        }
        for (c, entry) in active.into_iter().enumerate() {
            if !finished[c] && !empty {
                open.push((entry, rows_seen[c]));
            }
        }
    }
    Ok((out, open))
}

#[cfg(test)]
mod tests {
    //! The passes against an agent in memory that answers GETBULK as RFC 3416
    //! says, cut to a number of varbinds as a real agent cuts to its message
    //! size: whatever the tables, the read equals the objects of the columns.

    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use proptest::prelude::*;

    use super::*;

    struct MemoryAgent {
        objects: BTreeMap<Oid, Value>,
        /// Most varbinds in one response (a GETBULK is cut short there).
        max_varbinds: usize,
        requests: Mutex<usize>,
    }

    impl MemoryAgent {
        fn next(&self, oid: &Oid) -> VarBind {
            use std::ops::Bound::{Excluded, Unbounded};
            self.objects
                .range((Excluded(oid.clone()), Unbounded))
                .next()
                .map_or_else(
                    || VarBind::new(oid.clone(), Value::EndOfMibView),
                    |(o, v)| VarBind::new(o.clone(), v.clone()),
                )
        }

        fn count(&self) {
            *self.requests.lock().expect("lock") += 1;
        }
    }

    impl Poller for MemoryAgent {
        fn target(&self) -> SocketAddr {
            SocketAddr::from(([127, 0, 0, 1], 161))
        }

        async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
            self.count();
            Ok(oids
                .iter()
                .map(|o| {
                    VarBind::new(
                        o.clone(),
                        self.objects.get(o).cloned().unwrap_or(Value::NoSuchObject),
                    )
                })
                .collect())
        }

        async fn walk(&self, subtree: &Oid) -> Result<Vec<VarBind>, SnmpError> {
            Ok(self
                .objects
                .iter()
                .filter(|(o, _)| o.starts_with(subtree))
                .map(|(o, v)| VarBind::new(o.clone(), v.clone()))
                .collect())
        }

        async fn get_next(&self, oid: &Oid) -> Result<VarBind, SnmpError> {
            self.count();
            Ok(self.next(oid))
        }

        async fn get_next_many(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
            self.count();
            Ok(oids.iter().map(|o| self.next(o)).collect())
        }

        async fn get_bulk(
            &self,
            oids: &[Oid],
            non_repeaters: u32,
            max_repetitions: u32,
        ) -> Result<Vec<VarBind>, SnmpError> {
            self.count();
            let n = (non_repeaters as usize).min(oids.len());
            let mut out: Vec<VarBind> = oids[..n].iter().map(|o| self.next(o)).collect();
            let mut cursors: Vec<Oid> = oids[n..].to_vec();
            'rows: for _ in 0..max_repetitions {
                if cursors.is_empty() {
                    break;
                }
                let mut all_ended = true;
                for cursor in &mut cursors {
                    if out.len() >= self.max_varbinds {
                        break 'rows;
                    }
                    let vb = self.next(cursor);
                    if vb.value != Value::EndOfMibView {
                        all_ended = false;
                        *cursor = vb.oid.clone();
                    }
                    out.push(vb);
                }
                if all_ended {
                    break;
                }
            }
            out.truncate(self.max_varbinds.max(n));
            Ok(out)
        }

        fn has_bulk(&self) -> bool {
            true
        }
    }

    fn oid(text: &str) -> Oid {
        text.parse().expect("a test OID")
    }

    /// Tables under `1.3.6.1.2.1.43.<table>.1.<column>.1.<row>`, each column
    /// with its own rows (sparse tables), and a long text after them.
    /// Per table number, its columns with their rows.
    type Layout = [(u32, Vec<(u32, Vec<u32>)>)];

    fn device(tables: &Layout, trailer: bool) -> BTreeMap<Oid, Value> {
        let mut objects = BTreeMap::new();
        objects.insert(
            oid("1.3.6.1.2.1.1.1.0"),
            Value::OctetString(b"test".to_vec()),
        );
        for (table, columns) in tables {
            for (column, rows) in columns {
                for row in rows {
                    objects.insert(
                        oid(&format!("1.3.6.1.2.1.43.{table}.1.{column}.1.{row}")),
                        Value::Integer(i32::try_from(*row).unwrap_or(0)),
                    );
                }
            }
        }
        if trailer {
            objects.insert(
                oid("1.3.6.1.4.1.11.2.3.9.1.1.7.0"),
                Value::OctetString(vec![b'x'; 200]),
            );
        }
        objects
    }

    fn read(agent: &MemoryAgent, columns: &[(Oid, u32)], anchors: &[Oid]) -> Vec<VarBind> {
        read_deferring(agent, columns, anchors, &[])
    }

    fn read_deferring(
        agent: &MemoryAgent,
        columns: &[(Oid, u32)],
        anchors: &[Oid],
        deferred: &[Oid],
    ) -> Vec<VarBind> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut got = runtime
            .block_on(async {
                let probe = probe_tables(agent, columns, deferred).await?;
                let (reading, _) = probe.begin(agent, anchors, &[]).await?;
                reading.finish(agent).await
            })
            .expect("the read");
        got.sort_by(|a, b| a.oid.cmp(&b.oid));
        got.dedup_by(|a, b| a.oid == b.oid);
        got
    }

    fn expected(objects: &BTreeMap<Oid, Value>, columns: &[(Oid, u32)]) -> Vec<VarBind> {
        objects
            .iter()
            .filter(|(o, _)| columns.iter().any(|(c, _)| o.starts_with(c) && *o != c))
            .map(|(o, v)| VarBind::new(o.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn a_table_longer_than_a_response_is_read_whole_without_running_past_its_end() {
        let rows: Vec<u32> = (1..=15).collect();
        let objects = device(&[(11, (3..=9).map(|c| (c, rows.clone())).collect())], true);
        let agent = MemoryAgent {
            objects,
            max_varbinds: 45,
            requests: Mutex::new(0),
        };
        let columns: Vec<(Oid, u32)> = [3, 5, 6, 7, 8, 9]
            .iter()
            .map(|c| (oid(&format!("1.3.6.1.2.1.43.11.1.{c}")), 8))
            .collect();
        let got = read(&agent, &columns, &[oid("1.3.6.1.2.1.43.11.1.8")]);
        assert_eq!(got, expected(&agent.objects, &columns));
        // Pass 1, pass 2, two for the anchor, two for the other columns
        // (the agent's cut), and nothing more.
        assert_eq!(*agent.requests.lock().expect("lock"), 6);
    }

    #[test]
    fn absent_tables_and_empty_columns_cost_only_the_probe() {
        let objects = device(&[(8, vec![(2, vec![1, 2]), (10, vec![1, 2])])], true);
        let agent = MemoryAgent {
            objects,
            max_varbinds: 100,
            requests: Mutex::new(0),
        };
        let columns: Vec<(Oid, u32)> = [
            "1.3.6.1.2.1.43.5.1.1.17",
            "1.3.6.1.2.1.43.8.2.1.2",
            "1.3.6.1.2.1.43.8.2.1.10",
            "1.3.6.1.2.1.43.18.1.1.2",
        ]
        .iter()
        .map(|c| (oid(c), 2))
        .collect();
        // Table 8 here is 43.8.1 (entry .1), so the columns of 43.8.2 are absent.
        let got = read(&agent, &columns, &[]);
        assert_eq!(got, expected(&agent.objects, &columns));
        assert_eq!(*agent.requests.lock().expect("lock"), 1);
    }

    #[test]
    fn rows_without_an_anchor_row_are_not_read() {
        // RFC 3805 makes the anchor mandatory in every row: a row of another
        // column beyond the anchor's last is an agent's error, and is left
        // out (asking for one more row of every column to look for it would
        // cost every collection bytes).
        let objects = device(
            &[(11, vec![(8, vec![1, 2]), (9, vec![1, 2, 3, 4, 5, 6, 7])])],
            true,
        );
        let agent = MemoryAgent {
            objects,
            max_varbinds: 100,
            requests: Mutex::new(0),
        };
        let columns = vec![
            (oid("1.3.6.1.2.1.43.11.1.8"), 2),
            (oid("1.3.6.1.2.1.43.11.1.9"), 2),
        ];
        let got = read(&agent, &columns, &[oid("1.3.6.1.2.1.43.11.1.8")]);
        let oids: Vec<String> = got.iter().map(|vb| vb.oid.to_string()).collect();
        assert_eq!(
            oids,
            [
                "1.3.6.1.2.1.43.11.1.8.1.1",
                "1.3.6.1.2.1.43.11.1.8.1.2",
                "1.3.6.1.2.1.43.11.1.9.1.1",
                "1.3.6.1.2.1.43.11.1.9.1.2"
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Conformant devices: per table a set of rows, the anchor column
        /// in every row, the other columns in some. Wanted: the anchors of
        /// the tables, some other columns (present or not), and the columns
        /// of tables the device does not have.
        #[test]
        fn the_read_equals_the_objects_of_the_columns(
            tables in proptest::collection::btree_map(
                1u32..8,
                (
                    proptest::collection::btree_set(1u32..40, 0..25),
                    1u32..10,
                    proptest::collection::vec((1u32..12, any::<u64>(), any::<bool>(), 1u32..10), 0..6),
                ),
                0..5,
            ),
            absent in proptest::collection::vec((8u32..12, 1u32..12, 1u32..10), 0..4),
            max_varbinds in 4usize..60,
            trailer in any::<bool>(),
            defer in proptest::collection::vec(any::<bool>(), 1..8),
        ) {
            let mut layout = Vec::new();
            let mut columns: Vec<(Oid, u32)> = Vec::new();
            let mut anchors = Vec::new();
            for (table, (rows, anchor, others)) in &tables {
                let rows: Vec<u32> = rows.iter().copied().collect();
                let mut cols = vec![(*anchor, rows.clone())];
                let anchor_oid = oid(&format!("1.3.6.1.2.1.43.{table}.1.{anchor}"));
                columns.push((anchor_oid.clone(), 3));
                anchors.push(anchor_oid);
                for (column, mask, wanted, hint) in others {
                    if column == anchor {
                        continue;
                    }
                    let subset: Vec<u32> = rows
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask >> (i % 64) & 1 == 1)
                        .map(|(_, r)| *r)
                        .collect();
                    cols.push((*column, subset));
                    if *wanted {
                        columns.push((oid(&format!("1.3.6.1.2.1.43.{table}.1.{column}")), *hint));
                    }
                }
                layout.push((*table, cols));
            }
            for (table, column, hint) in &absent {
                columns.push((oid(&format!("1.3.6.1.2.1.43.{table}.1.{column}")), *hint));
            }
            columns.sort();
            columns.dedup_by(|a, b| a.0 == b.0);
            let agent = MemoryAgent {
                objects: device(&layout, trailer),
                max_varbinds,
                requests: Mutex::new(0),
            };
            // Any tables deferred to pass 2: the same objects.
            let deferred: Vec<Oid> = columns
                .iter()
                .zip(defer.iter().cycle())
                .filter(|(_, d)| **d)
                .map(|((c, _), _)| c.parent())
                .collect();
            let got = read_deferring(&agent, &columns, &anchors, &deferred);
            prop_assert_eq!(got, expected(&agent.objects, &columns));
        }
    }
}
