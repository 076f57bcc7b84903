//! A strict reader for numeric CSV tables on top of the `csv` crate (quoting, CRLF and
//! embedded commas are its job), and a writer.
//!
//! Rules: comma separated; cells trimmed, surrounding double quotes removed; blank lines skipped;
//! the first non-blank line is a header (and skipped) when none of its cells is a number; every
//! row must have as many cells as the first row (header included); every data cell must parse as
//! a finite number. The table becomes `n × columns`.

use super::dataset::Dataset;
use super::error::DataError;
use std::path::{Path, PathBuf};

fn mem() -> PathBuf {
    PathBuf::from("<memory>")
}

/// Parses CSV bytes (UTF-8) into an `n × columns` dataset, following the module's rules.
pub fn parse_csv(bytes: &[u8]) -> Result<Dataset, DataError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(DataError::Malformed {
            path: mem(),
            reason: format!("not UTF-8 text (byte {})", e.valid_up_to()),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false) // decided below: a header is a first row without numbers
        .flexible(true) // ragged rows get our error, which names the line
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut width: Option<usize> = None;
    let mut data = Vec::new();
    let mut n = 0usize;
    for record in reader.records() {
        let record = record.map_err(|e| DataError::Malformed {
            path: mem(),
            reason: format!("CSV: {e}"),
        })?;
        // The crate's line counter does not count the blank lines it skips, and its record
        // position is where the previous record ended: skip the line breaks from there and
        // count newlines before the record's first byte (only when an error needs it).
        let line = || {
            let mut start = record.position().map_or(0, |p| p.byte() as usize);
            while matches!(bytes.get(start), Some(b'\n' | b'\r')) {
                start += 1;
            }
            bytes[..start.min(bytes.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1
        };
        let cells: Vec<&str> = record.iter().map(clean_cell).collect();
        if cells == [""] {
            continue; // a line of blanks
        }
        match width {
            None => {
                width = Some(cells.len());
                if cells.iter().all(|c| c.parse::<f64>().is_err()) {
                    continue; // header row
                }
            }
            Some(w) if w != cells.len() => {
                return Err(DataError::Ragged {
                    path: mem(),
                    line: line(),
                    expected: w,
                    found: cells.len(),
                })
            }
            Some(_) => {}
        }
        push_row(&cells, &line, n, &mut data)?;
        n += 1;
    }
    match (n, width) {
        (0, _) | (_, None) => Err(DataError::Empty { path: mem() }),
        (_, Some(w)) => Ok(Dataset {
            data,
            n,
            data_shape: vec![w],
        }),
    }
}

fn clean_cell(c: &str) -> &str {
    let c = c.trim();
    c.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .map_or(c, str::trim)
}

/// Parses one data row's cells into `out`, rejecting non-numbers and non-finite values.
fn push_row(
    cells: &[&str],
    line: &dyn Fn() -> usize,
    row: usize,
    out: &mut Vec<f32>,
) -> Result<(), DataError> {
    for (col, cell) in cells.iter().enumerate() {
        let v: f64 = cell.parse().map_err(|_| DataError::NonNumeric {
            path: mem(),
            line: line(),
            column: col + 1,
            cell: (*cell).to_string(),
        })?;
        let f = v as f32;
        if !f.is_finite() {
            return Err(DataError::NonFinite {
                path: mem(),
                row,
                column: col,
                line: Some(line()),
                value: v,
            });
        }
        out.push(f);
    }
    Ok(())
}

/// CSV text of `ds` with a header `x0,x1,…` and one row per sample; values use Rust's shortest
/// round-trip formatting, so [`parse_csv`] reads back the identical f32 values (the row shape
/// is flattened to one dimension).
pub fn to_csv_string(ds: &Dataset) -> String {
    let d = ds.dim();
    let header: Vec<String> = (0..d).map(|k| format!("x{k}")).collect();
    let mut out = header.join(",");
    out.push('\n');
    for row in ds.data.chunks_exact(d.max(1)) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Writes `ds` as CSV (see [`to_csv_string`]).
pub fn write_csv(path: impl AsRef<Path>, ds: &Dataset) -> Result<(), DataError> {
    let path = path.as_ref();
    std::fs::write(path, to_csv_string(ds)).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::Toy;

    #[test]
    fn header_blank_lines_quotes_crlf() {
        let ds = parse_csv(b"x,y\r\n\r\n1,2\r\n \"3.5\" , -4e1\n\n").unwrap();
        assert_eq!((ds.n, ds.data_shape.clone()), (2, vec![2]));
        assert_eq!(ds.data, vec![1.0, 2.0, 3.5, -40.0]);
        let ds = parse_csv(b"1\n2\n3").unwrap();
        assert_eq!((ds.n, ds.data_shape), (3, vec![1]));
    }

    #[test]
    fn quoted_cells_keep_their_commas() {
        // A quoted header cell with a comma is one cell (splitting on ',' made it two).
        let ds = parse_csv(b"\"x, first\",y\n1,2\n").unwrap();
        assert_eq!(
            (ds.n, ds.data_shape.clone(), ds.data),
            (1, vec![2], vec![1.0, 2.0])
        );
        let e = parse_csv(b"1,2\n\"3,4\",5\n").unwrap_err();
        assert!(
            matches!(
                e,
                DataError::NonNumeric {
                    line: 2,
                    column: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn round_trip_exact() {
        let ds = Toy::TwoMoons.dataset(50, 4);
        assert_eq!(parse_csv(to_csv_string(&ds).as_bytes()).unwrap(), ds);
    }

    #[test]
    fn errors_name_line_and_column() {
        match parse_csv(b"a,b\n1,2\n\n3\n").unwrap_err() {
            DataError::Ragged {
                line,
                expected,
                found,
                ..
            } => assert_eq!((line, expected, found), (4, 2, 1)),
            e => panic!("{e}"),
        }
        let e = parse_csv(b"1,2\n3,oops\n").unwrap_err();
        assert!(e.to_string().contains("line 2, column 2"), "{e}");
        assert!(matches!(
            e,
            DataError::NonNumeric {
                line: 2,
                column: 2,
                ..
            }
        ));
        match parse_csv(b"1,2\n3,4\nnan,1\n").unwrap_err() {
            DataError::NonFinite { row, line, .. } => assert_eq!((row, line), (2, Some(3))),
            e => panic!("{e}"),
        }
        assert!(matches!(
            parse_csv(b"1e39\n").unwrap_err(),
            DataError::NonFinite { .. }
        ));
        assert!(matches!(
            parse_csv(b"x,y\n\n").unwrap_err(),
            DataError::Empty { .. }
        ));
        assert!(matches!(
            parse_csv(b"\n \n").unwrap_err(),
            DataError::Empty { .. }
        ));
        assert!(matches!(
            parse_csv(b"1,2,\n").unwrap_err(),
            DataError::NonNumeric { column: 3, .. }
        ));
        assert!(matches!(
            parse_csv(&[0xff, 0xfe]).unwrap_err(),
            DataError::Malformed { .. }
        ));
    }
}
