//! Counting nouns in messages: "1 rule", "2 rules", so no output says
//! "1 rules".

/// `n` and the noun in the form `n` needs.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular() {
        assert_eq!(super::count(1, "test", "tests"), "1 test");
        assert_eq!(super::count(0, "test", "tests"), "0 tests");
        assert_eq!(super::count(2, "entity", "entities"), "2 entities");
    }
}
