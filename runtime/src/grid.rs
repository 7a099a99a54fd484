//! A table of `u32`s indexed by two ids — (action, resource type) to index
//! bucket, (attribute table, entity type) to attribute slot. Dense while
//! that is small, so lookups on the hot path are one multiply and one load;
//! sparse once the product of the two counts is large, because nothing
//! bounds those counts in a bundle and a dense table of 100,000 actions ×
//! 100,000 types would not fit in memory.

use rustc_hash::FxHashMap;

/// Most cells a dense grid may have (4 MiB of `u32`s).
const MAX_DENSE_CELLS: usize = 1 << 20;
const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) enum Grid {
    Dense { columns: usize, cells: Box<[u32]> },
    Sparse(FxHashMap<(u32, u32), u32>),
}

impl Grid {
    /// A `rows × columns` grid holding `cells` as `(row, column, value)`;
    /// a later cell for the same place wins, and cells outside the grid or
    /// holding `u32::MAX` are dropped.
    pub(crate) fn new(
        rows: usize,
        columns: usize,
        cells: impl IntoIterator<Item = (u32, u32, u32)>,
    ) -> Grid {
        let inside = move |&(row, column, value): &(u32, u32, u32)| {
            (row as usize) < rows && (column as usize) < columns && value != EMPTY
        };
        match rows.checked_mul(columns) {
            Some(size) if size <= MAX_DENSE_CELLS => {
                let mut dense = vec![EMPTY; size].into_boxed_slice();
                for (row, column, value) in cells.into_iter().filter(inside) {
                    dense[row as usize * columns + column as usize] = value;
                }
                Grid::Dense {
                    columns,
                    cells: dense,
                }
            }
            _ => Grid::Sparse(
                cells
                    .into_iter()
                    .filter(inside)
                    .map(|(row, column, value)| ((row, column), value))
                    .collect(),
            ),
        }
    }

    #[inline]
    pub(crate) fn get(&self, row: u32, column: u32) -> Option<u32> {
        let value = match self {
            Grid::Dense { columns, cells } => {
                if column as usize >= *columns {
                    return None;
                }
                // No overflow: `columns` ≤ MAX_DENSE_CELLS, far below 2^32.
                *cells.get(row as usize * *columns + column as usize)?
            }
            Grid::Sparse(cells) => sparse_get(cells, row, column)?,
        };
        (value != EMPTY).then_some(value)
    }
}

/// Out of line: only huge bundles take this path, and keeping it out of
/// `get` keeps the dense lookup small enough to inline everywhere.
#[cold]
#[inline(never)]
fn sparse_get(cells: &FxHashMap<(u32, u32), u32>, row: u32, column: u32) -> Option<u32> {
    cells.get(&(row, column)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_grids_answer_alike() {
        let cells = [(0, 0, 7), (2, 1, 9), (2, 1, 10), (5, 0, 1), (1, 3, 4)];
        let dense = Grid::new(3, 2, cells);
        let sparse = Grid::new(3, MAX_DENSE_CELLS, cells);
        assert!(matches!(dense, Grid::Dense { .. }));
        assert!(matches!(sparse, Grid::Sparse(_)));
        assert_eq!(dense.get(0, 0), Some(7));
        assert_eq!(sparse.get(0, 0), Some(7));
        assert_eq!(dense.get(2, 1), Some(10), "a later cell wins");
        assert_eq!(sparse.get(2, 1), Some(10), "a later cell wins");
        for grid in [&dense, &sparse] {
            assert_eq!(grid.get(1, 0), None);
            assert_eq!(grid.get(5, 0), None, "row outside the grid");
            assert_eq!(grid.get(u32::MAX, u32::MAX), None);
        }
        assert_eq!(dense.get(1, 3), None, "column outside the grid");
    }

    #[test]
    fn a_huge_grid_costs_only_its_cells() {
        let grid = Grid::new(100_000, 100_000, [(99_999, 99_999, 3)]);
        assert_eq!(grid.get(99_999, 99_999), Some(3));
        assert_eq!(grid.get(0, 0), None);
    }
}
