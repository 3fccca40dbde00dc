//! Reading several table columns at once: one GETBULK carries every column
//! still being read, so a table of N columns costs about as many round trips
//! as one column (net-snmp's `snmptable` does the same).
//!
//! A GETBULK that asks for more rows than a column has spills into whatever
//! follows it in the agent's tree (bytes for nothing), and absent tables and
//! columns are common. So a read goes in four passes:
//! 1. one row of each table's lowest column: which tables exist;
//! 2. one row of every other column of those tables (which columns exist),
//!    and, in the same PDU, the rows of each table's anchor column (one that
//!    every row has): how many rows each table has;
//! 3. the anchor columns to their end, if longer than asked;
//! 4. the other columns, exactly as many rows as their table has.

use std::collections::BTreeMap;

use crate::{Oid, Poller, SnmpError, VarBind};

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
    if !poller.has_bulk() {
        let mut out = Vec::new();
        for (column, _) in columns {
            out.extend(poller.walk(column).await?);
        }
        return Ok(out);
    }
    // Columns by table (their entry: the column OID less its last arc).
    let mut tables: BTreeMap<Oid, Vec<(Oid, u32)>> = BTreeMap::new();
    for (column, rows) in columns {
        let arcs = column.arcs();
        let entry = Oid::from(&arcs[..arcs.len().saturating_sub(1)]);
        tables
            .entry(entry)
            .or_default()
            .push((column.clone(), *rows));
    }
    for list in tables.values_mut() {
        list.sort();
        list.dedup_by(|a, b| a.0 == b.0);
    }

    // Pass 1: GETNEXT of each table's lowest column falls inside the table's
    // entry if any of its columns (from that one on) has an instance.
    let lowest: Vec<Oid> = tables
        .values()
        .filter_map(|l| l.first().map(|c| c.0.clone()))
        .collect();
    let answers = next_of_each(poller, &lowest).await?;
    let existing: Vec<(&Oid, &Vec<(Oid, u32)>)> = tables
        .iter()
        .zip(answers)
        .filter(|((entry, _), answer)| {
            answer
                .as_ref()
                .is_some_and(|vb| !vb.value.is_exception() && vb.oid.starts_with(entry))
        })
        .map(|(table, _)| table)
        .collect();
    if existing.is_empty() {
        return Ok(Vec::new());
    }

    // Pass 2: one row of every other column, and the anchors' first rows.
    let mut anchor_cols = Vec::new();
    let mut others = Vec::new();
    for (entry, list) in &existing {
        let anchor = list
            .iter()
            .position(|(c, _)| anchors.contains(c))
            .unwrap_or(0);
        for (i, (column, hint)) in list.iter().enumerate() {
            if i == anchor {
                anchor_cols.push(((*entry).clone(), column.clone(), *hint));
            } else {
                others.push(((*entry).clone(), column.clone()));
            }
        }
    }
    let mut pdu: Vec<Oid> = others.iter().map(|(_, c)| c.clone()).collect();
    pdu.extend(anchor_cols.iter().map(|(_, c, _)| c.clone()));
    let response = bulk_with_split(poller, &pdu, others.len(), ANCHOR_ROWS).await?;
    let mut out = Vec::new();
    // Non-repeaters: the first row of each other column, or nothing.
    let mut started: Vec<(Oid, Oid, Oid)> = Vec::new(); // (entry, column, cursor)
    for ((entry, column), vb) in others.iter().zip(&response.singles) {
        if let Some(vb) = vb
            && !vb.value.is_exception()
            && vb.oid.starts_with(column)
        {
            out.push(vb.clone());
            started.push((entry.clone(), column.clone(), vb.oid.clone()));
        }
    }
    // Repeaters: the anchors' rows.
    let mut anchors_open: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
    for ((_, column, hint), (rows, done)) in anchor_cols.iter().zip(&response.repeated) {
        let cursor = rows.last().map(|vb| vb.oid.clone());
        out.extend(rows.iter().cloned());
        if !done {
            let cursor = cursor.unwrap_or_else(|| column.clone());
            anchors_open
                .entry((*hint).max(1))
                .or_default()
                .push((column.clone(), cursor));
        }
    }

    // Pass 3: the anchors to their end.
    let reads = anchors_open
        .into_iter()
        .map(|(rows, active)| continue_columns(poller, active, rows));
    for result in futures::future::join_all(reads).await {
        out.extend(result?);
    }

    // Pass 4: the other columns, as many rows as their table has (one read
    // already). Columns of a table share its rows; a column that is longer
    // (or an agent that answers fewer rows than asked) is read on.
    let mut exact: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
    let mut unknown: BTreeMap<u32, Vec<(Oid, Oid)>> = BTreeMap::new();
    for (entry, column, cursor) in started {
        let Some((_, anchor, hint)) = anchor_cols.iter().find(|(e, _, _)| *e == entry) else {
            continue;
        };
        let rows = out.iter().filter(|vb| vb.oid.starts_with(anchor)).count() as u32;
        if rows == 0 {
            // The anchor is missing here (a partial agent): no count to go by.
            unknown
                .entry((*hint).max(1))
                .or_default()
                .push((column, cursor));
        } else if rows > 1 {
            exact.entry(rows - 1).or_default().push((column, cursor));
        }
    }
    let reads = unknown
        .into_iter()
        .map(|(rows, active)| continue_columns(poller, active, rows));
    for result in futures::future::join_all(reads).await {
        out.extend(result?);
    }
    let reads = exact.into_iter().map(|(n, active)| async move {
        let (mut got, open) = bulk_round(poller, active, n).await?;
        let open: Vec<(Oid, Oid)> = open
            .into_iter()
            .filter(|(_, rows)| *rows < n)
            .map(|(entry, _)| entry)
            .collect();
        got.extend(continue_columns(poller, open, n).await?);
        Ok::<_, SnmpError>(got)
    });
    for result in futures::future::join_all(reads).await {
        out.extend(result?);
    }
    Ok(out)
}

/// A GETBULK's answer taken apart: one varbind (or none) per non-repeater,
/// then per repeater the rows inside its column and whether it ended.
struct Split {
    singles: Vec<Option<VarBind>>,
    repeated: Vec<(Vec<VarBind>, bool)>,
}

/// GETBULK with `non_repeaters` single rows and `max_repetitions` rows of the
/// others, split into halves if the answer is too big.
async fn bulk_with_split<P: Poller>(
    poller: &P,
    oids: &[Oid],
    non_repeaters: usize,
    max_repetitions: u32,
) -> Result<Split, SnmpError> {
    let (singles, repeated) = oids.split_at(non_repeaters.min(oids.len()));
    let attempt = poller
        .get_bulk(oids, non_repeaters as u32, max_repetitions)
        .await;
    match attempt {
        Ok(answer) => {
            let mut answer = answer.into_iter();
            let singles: Vec<Option<VarBind>> = singles.iter().map(|_| answer.next()).collect();
            let rest: Vec<VarBind> = answer.collect();
            let n = repeated.len();
            let mut repeated_out: Vec<(Vec<VarBind>, bool)> = vec![(Vec::new(), false); n];
            for (i, vb) in rest.into_iter().enumerate() {
                let c = i % n.max(1);
                let Some((rows, done)) = repeated_out.get_mut(c) else {
                    break;
                };
                if *done {
                    continue;
                }
                let column = &repeated[c];
                let after = rows.last().is_none_or(|last: &VarBind| vb.oid > last.oid);
                if vb.value.is_exception() || !vb.oid.starts_with(column) || !after {
                    *done = true;
                } else {
                    rows.push(vb);
                }
            }
            Ok(Split {
                singles,
                repeated: repeated_out,
            })
        }
        Err(SnmpError::TooBig { .. }) if oids.len() > 1 => {
            // Singles and repeaters asked apart.
            let singles = next_of_each(poller, singles).await?;
            let active: Vec<(Oid, Oid)> = repeated.iter().map(|c| (c.clone(), c.clone())).collect();
            let got = continue_columns(poller, active, max_repetitions).await?;
            let repeated = repeated
                .iter()
                .map(|c| {
                    (
                        got.iter()
                            .filter(|vb| vb.oid.starts_with(c))
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
