//! Where each byte of an embedded SQL text came from in the host file: literal text maps byte
//! for byte, a decoded escape or an interpolation hole maps as a unit. Diagnostics, hovers and
//! code actions use it to land on the exact SQL in the host file.

/// One stretch of the SQL text and the host bytes it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    sql: usize,
    sql_len: usize,
    host: usize,
    host_len: usize,
    /// Byte-for-byte copy (else an escape or a hole: only its ends map).
    verbatim: bool,
}

/// SQL offsets → host offsets. Built in SQL order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    pieces: Vec<Piece>,
}

impl OffsetMap {
    pub(crate) fn push(
        &mut self,
        sql: usize,
        sql_len: usize,
        host: usize,
        host_len: usize,
        verbatim: bool,
    ) {
        if sql_len == 0 && host_len == 0 {
            return;
        }
        if let Some(last) = self.pieces.last_mut() {
            // Adjacent verbatim stretches merge (keeps lookups short).
            if verbatim
                && last.verbatim
                && last.sql + last.sql_len == sql
                && last.host + last.host_len == host
            {
                last.sql_len += sql_len;
                last.host_len += host_len;
                return;
            }
        }
        self.pieces.push(Piece {
            sql,
            sql_len,
            host,
            host_len,
            verbatim,
        });
    }

    /// Host offset of the SQL offset `off` where something starts there.
    pub fn start(&self, off: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.sql <= off);
        if i == 0 {
            return self.pieces.first().map_or(0, |p| p.host);
        }
        let p = &self.pieces[i - 1];
        if off >= p.sql + p.sql_len {
            // Past this piece (only at the very end).
            return p.host + p.host_len;
        }
        if p.verbatim {
            p.host + (off - p.sql)
        } else {
            p.host
        }
    }

    /// Host offset of the SQL offset `off` where something ends there (just after its last
    /// byte): an end on a piece boundary stays in the earlier piece, so a statement ending
    /// before `" + "` does not stretch over it.
    pub fn end(&self, off: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.sql < off);
        if i == 0 {
            return self.pieces.first().map_or(0, |p| p.host);
        }
        let p = &self.pieces[i - 1];
        let rel = (off - p.sql).min(p.sql_len);
        if p.verbatim {
            p.host + rel.min(p.host_len)
        } else if rel == 0 {
            p.host
        } else {
            p.host + p.host_len
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `"SELECT 1\n" + "FROM t"` at host offset 10: SQL `SELECT 1⏎FROM t`.
    fn concat() -> OffsetMap {
        let mut m = OffsetMap::default();
        m.push(0, 8, 11, 8, true); // SELECT 1
        m.push(8, 1, 19, 2, false); // \n
        m.push(9, 6, 26, 6, true); // FROM t (after `" + "`)
        m
    }

    #[test]
    fn verbatim_escapes_and_boundaries() {
        let m = concat();
        assert_eq!(m.start(0), 11);
        assert_eq!(m.start(7), 18);
        assert_eq!(m.start(8), 19); // the escape
        assert_eq!(m.end(8), 19); // end of "SELECT 1": before the escape
        assert_eq!(m.end(9), 21); // after the escape
        assert_eq!(m.start(9), 26);
        assert_eq!(m.end(15), 32);
        assert_eq!(m.start(15), 32);
    }

    #[test]
    fn adjacent_verbatim_pieces_merge() {
        let mut m = OffsetMap::default();
        m.push(0, 3, 5, 3, true);
        m.push(3, 2, 8, 2, true);
        assert_eq!(m.pieces.len(), 1);
        assert_eq!(m.start(4), 9);
    }
}
