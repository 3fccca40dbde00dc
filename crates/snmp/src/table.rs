//! Reading several table columns at once: one GETBULK carries every column
//! still being read, so a table of N columns costs about as many round trips
//! as one column (net-snmp's `snmptable` does the same).

use crate::{Oid, Poller, SnmpError, VarBind};

/// Every instance of each column, in column order. Columns are read side by
/// side with GETBULK (`max_repetitions` rows per round); on SNMPv1 each is
/// walked. A response that is too big is retried with fewer rows.
pub async fn read_columns<P: Poller>(
    poller: &P,
    columns: &[Oid],
    max_repetitions: u32,
) -> Result<Vec<VarBind>, SnmpError> {
    let mut out = Vec::new();
    if !poller.has_bulk() {
        for column in columns {
            out.extend(poller.walk(column).await?);
        }
        return Ok(out);
    }
    // (column, cursor) of the columns not finished yet.
    let mut active: Vec<(Oid, Oid)> = columns.iter().map(|c| (c.clone(), c.clone())).collect();
    let mut repetitions = max_repetitions.max(1);
    while !active.is_empty() {
        let cursors: Vec<Oid> = active.iter().map(|(_, cursor)| cursor.clone()).collect();
        let response = match poller.get_bulk(&cursors, repetitions).await {
            Ok(r) => r,
            Err(SnmpError::TooBig { .. }) if repetitions > 1 => {
                repetitions /= 2;
                continue;
            }
            Err(e) => return Err(e),
        };
        if response.is_empty() {
            break;
        }
        let n = active.len();
        let mut finished = vec![false; n];
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
            out.push(vb);
        }
        let mut c = 0;
        active.retain(|_| {
            let keep = !finished[c];
            c += 1;
            keep
        });
    }
    Ok(out)
}
