//! CSV formula injection (issue 13 point 5).

use super::text_cell;

#[test]
fn formula_like_cells_are_neutralised_numbers_are_not() {
    for risky in [
        "=1+1",
        "+SUM(A1)",
        "-2+3",
        "@cmd",
        "\t=1+1",
        "\r=1+1",
        "  =HYPERLINK(\"x\")",
        " \t@x",
        "\tplain",
        "\rplain",
    ] {
        assert_eq!(text_cell(risky), format!("'{risky}"), "{risky:?}");
    }
    for safe in ["PETR4", "-1.5", "+2", "Compra: 1,04", " text", ""] {
        assert_eq!(text_cell(safe), safe, "{safe:?}");
    }
}
