//! "Did you mean" suggestions for misspelled names.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = name.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let distance = strsim::damerau_levenshtein(&lowered, &c.to_lowercase());
            (distance, c)
        })
        .filter(|(distance, c)| {
            let longest = name.chars().count().max(c.chars().count());
            // One edit in short names, about a third of the letters in long ones.
            *distance <= (longest / 3).max(1)
        })
        .min_by(|(da, a), (db, b)| da.cmp(db).then(a.cmp(b)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn close_names_are_suggested() {
        let names = ["department", "clearance", "email"];
        assert_eq!(did_you_mean("departmnt", names), Some("department"));
        assert_eq!(did_you_mean("Email", names), Some("email"));
        assert_eq!(did_you_mean("zzz", names), None);
    }
}
