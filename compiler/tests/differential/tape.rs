//! A tape of random choices that the generators read from. Proptest shrinks
//! the tape (shorter, smaller numbers), and choice 0 is always the simplest
//! option, so a shrunk tape generates a simpler policy; a tape that runs out
//! reads zeros, so generation always terminates.

pub struct Tape<'a> {
    choices: &'a [u32],
    pos: usize,
}

impl<'a> Tape<'a> {
    pub fn new(choices: &'a [u32]) -> Self {
        Self { choices, pos: 0 }
    }

    fn next(&mut self) -> u32 {
        let choice = self.choices.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        choice
    }

    /// A number in `0..n` (0 when `n` is 0 or 1).
    pub fn pick(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.next() as usize % n
    }

    /// True `percent` times in 100; false on choice 0.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 >= 100 - percent
    }

    pub fn choose<'x, X>(&mut self, items: &'x [X]) -> &'x X {
        &items[self.pick(items.len())]
    }
}
