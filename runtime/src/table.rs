//! Plain-text tables for the commands that list things (`rtprelay stream
//! list`, `rtprelay clients`): a header row and aligned columns, numbers
//! to the right.

/// A table being built.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers).
    right: Vec<bool>,
}

impl Table {
    /// A table with these column titles; `right` marks the numeric ones.
    pub fn new(titles: &[(&str, bool)]) -> Self {
        Table {
            rows: vec![titles.iter().map(|(t, _)| (*t).to_owned()).collect()],
            right: titles.iter().map(|(_, r)| *r).collect(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.right.len());
        self.rows.push(cells);
    }

    /// Whether it has no rows besides the titles.
    pub fn is_empty(&self) -> bool {
        self.rows.len() == 1
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let widths: Vec<usize> =
            (0..self.right.len()).map(|c| self.rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .zip(&self.right)
                .map(|((cell, &w), &right)| if right { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let mut t = Table::new(&[("LIVE ID", false), ("PACKETS", true), ("PUBLISHER", false)]);
        assert!(t.is_empty());
        t.row(vec!["cam1".into(), "7".into(), "-".into()]);
        t.row(vec!["a-long-id".into(), "12345".into(), "127.0.0.1:5000".into()]);
        assert_eq!(
            t.to_string(),
            "LIVE ID    PACKETS  PUBLISHER\ncam1             7  -\na-long-id    12345  127.0.0.1:5000\n"
        );
    }
}
