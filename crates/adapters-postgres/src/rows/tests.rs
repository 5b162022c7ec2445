//! The positional layout reads the columns the SQL selects, in the same order.

use super::*;

#[test]
fn the_layout_names_the_selected_columns_in_their_order() {
    let selected: Vec<String> = SIGNAL_COLUMNS
        .split(',')
        .map(|c| c.trim().trim_start_matches("s.").to_owned())
        .chain(
            ROW_EXTRA_COLUMNS
                .split(',')
                .filter_map(|c| c.split(" AS ").nth(1))
                .map(|alias| alias.trim().to_owned()),
        )
        .collect();
    assert_eq!(selected.len(), SIGNAL_NAMES.len());
    assert_eq!(selected, SIGNAL_NAMES);
    assert_eq!(SIGNAL_COLUMNS.split(',').count(), TABLE_COLUMNS);
}
