//! The numbered decisions are stated once, in the project's `spec-notes/recovery.md`, and published with the crate
//! in `notes/recovery.md` (`nvme_ccr::notes::recovery`: a packaged crate cannot reach `spec-notes/`). This test keeps
//! the two decision tables identical, so a decision changed in one file cannot silently differ in the other (the
//! crate's copy had lost decisions 29 to 31 and still stated the old decision 26).

use std::path::Path;

/// The rows of the table under the heading that starts with `heading`.
fn decisions(text: &str, heading: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.starts_with(heading)).unwrap_or_else(|| panic!("no heading {heading:?}"));
    lines[at..]
        .iter()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn the_crates_decision_table_is_the_projects() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let project = decisions(&read(&root.join("../spec-notes/recovery.md")), "## Decisions where");
    let crate_notes = decisions(&read(&root.join("notes/recovery.md")), "## Decisions where");
    assert!(project.len() > 30, "{} rows", project.len());
    for (i, (p, c)) in project.iter().zip(&crate_notes).enumerate() {
        assert_eq!(
            c, p,
            "row {i} differs: copy spec-notes/recovery.md's decisions table into nvme-ccr/notes/recovery.md"
        );
    }
    assert_eq!(crate_notes.len(), project.len(), "the tables have different numbers of rows");
}
