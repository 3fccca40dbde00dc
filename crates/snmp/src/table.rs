//! Reading several table columns at once: one GETBULK carries every column
//! still being read, so a table of N columns costs about as many round trips
//! as one column (net-snmp's `snmptable` does the same).
//!
//! A GETBULK that asks for more rows than a column has spills into whatever
//! follows it in the agent's tree (bytes for nothing), and absent tables are
//! common. So a read first asks one row of every column (which also says
//! which columns exist), then reads the rest of the existing ones in groups
//! of similar expected size.

use crate::{Oid, Poller, SnmpError, VarBind};

/// Every instance of each column. `columns` pairs each column with the rows
/// a table of its kind usually has. On SNMPv1 each column is walked.
pub async fn read_columns_hinted<P: Poller>(
    poller: &P,
    columns: &[(Oid, u32)],
) -> Result<Vec<VarBind>, SnmpError> {
    if !poller.has_bulk() {
        let mut out = Vec::new();
        for (column, _) in columns {
            out.extend(poller.walk(column).await?);
        }
        return Ok(out);
    }
    // One row of everything: which columns exist, and their first instance.
    let starts: Vec<(Oid, Oid)> = columns
        .iter()
        .map(|(c, _)| (c.clone(), c.clone()))
        .collect();
    let (mut out, open) = bulk_round(poller, starts, 1).await?;
    // The rest, grouped by expected size, the groups side by side.
    let mut groups: std::collections::BTreeMap<u32, Vec<(Oid, Oid)>> = Default::default();
    for (column, cursor) in open {
        let rows = columns
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, r)| *r)
            .unwrap_or(1);
        groups
            .entry(rows.max(1))
            .or_default()
            .push((column, cursor));
    }
    let reads = groups
        .into_iter()
        .map(|(rows, active)| continue_columns(poller, active, rows));
    for result in futures::future::join_all(reads).await {
        out.extend(result?);
    }
    Ok(out)
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
        active = open;
    }
    Ok(out)
}

/// One GETBULK over the cursors: the instances that belong to their column,
/// and the columns that may have more. A response that is too big is asked
/// again with fewer rows, or fewer columns.
async fn bulk_round<P: Poller>(
    poller: &P,
    active: Vec<(Oid, Oid)>,
    max_repetitions: u32,
) -> Result<(Vec<VarBind>, Vec<(Oid, Oid)>), SnmpError> {
    let mut pending = vec![(active, max_repetitions.max(1))];
    let mut out = Vec::new();
    let mut open = Vec::new();
    while let Some((mut active, repetitions)) = pending.pop() {
        let cursors: Vec<Oid> = active.iter().map(|(_, cursor)| cursor.clone()).collect();
        let response = match poller.get_bulk(&cursors, repetitions).await {
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
            // A column is open while every row asked came back inside it.
            if !finished[c] && rows_seen[c] > 0 {
                open.push(entry);
            }
        }
    }
    Ok((out, open))
}
